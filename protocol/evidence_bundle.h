// Conversions between the protocol's evidence bundle and common/attestation's Evidence (the same
// fields; the protocol keeps its own value type so the codec does not depend on the verifiers).
#pragma once

#include "common/attestation/attestation.h"
#include "protocol/types.h"

namespace cairn::protocol {

inline attestation::Evidence ToAttestationEvidence(const EvidenceBundle& b) {
  attestation::Evidence e;
  e.platform = b.platform == Platform::kSevSnp ? attestation::Platform::kSevSnp
               : b.platform == Platform::kTdx  ? attestation::Platform::kTdx
                                               : attestation::Platform::kSim;
  e.report = b.report;
  e.certificates = b.certificates;
  e.collateral = b.collateral;
  return e;
}

inline EvidenceBundle ToProtocolEvidence(const attestation::Evidence& e) {
  EvidenceBundle b;
  b.platform = e.platform == attestation::Platform::kSevSnp ? Platform::kSevSnp
               : e.platform == attestation::Platform::kTdx  ? Platform::kTdx
                                                             : Platform::kSim;
  b.report = e.report;
  b.certificates = e.certificates;
  b.collateral = e.collateral;
  return b;
}

}  // namespace cairn::protocol
