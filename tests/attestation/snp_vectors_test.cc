// Real AMD SEV-SNP reports and certificates from ../shared/attestation-vectors (MANIFEST.md):
// each gives its listed verdict at its listed time. Skips when the folder is absent.
#include <gtest/gtest.h>

#include <openssl/x509.h>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/snp.h"
#include "common/attestation/x509.h"
#include "common/core/file.h"
#include "tests/attestation/test_util.h"

namespace cairn::attestation {
namespace {

using internal::ParseSnpReport;

class SnpVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::VectorsDir();
    if (!dir) GTEST_SKIP() << "../shared/attestation-vectors not found: skipping SEV-SNP vectors";
    dir_ = *dir / "sev-snp";
  }
  Bytes Read(const std::string& rel) {
    auto b = ReadFileBytes(dir_ / rel);
    EXPECT_TRUE(b) << rel << ": " << (b ? "" : b.error().ToString());
    return b ? DecodeBinaryOrHex(*b) : Bytes{};
  }
  std::vector<Bytes> Certs(std::initializer_list<std::string> files) {
    std::vector<Bytes> out;
    for (const auto& f : files) {
      auto c = ReadCertificateFile(dir_ / f);
      EXPECT_TRUE(c) << f << ": " << (c ? "" : c.error().ToString());
      if (c) out.insert(out.end(), c->begin(), c->end());
    }
    return out;
  }
  static Policy Permissive() {
    Policy p;
    p.platforms = {Platform::kSevSnp};
    p.sev_snp.allow_debug = true;
    return p;
  }
  static VerifyOptions At(const char* when) {
    VerifyOptions o;
    o.at = *ParseRfc3339(when);
    return o;
  }
  static const Check* Find(const Verdict& v, std::string_view name) {
    for (const auto& c : v.checks) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
  Verdict Run(const Evidence& e, const Policy& p, const char* when) {
    auto v = VerifyEvidence(e, p, At(when));
    EXPECT_TRUE(v);
    return v.value_or(Verdict{});
  }
  std::filesystem::path dir_;
};

std::string Dump(const Verdict& v) {
  std::string s;
  for (const auto& c : v.checks) s += (c.ok ? "  ok   " : "  FAIL ") + c.name + ": " + c.detail + "\n";
  return s;
}

TEST_F(SnpVectorsTest, GoSevGuestValidButDebugRejectedByStrictPolicy) {
  Evidence e{Platform::kSevSnp, Read("go-sev-guest/attestation.bin"),
             Certs({"go-sev-guest/vcek.testcer", "go-sev-guest/ask_ark_milan.pem"}), {}};
  ASSERT_EQ(e.report.size(), 1184u);
  Verdict ok = Run(e, Permissive(), "2024-01-01");
  EXPECT_TRUE(ok.accepted) << Dump(ok);
  EXPECT_EQ(HexEncode(ok.measurement),
            "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01");
  ReportData rd{};
  rd[0] = 1, rd[1] = 2, rd[2] = 3, rd[3] = 4, rd[4] = 5;
  EXPECT_EQ(ok.report_data, rd);
  EXPECT_NE(ok.tcb.find("0x4405000000000002"), std::string::npos) << ok.tcb;
  EXPECT_NE(ok.tcb.find("bootloader 2, tee 0, snp 5, microcode 68"), std::string::npos) << ok.tcb;
  EXPECT_TRUE(Find(ok, "chip-id")->ok);
  EXPECT_TRUE(Find(ok, "tcb-extensions")->ok);
  EXPECT_NE(Find(ok, "root-pinned")->detail.find("AMD ARK Milan"), std::string::npos);

  Policy strict = Permissive();
  strict.sev_snp.allow_debug = false;
  Verdict bad = Run(e, strict, "2024-01-01");
  EXPECT_FALSE(bad.accepted);
  EXPECT_EQ(bad.FirstFailure().rfind("debug:", 0), 0u) << bad.FirstFailure();

  // With the expected REPORT_DATA bound.
  VerifyOptions o = At("2024-01-01");
  o.expected_report_data = rd;
  EXPECT_TRUE(VerifyEvidence(e, Permissive(), o)->accepted);
  rd[5] = 9;
  o.expected_report_data = rd;
  EXPECT_EQ(VerifyEvidence(e, Permissive(), o)->FirstFailure().rfind("report-data:", 0), 0u);
}

TEST_F(SnpVectorsTest, VirteeMilanHexReportValid) {
  Evidence e{Platform::kSevSnp, Read("virtee-sev/report_milan.hex"),
             Certs({"virtee-sev/vcek_milan.der", "virtee-sev/cert_chain_milan"}), {}};
  ASSERT_EQ(e.report.size(), 1184u);
  Policy p = Permissive();
  p.sev_snp.allow_debug = false;
  p.sev_snp.measurements = {*HexDecode(
      "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f")};
  p.sev_snp.min_tcb = {3, 0, 8, 115, 0};
  Verdict v = Run(e, p, "2024-01-01");
  EXPECT_TRUE(v.accepted) << Dump(v);
  EXPECT_NE(v.tcb.find("bootloader 3, tee 0, snp 8, microcode 115"), std::string::npos) << v.tcb;
  auto r = ParseSnpReport(e.report);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->policy, 0x30000u);

