#include "protocol/types.h"

namespace cairn::protocol {

std::size_t EncodingBytes(Encoding e) {
  switch (e) {
    case Encoding::kFloat32: return 4;
    case Encoding::kBFloat16: return 2;
    case Encoding::kFloat16: return 2;
    case Encoding::kRing32: return 4;
  }
  return 4;
}

const char* EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kFloat32: return "float32";
    case Encoding::kBFloat16: return "bfloat16";
    case Encoding::kFloat16: return "float16";
    case Encoding::kRing32: return "ring32";
  }
  return "unknown";
}

const char* RejectCodeName(RejectCode c) {
  switch (c) {
    case RejectCode::kMalformed: return "malformed";
    case RejectCode::kWrongRound: return "wrong-round";
    case RejectCode::kNotInCohort: return "not-in-cohort";
    case RejectCode::kDuplicate: return "duplicate";
    case RejectCode::kWrongShape: return "wrong-shape";
    case RejectCode::kWrongChunkCount: return "wrong-chunk-count";
    case RejectCode::kBadChunk: return "bad-chunk";
    case RejectCode::kNonFinite: return "non-finite";
    case RejectCode::kNormTooLarge: return "norm-too-large";
    case RejectCode::kOversized: return "oversized";
    case RejectCode::kLateCommit: return "late-commit";
    case RejectCode::kNoUpload: return "no-upload";
    case RejectCode::kDigestMismatch: return "digest-mismatch";
    case RejectCode::kVersionMismatch: return "version-mismatch";
    case RejectCode::kConfigMismatch: return "config-mismatch";
    case RejectCode::kRollback: return "rollback";
    case RejectCode::kBusy: return "busy";
    case RejectCode::kAttestationFailed: return "attestation-failed";
  }
  return "unknown";
}

const char* RoundStatusName(RoundStatus s) {
  switch (s) {
    case RoundStatus::kCompleted: return "completed";
    case RoundStatus::kFailedQuorum: return "failed-quorum";
    case RoundStatus::kAborted: return "aborted";
  }
  return "unknown";
}

const char* MessageName(const Message& m) {
  static constexpr const char* kNames[] = {
      "GetEvidence", "Evidence", "Hello",     "Welcome",     "RoundOffer",
      "UploadBegin", "UploadReady", "Commit", "CommitAck",   "Rejected",
      "RoundResult", "EvalReport", "Error",   "Goodbye",     "Ping",
      "FeatureStats", "Secagg", "Analytics", "CatchUpRequest", "CatchUp"};
  static_assert(std::variant_size_v<Message> == std::size(kNames));
  return kNames[m.index()];
}

}  // namespace cairn::protocol
