#include "aggregator/participant_attestation.h"

#include <algorithm>

#include "common/crypto/crypto.h"
#include "protocol/evidence_bundle.h"
#include "protocol/sealing.h"

namespace cairn::aggregator {

Result<std::unique_ptr<ParticipantAttestation>> ParticipantAttestation::Create(std::string_view policy_text,
                                                                               std::string source) {
  auto policy = attestation::ParsePolicy(policy_text, source);
  if (!policy) {
    return Fail(policy.error().code(), "[participant_attestation]: " + policy.error().message());
  }
  return std::unique_ptr<ParticipantAttestation>(new ParticipantAttestation(std::move(*policy)));
}

Bytes ParticipantAttestation::IssueChallenge(Clock::TimePoint now) {
  while (!outstanding_.empty() && (outstanding_.front().expires <= now || outstanding_.size() >= kMaxOutstanding)) {
    outstanding_.pop_front();
  }
  Bytes challenge = crypto::RandomBytes(kChallengeBytes);
  outstanding_.push_back({challenge, now + kChallengeLifetime});
  return challenge;
}

Status ParticipantAttestation::Check(const protocol::Hello& hello, const protocol::Key32& curve_key,
                                     const crypto::Sha256Digest& config_hash, Clock::TimePoint now,
                                     Clock::WallTime wall_now) {
  if (!hello.mutual_evidence) {
    return Fail(ErrorCode::kPermissionDenied,
                "this federation requires mutual attestation: the participant presented no evidence "
                "(run it in a TEE with --attestation)");
  }
  if (hello.challenge.size() != kChallengeBytes) {
    return Fail(ErrorCode::kPermissionDenied, "mutual attestation: the hello carries no 32-byte challenge");
  }
  auto it = std::find_if(outstanding_.begin(), outstanding_.end(), [&](const Outstanding& o) {
    return crypto::ConstantTimeEqual(o.challenge, hello.challenge);
  });
  if (it == outstanding_.end() || it->expires <= now) {
    if (it != outstanding_.end()) outstanding_.erase(it);
    return Fail(ErrorCode::kPermissionDenied,
                "mutual attestation: the challenge is unknown, already used or expired (evidence must be fresh)");
  }
  outstanding_.erase(it);  // single use, whatever the verdict
  std::array<std::uint8_t, kChallengeBytes> challenge{};
  std::copy(hello.challenge.begin(), hello.challenge.end(), challenge.begin());
  attestation::VerifyOptions vo;
  vo.at = wall_now;
  vo.expected_report_data = protocol::ComputeParticipantReportData(challenge, curve_key, config_hash);
  CAIRN_ASSIGN_OR_RETURN(attestation::Verdict verdict,
                         attestation::VerifyEvidence(protocol::ToAttestationEvidence(*hello.mutual_evidence), policy_, vo));
  if (!verdict.accepted) {
    return Fail(ErrorCode::kPermissionDenied,
                "mutual attestation: the participant's evidence was refused: " + verdict.FirstFailure());
  }
  return Ok();
}

}  // namespace cairn::aggregator
