#include "participant/verify_evidence_command.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "common/attestation/attestation.h"
#include "common/core/file.h"

namespace cairn::participant {
namespace {

namespace att = attestation;

constexpr int kAccept = 0;
constexpr int kReject = 1;
constexpr int kUsage = 2;

// Which platform a report is, from its first bytes: the sim magic, a TDX quote header (version 4 or
// 5, TEE type 0x81), or an SNP report (1184 bytes, version 2..5).
std::optional<att::Platform> DetectPlatform(ByteSpan r) {
  if (r.size() >= 8 && std::memcmp(r.data(), "CAIRNSIM", 8) == 0) return att::Platform::kSim;
  if (r.size() >= 8) {
    const unsigned version16 = r[0] | (r[1] << 8);
    const unsigned key_type = r[2] | (r[3] << 8);
    const unsigned tee = r[4] | (r[5] << 8) | (r[6] << 16) | (static_cast<unsigned>(r[7]) << 24);
    // The attestation key type (2 = ECDSA P-256) too: an SNP report's bytes 4..7 are GUEST_SVN,
    // which may well be 0x81, but its bytes 2..3 (the top of a small version) are 0.
    if ((version16 == 4 || version16 == 5) && key_type == 2 && tee == 0x81) return att::Platform::kTdx;
    const unsigned version32 = version16 | (r[2] << 16) | (static_cast<unsigned>(r[3]) << 24);
    if (r.size() == 1184 && version32 >= 2 && version32 <= 5) return att::Platform::kSevSnp;
  }
  return std::nullopt;
}

}  // namespace

int RunVerifyEvidence(const VerifyEvidenceArgs& args, std::ostream& out, std::ostream& err) {
  auto usage = [&](const std::string& msg) {
    err << "verify-evidence: " << msg << "\n";
    return kUsage;
  };
  if (args.report.empty()) return usage("--report FILE is required");
  if (args.policy.empty()) return usage("--policy FILE is required");

  auto policy = att::LoadPolicy(args.policy);
  if (!policy) return usage(policy.error().message());

  auto raw = ReadFileBytes(args.report, 4 * att::kMaxReportBytes);
  if (!raw) return usage(raw.error().message());
  att::Evidence evidence;
  evidence.report = att::DecodeBinaryOrHex(*raw);
  if (evidence.report.empty()) return usage(args.report.string() + " is empty");

  if (!args.platform.empty()) {
    auto p = att::ParsePlatform(args.platform);
    if (!p) return usage("--platform: " + p.error().message());
    evidence.platform = *p;
  } else {
    auto p = DetectPlatform(evidence.report);
    if (!p) {
      return usage("cannot tell the platform of " + args.report.string() + " (" +
                   std::to_string(evidence.report.size()) + " bytes): pass --platform sev-snp|tdx|sim");
    }
    evidence.platform = *p;
  }

  for (const auto& f : args.certs) {
    auto certs = att::ReadCertificateFile(f);
    if (!certs) return usage(certs.error().message());
    evidence.certificates.insert(evidence.certificates.end(), certs->begin(), certs->end());
  }
  if (!args.collateral.empty()) {
    auto coll = att::ReadCollateralFiles(args.collateral);
    if (!coll) return usage(coll.error().message());
    evidence.collateral = std::move(*coll);
  }

  att::VerifyOptions options;
  if (!args.at.empty()) {
    auto at = att::ParseRfc3339(args.at);
    if (!at) return usage("--at: " + at.error().message());
    options.at = *at;
  } else {
    options.at = args.clock ? args.clock->WallNow() : SystemClock().WallNow();
  }
  if (!args.expect_report_data.empty()) {
    auto rd = HexDecode(args.expect_report_data);
    if (!rd || rd->size() != 64) {
      return usage("--expect-report-data must be 128 hex digits (64 bytes), got " +
                   std::to_string(args.expect_report_data.size()) + " characters");
    }
    att::ReportData expected{};
    std::copy(rd->begin(), rd->end(), expected.begin());
    options.expected_report_data = expected;
  }

  auto verdict = att::VerifyEvidence(evidence, *policy, options);
  if (!verdict) return usage(verdict.error().message());
  const att::Verdict& v = *verdict;

  if (args.json) {
    nlohmann::json j;
    j["verdict"] = v.accepted ? "accept" : "reject";
    j["platform"] = std::string(att::PlatformName(v.platform));
    j["measurement"] = HexEncode(v.measurement);
    j["report_data"] = HexEncode(v.report_data);
    j["tcb"] = v.tcb;
    j["tcb_status"] = v.tcb_status;
    j["checks"] = nlohmann::json::array();
    for (const auto& c : v.checks) j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    out << j.dump(2) << "\n";
    for (const auto& w : v.warnings) err << "warning: " << w << "\n";
  } else {
    if (v.platform == att::Platform::kSim) {
      out << "!!! SIM ATTESTATION: NOT CONFIDENTIAL. This evidence is signed by a software key; !!!\n"
             "!!! anyone holding that key can forge it. Use sim for development only.          !!!\n";
    }
    out << "verdict      " << (v.accepted ? "ACCEPT" : "REJECT") << "\n";
    out << "platform     " << att::PlatformName(v.platform) << "\n";
    out << "measurement  " << HexEncode(v.measurement) << "\n";
    out << "report_data  " << HexEncode(v.report_data) << "\n";
    out << "tcb          " << v.tcb << "\n";
    if (!v.tcb_status.empty()) out << "tcb_status   " << v.tcb_status << "\n";
    if (!v.advisory_ids.empty()) {
      out << "advisories  ";
      for (const auto& a : v.advisory_ids) out << " " << a;
      out << "\n";
    }
    out << "verified at  " << att::FormatRfc3339(options.at) << "\n";
    out << "checks:\n";
    for (const auto& c : v.checks) {
      out << "  " << (c.ok ? "ok    " : "FAIL  ") << c.name << ": " << c.detail << "\n";
    }
    for (const auto& w : v.warnings) out << "warning: " << w << "\n";
    if (!v.accepted) out << "rejected: " << v.FirstFailure() << "\n";
  }
  return v.accepted ? kAccept : kReject;
}

}  // namespace cairn::participant
