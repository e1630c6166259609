// A participant's long-term CurveZMQ key pair, in a file only its owner can read.
//
// File format (text, mode 0600):
//   cairn-curve-key v1
//   public <40 Z85 characters>
//   secret <40 Z85 characters>
#pragma once

#include <filesystem>
#include <string>

#include "common/crypto/crypto.h"
#include "common/net/net.h"

namespace cairn::participant {

struct CurveKeyPair {
  net::CurveKey public_key{};
  crypto::SecretBytes secret_key;  // 32 bytes
};

// Generates a key pair and writes it (mode 0600); refuses to overwrite an existing file.
// Returns the public key in Z85 for the federation roster.
Result<std::string> GenerateKeyFile(const std::filesystem::path& path);
// Loads a key file; refuses a file that others can read (mode must not grant group/other access).
Result<CurveKeyPair> LoadKeyFile(const std::filesystem::path& path);

}  // namespace cairn::participant
