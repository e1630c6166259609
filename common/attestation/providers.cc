// Evidence provider selection.
#include "common/attestation/attestation.h"
#include "common/attestation/providers_internal.h"

namespace cairn::attestation {

Result<std::unique_ptr<EvidenceProvider>> MakeEvidenceProvider(std::string_view kind,
                                                               const ProviderOptions& options) {
  if (kind == "sim") return internal::MakeSimProvider(options);
  if (kind == "sev-snp" || kind == "tdx" || kind == "auto") {
    return Fail(ErrorCode::kUnimplemented,
                "attestation provider \"" + std::string(kind) + "\" is not available in this build yet");
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown attestation provider \"" + std::string(kind) +
                                               "\" (expected sim, sev-snp, tdx or auto)");
}

}  // namespace cairn::attestation