  // One notch above the reported TCB is a min-tcb rejection.
  p.sev_snp.min_tcb.snp = 9;
  Verdict low = Run(e, p, "2024-01-01");
  EXPECT_EQ(low.FirstFailure().rfind("min-tcb:", 0), 0u) << low.FirstFailure();
}

TEST_F(SnpVectorsTest, TrusteeReportValidAndFlipsFail) {
  Evidence e{Platform::kSevSnp, Read("trustee/test-report.bin"),
             Certs({"trustee/test-vcek.der", "trustee/milan_ask_ark_asvk.pem"}), {}};
  Policy p = Permissive();
  p.sev_snp.allow_debug = false;
  Verdict v = Run(e, p, "2024-01-01");
  EXPECT_TRUE(v.accepted) << Dump(v);
  EXPECT_EQ(HexEncode(v.measurement),
            "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c");
  auto r = ParseSnpReport(e.report);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->guest_svn, 4u);
  EXPECT_EQ(r->policy, 0x3001fu);
  EXPECT_FALSE(internal::AllZero(r->id_key_digest));

  p.sev_snp.min_guest_svn = 5;
  EXPECT_EQ(Run(e, p, "2024-01-01").FirstFailure().rfind("guest-svn:", 0), 0u);
  p.sev_snp.min_guest_svn = 0;

  Evidence flip42 = e;
  flip42.report[0x2A] ^= 0xFF;
  Verdict f1 = Run(flip42, p, "2024-01-01");
  EXPECT_FALSE(f1.accepted);
  EXPECT_FALSE(Find(f1, "report-signature")->ok);

  Evidence flip_tcb = e;
  flip_tcb.report[0x180] ^= 0x01;
  Verdict f2 = Run(flip_tcb, p, "2024-01-01");
  EXPECT_FALSE(Find(f2, "report-signature")->ok);
  EXPECT_FALSE(Find(f2, "tcb-extensions")->ok) << Find(f2, "tcb-extensions")->detail;
}

TEST_F(SnpVectorsTest, TamperedVcekHwidsFailAskSignatureAndParseBothEncodings) {
  auto legacy = Certs({"trustee/test-vcek-invalid-legacy.der"});
  auto fresh = Certs({"trustee/test-vcek-invalid-new.der"});
  auto chain = Certs({"trustee/milan_ask_ark_asvk.pem"});
  ASSERT_EQ(legacy.size(), 1u);
  ASSERT_EQ(fresh.size(), 1u);
  for (const auto& der : {legacy[0], fresh[0]}) {
    auto leaf = internal::ParseDerCertificate(der);
    ASSERT_TRUE(leaf);
    auto ext = internal::ExtensionValue(leaf->x509.get(), internal::kOidHwid);
    ASSERT_TRUE(ext);
    auto hwid = internal::DecodeHwid(*ext);
    ASSERT_TRUE(hwid);
    EXPECT_EQ(hwid->size(), 64u);
    Evidence e{Platform::kSevSnp, Read("trustee/test-report.bin"), chain, {}};
    e.certificates.push_back(der);
    Verdict v = Run(e, Permissive(), "2024-01-01");
    EXPECT_FALSE(v.accepted);
    ASSERT_NE(Find(v, "leaf-signature"), nullptr) << Dump(v);
    EXPECT_FALSE(Find(v, "leaf-signature")->ok);
    EXPECT_FALSE(Find(v, "chip-id")->ok);
  }
  // The new encoding wraps the 64 bytes in a DER OCTET STRING.
  auto leaf = internal::ParseDerCertificate(fresh[0]);
  auto ext = internal::ExtensionValue(leaf->x509.get(), internal::kOidHwid);
  EXPECT_EQ((*ext)[0], 0x04);
  EXPECT_EQ(ext->size(), 66u);
}

