// Helpers shared by the attestation verifiers (not part of the public API; tests may use them).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/attestation/attestation.h"

namespace cairn::attestation::internal {

// Little-endian reads from a buffer the caller has already bounds-checked.
inline std::uint16_t LoadLe16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t LoadLe32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t LoadLe64(const std::uint8_t* p) {
  return static_cast<std::uint64_t>(LoadLe32(p)) | (static_cast<std::uint64_t>(LoadLe32(p + 4)) << 32);
}
inline void StoreLe16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
inline void StoreLe32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void StoreLe64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

inline bool AllZero(ByteSpan b) {
  for (auto x : b) {
    if (x != 0) return false;
  }
  return true;
}

// Records checks in order. `Add` returns `ok` so callers can branch on it.
class Checks {
 public:
  explicit Checks(Verdict& v) : v_(v) {}
  bool Add(std::string name, bool ok, std::string detail) {
    v_.checks.push_back(Check{std::move(name), ok, std::move(detail)});
    return ok;
  }
  void Warn(std::string w) { v_.warnings.push_back(std::move(w)); }

 private:
  Verdict& v_;
};

// "a, b, c" of hex values, shortened for messages.
std::string HexList(const std::vector<Bytes>& values);

// Whether `value` is one of `allowed`; an empty list allows anything (the caller warns).
bool OneOf(ByteSpan value, const std::vector<Bytes>& allowed);

// Adds the "platform-allowed" check.
void CheckPlatformAllowed(Platform platform, const Policy& policy, Checks& checks);
// Adds the "report-data" check (or a warning when nothing is expected).
void CheckReportData(const ReportData& actual, const VerifyOptions& options, Checks& checks);
// Adds a "measurement" check named `check_name` against `allowed`, warning when empty.
void CheckMeasurement(std::string_view check_name, std::string_view policy_key, ByteSpan actual,
                      const std::vector<Bytes>& allowed, Checks& checks);

// Whether a fingerprint is pinned by the policy (built-in list unless disabled, plus extras).
// Sets `name` to the root's name ("AMD ARK Milan", "policy extra_roots[1]").
// A built-in root counts only for its own platform; extra_roots count for every platform.
bool IsPinnedRoot(const Sha256Fingerprint& fp, const Policy& policy, Platform platform, std::string* name);

Verdict VerifySim(const Evidence& evidence, const Policy& policy, const VerifyOptions& options);
Verdict VerifySevSnp(const Evidence& evidence, const Policy& policy, const VerifyOptions& options);
Verdict VerifyTdx(const Evidence& evidence, const Policy& policy, const VerifyOptions& options);

// The libsodium library is initialised (idempotent).
Status EnsureSodium();

}  // namespace cairn::attestation::internal
