// `cairn-participant verify-evidence` logic: exit codes, raw/hex report detection, PEM/DER and
// several certificates per file, platform detection, JSON shape; on the test hierarchy and on the
// real vectors (skipped when ../shared is absent).
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "common/attestation/attestation.h"
#include "common/core/file.h"
#include "participant/verify_evidence_command.h"
#include "tests/attestation/test_pki.h"
#include "tests/attestation/test_util.h"

namespace cairn::participant {
namespace {

using attestation::testing::SnpTestPki;
using attestation::testing::TempDir;

std::string Pem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return s;
}

struct Outcome {
  int code;
  std::string out, err;
};
Outcome RunCommand(const VerifyEvidenceArgs& a) {
  std::ostringstream out, err;
  int code = RunVerifyEvidence(a, out, err);
  return {code, out.str(), err.str()};
}

class VerifyEvidenceCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pki = SnpTestPki::Get();
    evidence_ = pki.MakeEvidence();
    ASSERT_TRUE(WriteFileAtomic(dir_ / "report.bin", ByteSpan(evidence_.report)));
    ASSERT_TRUE(WriteFileAtomic(dir_ / "report.hex", std::string_view(HexEncode(evidence_.report) + "\n")));
    ASSERT_TRUE(WriteFileAtomic(dir_ / "vcek.der", ByteSpan(pki.vcek.der)));
    ASSERT_TRUE(WriteFileAtomic(dir_ / "chain.pem", std::string_view(Pem(pki.ask.cert.get()) + Pem(pki.ark.cert.get()))));
    const std::string policy = "platforms = [\"sev-snp\"]\nextra_roots = [\"" +
                               HexEncode(attestation::internal::Sha256Of(pki.ark.der)) +
                               "\"]\n[sev-snp]\nmeasurements = [\"" + std::string(96, '1') + "\"]\n";
    ASSERT_TRUE(WriteFileAtomic(dir_ / "policy.toml", std::string_view(policy)));
    args_.report = dir_ / "report.bin";
    args_.certs = {dir_ / "vcek.der", dir_ / "chain.pem"};
    args_.policy = dir_ / "policy.toml";
    args_.at = "2026-01-01T00:00:00Z";
  }
  TempDir dir_;
  attestation::Evidence evidence_;
  VerifyEvidenceArgs args_;
};

TEST_F(VerifyEvidenceCommandTest, AcceptsRawAndHexWithPlatformDetected) {
  Outcome raw = RunCommand(args_);
  EXPECT_EQ(raw.code, 0) << raw.out << raw.err;
  EXPECT_NE(raw.out.find("verdict      ACCEPT"), std::string::npos);
  EXPECT_NE(raw.out.find("platform     sev-snp"), std::string::npos);
  EXPECT_NE(raw.out.find("ok    report-signature"), std::string::npos) << raw.out;
  EXPECT_NE(raw.out.find("warning: no expected REPORT_DATA"), std::string::npos);
  args_.report = dir_ / "report.hex";
  Outcome hex = RunCommand(args_);
  EXPECT_EQ(hex.code, 0) << hex.out << hex.err;
}

// An SNP report of version 5 whose GUEST_SVN (bytes 4..7) is 0x81 starts like a TDX quote header
// (version 5, TEE type 0x81) except for the attestation key type: still detected as SEV-SNP.
TEST_F(VerifyEvidenceCommandTest, SnpReportWithGuestSvn0x81IsNotTakenForTdx) {
  Bytes r = evidence_.report;
  r[0] = 5;
  r[1] = r[2] = r[3] = 0;
  r[4] = 0x81;
  r[5] = r[6] = r[7] = 0;
  ASSERT_TRUE(WriteFileAtomic(dir_ / "svn.bin", ByteSpan(r)));
  args_.report = dir_ / "svn.bin";
  Outcome o = RunCommand(args_);
  EXPECT_EQ(o.code, 1) << o.out << o.err;  // the edited bytes break the signature
  EXPECT_NE(o.out.find("platform     sev-snp"), std::string::npos) << o.out;
}