TEST_F(SnpVectorsTest, TurinChainValidWithEightByteHwidAndFmc) {
  auto vcek = Certs({"virtee-sev/vcek_turin.der"});
  auto chain = Certs({"virtee-sev/cert_chain_turin"});
  ASSERT_EQ(vcek.size(), 1u);
  ASSERT_EQ(chain.size(), 2u);
  auto leaf = internal::ParseDerCertificate(vcek[0]);
  auto ask = internal::ParseDerCertificate(chain[0]);
  auto ark = internal::ParseDerCertificate(chain[1]);
  ASSERT_TRUE(leaf && ask && ark);
  EXPECT_TRUE(internal::SignatureVerifies(leaf->x509.get(), ask->x509.get()));
  EXPECT_TRUE(internal::SignatureVerifies(ask->x509.get(), ark->x509.get()));
  EXPECT_TRUE(internal::SignatureVerifies(ark->x509.get(), ark->x509.get()));
  std::string d;
  auto at = internal::ToTimeT(*ParseRfc3339("2026-01-01"));
  EXPECT_TRUE(internal::ValidAt(leaf->x509.get(), at, &d)) << d;
  EXPECT_TRUE(internal::ValidAt(ask->x509.get(), at, &d)) << d;
  Policy p;
  EXPECT_TRUE(internal::IsPinnedRoot(ark->fingerprint, p, Platform::kSevSnp, &d));
  EXPECT_EQ(d, "AMD ARK Turin");
  auto hwid = internal::DecodeHwid(*internal::ExtensionValue(leaf->x509.get(), internal::kOidHwid));
  ASSERT_TRUE(hwid);
  EXPECT_EQ(hwid->size(), 8u);
  auto fmc = internal::ExtensionValue(leaf->x509.get(), internal::kOidFmcSpl);
  ASSERT_TRUE(fmc);
  EXPECT_TRUE(internal::DerSmallInteger(*fmc).has_value());
  auto sv = internal::ExtensionValue(leaf->x509.get(), internal::kOidStructVersion);
  ASSERT_TRUE(sv);
  EXPECT_EQ(internal::DerSmallInteger(*sv), 1u);
  // Nine content bytes only with a zero sign octet; anything longer does not fit 64 bits.
  EXPECT_EQ(internal::DerSmallInteger(Bytes{0x02, 0x09, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0x01}), 0x8000000000000001ull);
  EXPECT_FALSE(internal::DerSmallInteger(Bytes{0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01}).has_value());
  EXPECT_EQ(internal::DerString(*internal::ExtensionValue(leaf->x509.get(), internal::kOidProductName)), "Turin");
}

TEST_F(SnpVectorsTest, BuiltinRootsMatchShippedArks) {
  Policy p;
  for (const char* f : {"virtee-sev/builtin_milan_ark.pem", "virtee-sev/builtin_genoa_ark.pem",
                        "virtee-sev/builtin_turin_ark.pem"}) {
    auto c = Certs({f});
    ASSERT_EQ(c.size(), 1u) << f;
    auto cert = internal::ParseDerCertificate(c[0]);
    ASSERT_TRUE(cert);
    std::string name;
    EXPECT_TRUE(internal::IsPinnedRoot(cert->fingerprint, p, Platform::kSevSnp, &name)) << f;
    // An AMD root anchors SEV-SNP only: never a TDX PCK chain or Intel's collateral.
    EXPECT_FALSE(internal::IsPinnedRoot(cert->fingerprint, p, Platform::kTdx, nullptr)) << f;
    EXPECT_TRUE(internal::SignatureVerifies(cert->x509.get(), cert->x509.get())) << f;
  }
  // Every ASK/ASVK in go-sev-guest's chains (VCEK and VLEK) is signed by its pinned ARK.
  for (const char* f : {"go-sev-guest/ask_ark_milan.pem", "go-sev-guest/ask_ark_genoa.pem",
                        "go-sev-guest/ask_ark_turin_vcek.pem", "go-sev-guest/ask_ark_milan_vlek.pem",
                        "go-sev-guest/ask_ark_genoa_vlek.pem", "go-sev-guest/ask_ark_turin_vlek.pem"}) {
    auto c = Certs({f});
    ASSERT_EQ(c.size(), 2u) << f;
    auto ask = internal::ParseDerCertificate(c[0]);
    auto ark = internal::ParseDerCertificate(c[1]);
    ASSERT_TRUE(ask && ark);
    EXPECT_TRUE(internal::IsPinnedRoot(ark->fingerprint, p, Platform::kSevSnp, nullptr)) << f;
    EXPECT_TRUE(internal::SignatureVerifies(ask->x509.get(), ark->x509.get())) << f;
  }
}

TEST_F(SnpVectorsTest, UnpinnedRootAndExpiredTimeRejected) {
  Evidence e{Platform::kSevSnp, Read("virtee-sev/report_milan.hex"),
             Certs({"virtee-sev/vcek_milan.der", "virtee-sev/cert_chain_milan"}), {}};
  Policy p = Permissive();
  p.use_builtin_roots = false;
  Verdict v = Run(e, p, "2024-01-01");
  EXPECT_EQ(v.FirstFailure().rfind("root-pinned:", 0), 0u) << v.FirstFailure();
  Verdict old = Run(e, Permissive(), "2010-01-01");
  EXPECT_EQ(old.FirstFailure().rfind("certificate-validity:", 0), 0u) << old.FirstFailure();
  EXPECT_NE(old.FirstFailure().find("not yet valid"), std::string::npos);
}

}  // namespace
}  // namespace cairn::attestation
