// Intel TDX quote verification.
#include "common/attestation/internal.h"

namespace cairn::attestation::internal {

Verdict VerifyTdx(const Evidence&, const Policy& policy, const VerifyOptions&) {
  Verdict v;
  Checks checks(v);
  CheckPlatformAllowed(Platform::kTdx, policy, checks);
  checks.Add("report-format", false, "TDX verification is not implemented in this build yet");
  return v;
}

}  // namespace cairn::attestation::internal
