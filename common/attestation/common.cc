// Platform names, shared check helpers, time parsing, pinned roots and the verification entry.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <sodium.h>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"

namespace cairn::attestation {

std::string_view PlatformName(Platform platform) {
  switch (platform) {
    case Platform::kSim: return "sim";
    case Platform::kSevSnp: return "sev-snp";
    case Platform::kTdx: return "tdx";
  }
  return "unknown";
}

Result<Platform> ParsePlatform(std::string_view name) {
  if (name == "sim") return Platform::kSim;
  if (name == "sev-snp") return Platform::kSevSnp;
  if (name == "tdx") return Platform::kTdx;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown platform \"" + std::string(name) + "\" (expected sev-snp, tdx or sim)");
}

std::string Verdict::FirstFailure() const {
  for (const auto& c : checks) {
    if (!c.ok) return c.name + ": " + c.detail;
  }
  return "";
}

const std::vector<PinnedRoot>& BuiltinRoots() {
  // SHA-256 of the DER certificates. AMD: ARKs from https://kdsintf.amd.com/vcek/v1/<product>/
  // cert_chain; Intel: the SGX Root CA from https://certificates.trustedservices.intel.com/.
  // tests/attestation cross-check each against the copies in ../shared/attestation-vectors.
  static const std::vector<PinnedRoot> kRoots = [] {
    auto fp = [](std::string_view hex) {
      Sha256Fingerprint f{};
      auto b = HexDecode(hex);
      if (b && b->size() == f.size()) std::copy(b->begin(), b->end(), f.begin());
      return f;
    };
    return std::vector<PinnedRoot>{
        {"AMD ARK Milan", Platform::kSevSnp, fp("69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd")},
        {"AMD ARK Genoa", Platform::kSevSnp, fp("4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1")},
        {"AMD ARK Turin", Platform::kSevSnp, fp("1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a")},
        {"Intel SGX Root CA", Platform::kTdx, fp("44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3")},
    };
  }();
  return kRoots;
}

