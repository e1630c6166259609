// Factories of the individual evidence providers (MakeEvidenceProvider picks among them).
#pragma once

#include <memory>

#include "common/attestation/attestation.h"

namespace cairn::attestation::internal {

Result<std::unique_ptr<EvidenceProvider>> MakeSimProvider(const ProviderOptions& options);

}  // namespace cairn::attestation::internal
