// fuzz_policy: attestation::ParsePolicy (a participant's attestation policy, TOML) on arbitrary
// text. No property beyond "no crash, no sanitizer report, no uncaught exception".
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/attestation/attestation.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)attestation::ParsePolicy(text, "fuzz-policy.toml");
  return 0;
}