namespace {

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<Clock::WallTime> ParseRfc3339(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument, "time \"" + std::string(text) + "\" is not RFC 3339 (" +
                                                 std::string(why) +
                                                 "); example: 2024-01-01T00:00:00Z");
  };
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return bad("date must be YYYY-MM-DD");
  int year = 0, month = 0, day = 0;
  if (!ParseInt(text.substr(0, 4), year) || !ParseInt(text.substr(5, 2), month) ||
      !ParseInt(text.substr(8, 2), day)) {
    return bad("date must be YYYY-MM-DD");
  }
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                  std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return bad("no such date");
  // Clock::WallTime counts nanoseconds in an int64 (years 1678..2262).
  if (year < 1900 || year >= 2200) return bad("year outside 1900..2199");
  std::int64_t seconds = std::chrono::sys_days(ymd).time_since_epoch().count() * 86400LL;
  std::int64_t nanos = 0;
  std::string_view rest = text.substr(10);
  if (!rest.empty()) {
    if (rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ') return bad("expected 'T' after the date");
    if (rest.size() < 9 || rest[3] != ':' || rest[6] != ':') return bad("time must be HH:MM:SS");
    int h = 0, m = 0, sec = 0;
    if (!ParseInt(rest.substr(1, 2), h) || !ParseInt(rest.substr(4, 2), m) ||
        !ParseInt(rest.substr(7, 2), sec) || h > 23 || m > 59 || sec > 60) {
      return bad("time must be HH:MM:SS");
    }
    seconds += h * 3600 + m * 60 + sec;
    rest = rest.substr(9);
    if (!rest.empty() && rest[0] == '.') {
      std::size_t i = 1;
      std::int64_t scale = 100'000'000;
      while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
        nanos += (rest[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
      if (i == 1) return bad("empty fraction of a second");
      rest = rest.substr(i);
    }
    if (rest == "Z" || rest == "z") {
      // UTC
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
      int oh = 0, om = 0;
      if (!ParseInt(rest.substr(1, 2), oh) || !ParseInt(rest.substr(4, 2), om) || oh > 23 || om > 59) {
        return bad("bad UTC offset");
      }
      std::int64_t off = oh * 3600 + om * 60;
      seconds += rest[0] == '+' ? -off : off;
    } else {
      return bad("expected 'Z' or a UTC offset such as +01:00");
    }
  }
  return Clock::WallTime(std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos));
}

std::string FormatRfc3339(Clock::WallTime t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto days = std::chrono::floor<std::chrono::days>(secs);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{secs - days};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Bytes DecodeBinaryOrHex(ByteSpan data) {
  std::string hex;
  hex.reserve(data.size());
  std::size_t i = 0;
  while (i < data.size() && std::isspace(data[i])) ++i;
  if (i + 1 < data.size() && data[i] == '0' && (data[i + 1] == 'x' || data[i + 1] == 'X')) i += 2;
  for (; i < data.size(); ++i) {
    const char c = static_cast<char>(data[i]);
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return Bytes(data.begin(), data.end());
    hex.push_back(c);
  }
  if (hex.empty() || hex.size() % 2 != 0) return Bytes(data.begin(), data.end());
  auto decoded = HexDecode(hex);
  return decoded ? *decoded : Bytes(data.begin(), data.end());
}

namespace internal {

Status EnsureSodium() {
  if (sodium_init() < 0) return Fail(ErrorCode::kInternal, "sodium_init failed");
  return Ok();
}

std::string HexList(const std::vector<Bytes>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size() && i < 4; ++i) {
    out += (i ? ", " : "") + HexEncode(values[i]);
  }
  if (values.size() > 4) out += ", … (" + std::to_string(values.size()) + " in all)";
  return out;
}

bool OneOf(ByteSpan value, const std::vector<Bytes>& allowed) {
  if (allowed.empty()) return true;
  for (const auto& a : allowed) {
    if (a.size() == value.size() && std::equal(a.begin(), a.end(), value.begin())) return true;
  }
  return false;
}

void CheckPlatformAllowed(Platform platform, const Policy& policy, Checks& checks) {
  bool ok = std::find(policy.platforms.begin(), policy.platforms.end(), platform) !=
            policy.platforms.end();
  std::string listed;
  for (auto p : policy.platforms) listed += (listed.empty() ? "" : ", ") + std::string(PlatformName(p));
  checks.Add("platform-allowed", ok,
             "evidence platform " + std::string(PlatformName(platform)) +
                 (ok ? " is listed" : " is not listed") + " in the policy's platforms [" + listed + "]");
}

void CheckReportData(const ReportData& actual, const VerifyOptions& options, Checks& checks) {
  if (!options.expected_report_data) {
    checks.Warn("no expected REPORT_DATA given: the evidence is not bound to a nonce or keys, so "
                "it may be a replay");
    return;
  }
  bool ok = *options.expected_report_data == actual;
  checks.Add("report-data", ok,
             ok ? "REPORT_DATA equals the expected value"
                : "REPORT_DATA " + HexEncode(actual) + " differs from the expected " +
                      HexEncode(*options.expected_report_data));
}

void CheckMeasurement(std::string_view check_name, std::string_view policy_key, ByteSpan actual,
                      const std::vector<Bytes>& allowed, Checks& checks) {
  if (allowed.empty()) {
    checks.Add(std::string(check_name), true,
               HexEncode(actual) + " (any value accepted: " + std::string(policy_key) + " is empty)");
    checks.Warn("no measurement pinned (" + std::string(policy_key) +
                " is empty): any code is accepted on this platform");
    return;
  }
  bool ok = OneOf(actual, allowed);
  checks.Add(std::string(check_name), ok,
             HexEncode(actual) + (ok ? " is" : " is not") + " one of the " +
                 std::to_string(allowed.size()) + " allowed in " + std::string(policy_key));
}

bool IsPinnedRoot(const Sha256Fingerprint& fp, const Policy& policy, Platform platform, std::string* name) {
  if (policy.use_builtin_roots) {
    for (const auto& r : BuiltinRoots()) {
      if (r.fingerprint == fp && r.platform == platform) {
        if (name) *name = std::string(r.name);
        return true;
      }
    }
  }
  for (std::size_t i = 0; i < policy.extra_roots.size(); ++i) {
    if (policy.extra_roots[i] == fp) {
      if (name) *name = "policy extra_roots[" + std::to_string(i) + "]";
      return true;
    }
  }
  return false;
}

}  // namespace internal

Result<Verdict> VerifyEvidence(const Evidence& evidence, const Policy& policy,
                               const VerifyOptions& options) {
  if (evidence.report.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the evidence has an empty report: nothing to verify");
  }
  Verdict v;
  switch (evidence.platform) {
    case Platform::kSim: v = internal::VerifySim(evidence, policy, options); break;
    case Platform::kSevSnp: v = internal::VerifySevSnp(evidence, policy, options); break;
    case Platform::kTdx: v = internal::VerifyTdx(evidence, policy, options); break;
  }
  v.platform = evidence.platform;
  v.accepted = !v.checks.empty() &&
               std::all_of(v.checks.begin(), v.checks.end(), [](const Check& c) { return c.ok; });
  return v;
}

}  // namespace cairn::attestation
