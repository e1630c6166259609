// Round results: canonical signing bytes, the hash chain, signatures and the JSON-lines form.
//
// The signed bytes are a fixed, length-prefixed encoding of every field but the signature and
// the (unsigned) download handle, so a verifier can recompute them from the wire message or from
// a results.jsonl line alike. The chain: result r carries prev_hash = ResultHash(result r-1).
#pragma once

#include <string>

#include "common/core/error.h"
#include "common/crypto/crypto.h"
#include "protocol/types.h"

namespace cairn::protocol {

Bytes SigningBytes(const RoundResult& result);
void SignResult(RoundResult& result, const crypto::Ed25519KeyPair& key);
// kUnauthenticated with a message naming the round when the signature does not verify.
Status VerifyResultSignature(const RoundResult& result, const crypto::Ed25519PublicKey& key);
// SHA-256(signing bytes ‖ signature): what the next result's prev_hash must equal.
crypto::Sha256Digest ResultHash(const RoundResult& result);

// One JSON object per line; all binary fields in hex. FromJson validates types and sizes.
std::string ResultToJson(const RoundResult& result);
Result<RoundResult> ResultFromJson(std::string_view line);

}  // namespace cairn::protocol
