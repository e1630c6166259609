// The aggregator's keys, generated inside the enclave at boot; private halves never leave it.
// Three keys for three protocols (never one key for two): CurveZMQ (control channel), HPKE
// (uploads), Ed25519 (round results).
#pragma once

#include "common/crypto/crypto.h"

namespace cairn::aggregator {

struct EnclaveKeys {
  crypto::X25519KeyPair curve;
  crypto::X25519KeyPair hpke;
  crypto::Ed25519KeyPair signing;

  static Result<EnclaveKeys> Generate();
};

}  // namespace cairn::aggregator
