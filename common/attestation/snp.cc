// AMD SEV-SNP report verification.
#include "common/attestation/internal.h"

namespace cairn::attestation::internal {

Verdict VerifySevSnp(const Evidence&, const Policy& policy, const VerifyOptions&) {
  Verdict v;
  Checks checks(v);
  CheckPlatformAllowed(Platform::kSevSnp, policy, checks);
  checks.Add("report-format", false, "SEV-SNP verification is not implemented in this build yet");
  return v;
}

}  // namespace cairn::attestation::internal