TEST_F(VerifyEvidenceCommandTest, JsonShape) {
  args_.json = true;
  args_.expect_report_data = std::string(128, '2');
  Outcome o = RunCommand(args_);
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  auto j = nlohmann::json::parse(o.out);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"checks", "measurement", "platform", "report_data", "tcb", "tcb_status", "verdict"}));
  EXPECT_EQ(j["verdict"], "accept");
  EXPECT_EQ(j["platform"], "sev-snp");
  EXPECT_EQ(j["measurement"], std::string(96, '1'));
  EXPECT_EQ(j["report_data"], std::string(128, '2'));
  ASSERT_TRUE(j["checks"].is_array());
  for (const auto& c : j["checks"]) {
    EXPECT_TRUE(c["name"].is_string());
    EXPECT_TRUE(c["ok"].is_boolean());
    EXPECT_TRUE(c["detail"].is_string());
  }
}

TEST_F(VerifyEvidenceCommandTest, RejectIsExitOne) {
  args_.expect_report_data = std::string(128, '3');
  Outcome o = RunCommand(args_);
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.out.find("REJECT"), std::string::npos);
  EXPECT_NE(o.out.find("rejected: report-data:"), std::string::npos) << o.out;
  args_.expect_report_data.clear();
  args_.json = true;
  args_.at = "2045-01-01";
  Outcome late = RunCommand(args_);
  EXPECT_EQ(late.code, 1);
  EXPECT_EQ(nlohmann::json::parse(late.out)["verdict"], "reject");
}

TEST_F(VerifyEvidenceCommandTest, UnreadableInputOrUsageIsExitTwo) {
  auto expect2 = [&](VerifyEvidenceArgs a, const char* mention) {
    Outcome o = RunCommand(a);
    EXPECT_EQ(o.code, 2) << mention << ": " << o.out;
    EXPECT_NE(o.err.find(mention), std::string::npos) << o.err;
  };
  VerifyEvidenceArgs a = args_;
  a.report = dir_ / "missing.bin";
  expect2(a, "missing.bin");
  a = args_;
  a.policy = dir_ / "nopolicy.toml";
  expect2(a, "nopolicy.toml");
  a = args_;
  a.certs = {dir_ / "policy.toml"};
  expect2(a, "policy.toml");
  a = args_;
  a.at = "yesterday";
  expect2(a, "--at");
  a = args_;
  a.expect_report_data = "abcd";
  expect2(a, "--expect-report-data");
  a = args_;
  a.platform = "sgx";
  expect2(a, "--platform");
  ASSERT_TRUE(WriteFileAtomic(dir_ / "junk.bin", std::string_view("hello world, not a report")));
  a = args_;
  a.report = dir_ / "junk.bin";
  expect2(a, "--platform");
  a = args_;
  a.report.clear();
  expect2(a, "--report");
  a = args_;
  a.collateral = {dir_ / "policy.toml"};
  expect2(a, "policy.toml");
}

TEST_F(VerifyEvidenceCommandTest, ForcedPlatformOnTruncatedReportIsARejection) {
  Bytes cut(evidence_.report.begin(), evidence_.report.begin() + 1000);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "cut.bin", ByteSpan(cut)));
  args_.report = dir_ / "cut.bin";
  args_.platform = "sev-snp";
  Outcome o = RunCommand(args_);
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.out.find("FAIL  report-size"), std::string::npos) << o.out;
}

TEST_F(VerifyEvidenceCommandTest, SimReportPrintsLoudWarning) {
  auto key = attestation::SimPlatformKey::Generate();
  ASSERT_TRUE(key);
  attestation::ReportData rd{};
  auto report = key->MakeReport(Bytes(48, 5), rd, *attestation::ParseRfc3339("2026-01-01"));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "sim.bin", ByteSpan(*report)));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "sim.toml", std::string_view("platforms = [\"sim\"]\n[sim]\nplatform_key = \"" +
                                                                  key->public_key_hex() + "\"\n")));
  VerifyEvidenceArgs a;
  a.report = dir_ / "sim.bin";
  a.policy = dir_ / "sim.toml";
  a.at = "2026-01-01T00:01:00Z";
  Outcome o = RunCommand(a);
  EXPECT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_NE(o.out.find("NOT CONFIDENTIAL"), std::string::npos);
  EXPECT_NE(o.out.find("platform     sim"), std::string::npos);
}

