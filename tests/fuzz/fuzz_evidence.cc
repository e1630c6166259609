// fuzz_evidence_snp / fuzz_evidence_tdx / fuzz_evidence_sim: attestation::VerifyEvidence on
// evidence built from the fuzz input (layout: fuzz_util.h, EvidenceFrame), with a permissive
// policy that trusts the frame's root, so every check that can run does. For sim the frame's 32
// leading bytes are the pinned platform key instead of a root fingerprint.
//
// Properties checked beyond "no crash, no sanitizer report":
// - VerifyEvidence returns an Error only for an empty report (documented contract);
// - an accepted verdict has every check passed and no failure text, a rejected one names a
//   failed check;
// - the verdict's platform is the evidence's.
// The same build compiles this file three times with CAIRN_FUZZ_PLATFORM set to the platform.
#include <cstddef>
#include <cstdint>

#include "common/attestation/attestation.h"
#include "tests/fuzz/fuzz_util.h"

#ifndef CAIRN_FUZZ_PLATFORM
#error "define CAIRN_FUZZ_PLATFORM (kSim, kSevSnp or kTdx)"
#endif

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr auto kPlatform = attestation::Platform::CAIRN_FUZZ_PLATFORM;
  fuzz::EvidenceFrame frame = fuzz::DecodeEvidenceFrame(ByteSpan(data, size), kPlatform);
  attestation::Policy policy = fuzz::PermissivePolicy(kPlatform, frame.root);
  if (kPlatform == attestation::Platform::kSim) {
    policy.extra_roots.clear();
    policy.sim.platform_key = frame.root;
  }
  attestation::VerifyOptions options;
  options.at = fuzz::FuzzInstant();

  auto verdict = attestation::VerifyEvidence(frame.evidence, policy, options);
  if (!verdict) {
    fuzz::FuzzCheck(frame.evidence.report.empty(), "VerifyEvidence returned an Error for a non-empty report");
    return 0;
  }
  fuzz::FuzzCheck(verdict->platform == kPlatform, "verdict names another platform");
  bool all_ok = !verdict->checks.empty();
  for (const auto& c : verdict->checks) all_ok = all_ok && c.ok;
  if (verdict->accepted) {
    fuzz::FuzzCheck(all_ok, "accepted verdict with a failed check");
    fuzz::FuzzCheck(verdict->FirstFailure().empty(), "accepted verdict names a failure");
  } else {
    fuzz::FuzzCheck(!verdict->FirstFailure().empty(), "rejected verdict names no failed check");
  }
  return 0;
}
