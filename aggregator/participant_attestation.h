// Mutual attestation (issue 3): participants that run in a TEE prove it to the enclave.
//
// When the federation config has a [participant_attestation] table (an attestation policy, the
// same schema as a participant's policy file), the aggregator hands a fresh 32-byte challenge
// out with its own evidence, and each participant's Hello must carry the challenge and evidence
// whose REPORT_DATA is
//   SHA-512("cairn/attest-participant/v1" ‖ challenge ‖ participant Curve key ‖ SHA-256(config))
// (protocol::ComputeParticipantReportData). The Curve key is the one the ZAP handler
// authenticated, so evidence cannot be moved to another participant; the challenge is single-use
// and expires, so old evidence cannot be replayed.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "common/attestation/attestation.h"
#include "common/core/bytes.h"
#include "common/core/clock.h"
#include "common/core/error.h"
#include "protocol/types.h"

namespace cairn::aggregator {

class ParticipantAttestation {
 public:
  static constexpr std::size_t kChallengeBytes = 32;
  // Outstanding challenges are bounded: the attestation endpoint is unauthenticated, so anyone
  // can ask for challenges; the oldest are dropped first.
  static constexpr std::size_t kMaxOutstanding = 4096;
  static constexpr std::chrono::seconds kChallengeLifetime{300};

  // `policy_text`: the [participant_attestation] table as TOML; `source`: for error messages.
  static Result<std::unique_ptr<ParticipantAttestation>> Create(std::string_view policy_text,
                                                                std::string source);

  // A fresh challenge, remembered until it is used or expires.
  Bytes IssueChallenge(Clock::TimePoint now);

  // Checks one Hello: the challenge is outstanding (and is consumed), the evidence passes the
  // policy at `wall_now`, and its REPORT_DATA binds the challenge, `curve_key` and the config.
  // The error names the first reason (metadata only).
  Status Check(const protocol::Hello& hello, const protocol::Key32& curve_key,
               const crypto::Sha256Digest& config_hash, Clock::TimePoint now, Clock::WallTime wall_now);

  const attestation::Policy& policy() const { return policy_; }

 private:
  struct Outstanding {
    Bytes challenge;
    Clock::TimePoint expires;
  };
  explicit ParticipantAttestation(attestation::Policy policy) : policy_(std::move(policy)) {}
  attestation::Policy policy_;
  std::deque<Outstanding> outstanding_;
};

}  // namespace cairn::aggregator