// The real vectors through the command, each at its listed time.
class VerifyEvidenceVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = attestation::testing::VectorsDir();
    if (!d) GTEST_SKIP() << "../shared/attestation-vectors not found: skipping verify-evidence on real vectors";
    v_ = *d;
    ASSERT_TRUE(WriteFileAtomic(dir_ / "snp.toml", std::string_view("platforms = [\"sev-snp\"]\n")));
    ASSERT_TRUE(WriteFileAtomic(dir_ / "tdx.toml", std::string_view("platforms = [\"tdx\"]\n")));
  }
  TempDir dir_;
  std::filesystem::path v_;
};

TEST_F(VerifyEvidenceVectorsTest, EachVectorGivesItsListedVerdict) {
  struct Case {
    const char* id;
    VerifyEvidenceArgs args;
    int code;
    const char* first_failure;  // "" when accepted
  };
  auto p = [&](const char* rel) { return v_ / rel; };
  std::vector<Case> cases = {
      {"snp-gsg (debug → reject)",
       {p("sev-snp/go-sev-guest/attestation.bin"), {p("sev-snp/go-sev-guest/vcek.testcer"), p("sev-snp/go-sev-guest/ask_ark_milan.pem")},
        {}, "", dir_ / "snp.toml", "2024-01-01", "", false, nullptr},
       1, "debug:"},
      {"snp-virtee (hex)",
       {p("sev-snp/virtee-sev/report_milan.hex"), {p("sev-snp/virtee-sev/vcek_milan.der"), p("sev-snp/virtee-sev/cert_chain_milan")},
        {}, "", dir_ / "snp.toml", "2024-01-01", "", false, nullptr},
       0, ""},
      {"snp-trustee",
       {p("sev-snp/trustee/test-report.bin"), {p("sev-snp/trustee/test-vcek.der"), p("sev-snp/trustee/milan_ask_ark_asvk.pem")},
        {}, "", dir_ / "snp.toml", "2024-01-01", "", false, nullptr},
       0, ""},
      {"snp-bad-vcek",
       {p("sev-snp/trustee/test-report.bin"), {p("sev-snp/trustee/test-vcek-invalid-new.der"), p("sev-snp/trustee/milan_ask_ark_asvk.pem")},
        {}, "", dir_ / "snp.toml", "2024-01-01", "", false, nullptr},
       1, "leaf-signature:"},
      {"tdx-qvl (UpToDate)",
       {p("tdx/dcap-qvl/tdx_quote"), {}, {p("tdx/dcap-qvl/tdx_quote_collateral.json")}, "", dir_ / "tdx.toml", "2025-07-01", "", false, nullptr},
       0, ""},
      {"tdx-debug",
       {p("tdx/trustee/tdx_quote_4.dat"), {}, {}, "tdx", dir_ / "tdx.toml", "2024-06-01", "", false, nullptr},
       1, "debug:"},
  };
  for (const auto& c : cases) {
    Outcome o = RunCommand(c.args);
    EXPECT_EQ(o.code, c.code) << c.id << "\n" << o.out << o.err;
    if (*c.first_failure) {
      EXPECT_NE(o.out.find(std::string("rejected: ") + c.first_failure), std::string::npos) << c.id << "\n" << o.out;
    }
  }
  // tdx-outofdate: PCS files as two --collateral files, the TCB signing certificate as --certs.
  auto bundle = nlohmann::json::parse(std::string(AsChars(*ReadFileBytes(p("tdx/dcap-qvl/tdx_quote_collateral.json")))));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "tcb-signing.pem", std::string_view(bundle["tcb_info_issuer_chain"].get<std::string>())));
  VerifyEvidenceArgs a{p("tdx/trustee/tdx_quote_6.dat"), {dir_ / "tcb-signing.pem"},
                       {p("tdx/trustee/tcbInfo.json"), p("tdx/trustee/enclaveIdentity.json")}, "", dir_ / "tdx.toml",
                       "2025-11-01", "", true, nullptr};
  Outcome o = RunCommand(a);
  EXPECT_EQ(o.code, 1) << o.out << o.err;
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["tcb_status"], "OutOfDate");
  EXPECT_EQ(j["verdict"], "reject");
}

}  // namespace
}  // namespace cairn::participant
