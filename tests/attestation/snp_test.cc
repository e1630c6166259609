// SEV-SNP verification against the test key hierarchy: acceptance, and each rejection with its
// named reason; all 672 single-byte flips of the signed region.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/snp.h"
#include "tests/attestation/test_pki.h"

namespace cairn::attestation {
namespace {

using testing::SnpTestPki;
using testing::T;
namespace in = internal;

std::string Dump(const Verdict& v) {
  std::string s;
  for (const auto& c : v.checks) s += (c.ok ? "  ok   " : "  FAIL ") + c.name + ": " + c.detail + "\n";
  return s;
}

class SnpTest : public ::testing::Test {
 protected:
  SnpTestPki& pki = SnpTestPki::Get();
  Verdict Run(const Evidence& e, const Policy& p, const char* at = "2026-01-01") {
    VerifyOptions o;
    o.at = *ParseRfc3339(at);
    o.expected_report_data = expected_;
    auto v = VerifyEvidence(e, p, o);
    EXPECT_TRUE(v);
    return v.value_or(Verdict{});
  }
  // Rewrites a field and re-signs with the VCEK.
  Evidence Modified(const std::function<void(Bytes&)>& edit) {
    Evidence e = pki.MakeEvidence();
    edit(e.report);
    SnpTestPki::SignReport(e.report, pki.vcek.key.get());
    return e;
  }
  void ExpectRejected(const Evidence& e, const Policy& p, std::string_view check, const char* at = "2026-01-01") {
    Verdict v = Run(e, p, at);
    EXPECT_FALSE(v.accepted) << Dump(v);
    EXPECT_EQ(v.FirstFailure().rfind(std::string(check) + ":", 0), 0u)
        << "expected first failure " << check << ", got " << v.FirstFailure() << "\n" << Dump(v);
  }
  ReportData expected_ = [] {
    ReportData d{};
    d.fill(0x22);
    return d;
  }();
};

TEST_F(SnpTest, ValidReportAccepted) {
  Verdict v = Run(pki.MakeEvidence(), pki.MakePolicy());
  EXPECT_TRUE(v.accepted) << Dump(v);
  EXPECT_EQ(v.measurement, Bytes(48, 0x11));
  EXPECT_TRUE(v.warnings.empty());
  for (const char* name : {"platform-allowed", "report-size", "report-version", "signature-algorithm",
                           "signing-key", "certificates", "chain-complete", "root-pinned",
                           "chain-algorithms", "ark-signature", "intermediate-signature",
                           "leaf-signature", "certificate-validity", "leaf-kind", "product",
                           "report-signature", "chip-id", "tcb-extensions", "guest-policy", "debug",
                           "migration-agent", "smt", "vmpl", "min-tcb", "guest-svn", "measurement",
                           "report-data"}) {
    bool found = false;
    for (const auto& c : v.checks) found |= c.name == name;
    EXPECT_TRUE(found) << name;
  }
}

TEST_F(SnpTest, AllVersionsTwoToFiveAccepted) {
  for (std::uint32_t version : {2u, 3u, 4u, 5u}) {
    Evidence e = pki.MakeEvidence();
    e.report = pki.BaseReportUnsigned(version);
    SnpTestPki::SignReport(e.report, pki.vcek.key.get());
    Verdict v = Run(e, pki.MakePolicy());
    EXPECT_TRUE(v.accepted) << "version " << version << "\n" << Dump(v);
  }
}

TEST_F(SnpTest, EverySingleByteFlipOfTheSignedRegionFails) {
  const Evidence good = pki.MakeEvidence();
  const Policy p = pki.MakePolicy();
  ASSERT_TRUE(Run(good, p).accepted);
  int rejected = 0;
  for (std::size_t i = 0; i < in::kSnpSignedBytes; ++i) {
    Evidence bad = good;
    bad.report[i] ^= 0x01;
    Verdict v = Run(bad, p);
    EXPECT_FALSE(v.accepted) << "flip at offset " << i << " was accepted";
    rejected += !v.accepted;
  }
  EXPECT_EQ(rejected, 672);
}

TEST_F(SnpTest, UnknownRoot) {
  Policy p = pki.MakePolicy();
  p.extra_roots.clear();
  ExpectRejected(pki.MakeEvidence(), p, "root-pinned");
}

TEST_F(SnpTest, ExpiredAndNotYetValidCertificates) {
  ExpectRejected(pki.MakeEvidence(), pki.MakePolicy(), "certificate-validity", "2041-01-01");
  ExpectRejected(pki.MakeEvidence(), pki.MakePolicy(), "certificate-validity", "2019-06-01");
  // Only the VCEK expired.
  auto spec = pki.DefaultVcekSpec();
  spec.not_after = T("2025-01-01");
  auto vcek = pki.MakeVcek(spec);
  Evidence e = pki.MakeEvidence();
  SnpTestPki::SignReport(e.report, vcek.key.get());
  e.certificates[0] = vcek.der;
  Verdict v = Run(e, pki.MakePolicy());
  EXPECT_EQ(v.FirstFailure().rfind("certificate-validity:", 0), 0u) << Dump(v);
  EXPECT_NE(v.FirstFailure().find("SEV-VCEK expired"), std::string::npos) << v.FirstFailure();
}

TEST_F(SnpTest, BadPssSignatures) {
  // A flipped byte in the VCEK's RSA-PSS signature (the last bytes of the DER).
  Evidence e = pki.MakeEvidence();
  e.certificates[0].back() ^= 0x01;
  ExpectRejected(e, pki.MakePolicy(), "leaf-signature");
  // An ASK with the right name, signed by another key.
  testing::KeyCert fake_ark = testing::MakeCert({"ARK-Milan", pki.valid_from, pki.valid_to, {}, true, 1},
                                                testing::GenerateRsa(1024), nullptr,
                                                testing::SigAlg::kRsaPssSha384);
  testing::KeyCert forged_ask = testing::MakeCert({"SEV-Milan", pki.valid_from, pki.valid_to, {}, true, 2},
                                                  testing::GenerateRsa(1024), &fake_ark,
                                                  testing::SigAlg::kRsaPssSha384);
  Evidence e2 = pki.MakeEvidence();
  e2.certificates[1] = forged_ask.der;
  Verdict v = Run(e2, pki.MakePolicy());
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure().rfind("intermediate-signature:", 0), 0u) << Dump(v);
}

TEST_F(SnpTest, Pkcs1InsteadOfPssIsRejected) {
  testing::KeyCert ask_pkcs1 = testing::MakeCert({"SEV-Milan", pki.valid_from, pki.valid_to, {}, true, 2},
                                                 testing::EvpPkeyDup(pki.ask.key.get()), &pki.ark,
                                                 testing::SigAlg::kRsaPkcs1Sha384);
  Evidence e = pki.MakeEvidence();
  e.certificates[1] = ask_pkcs1.der;
  ExpectRejected(e, pki.MakePolicy(), "chain-algorithms");
}

TEST_F(SnpTest, BadEcdsaReportSignature) {
  Evidence e = pki.MakeEvidence();
  e.report[in::kSnpSigROffset] ^= 0x01;  // R (not in the signed region)
  ExpectRejected(e, pki.MakePolicy(), "report-signature");
  Evidence e2 = pki.MakeEvidence();
  e2.report[in::kSnpSigSOffset + 10] ^= 0x80;
  ExpectRejected(e2, pki.MakePolicy(), "report-signature");
  // Signed by another P-384 key.
  Evidence e3 = pki.MakeEvidence();
  auto other = testing::GenerateEc("P-384");
  SnpTestPki::SignReport(e3.report, other.get());
  ExpectRejected(e3, pki.MakePolicy(), "report-signature");
}

TEST_F(SnpTest, HwidMismatchBothEncodings) {
  for (bool der : {false, true}) {
    auto spec = pki.DefaultVcekSpec();
    spec.hwid_der = der;
    // Matching hwID in this encoding verifies …
    auto vcek = pki.MakeVcek(spec);
    Evidence e = pki.MakeEvidence();
    SnpTestPki::SignReport(e.report, vcek.key.get());
    e.certificates[0] = vcek.der;
    EXPECT_TRUE(Run(e, pki.MakePolicy()).accepted) << (der ? "DER" : "raw");
    // … and another chip's does not.
    spec.hwid[5] ^= 0xFF;
    auto other = pki.MakeVcek(spec);
    SnpTestPki::SignReport(e.report, other.key.get());
    e.certificates[0] = other.der;
    ExpectRejected(e, pki.MakePolicy(), "chip-id");
  }
}

TEST_F(SnpTest, MaskChipIdSkipsHwidComparison) {
  Evidence e = Modified([](Bytes& r) {
    in::StoreLe32(r.data() + in::kSnpOffSignerInfo, in::kSnpSignerMaskChipKey);
    std::memset(r.data() + in::kSnpOffChipId, 0, 64);
  });
  Verdict v = Run(e, pki.MakePolicy());
  EXPECT_TRUE(v.accepted) << Dump(v);
}

TEST_F(SnpTest, TcbExtensionMismatch) {
  auto spec = pki.DefaultVcekSpec();
  spec.tcb.snp = 7;
  auto vcek = pki.MakeVcek(spec);
  Evidence e = pki.MakeEvidence();
  SnpTestPki::SignReport(e.report, vcek.key.get());
  e.certificates[0] = vcek.der;
  Verdict v = Run(e, pki.MakePolicy());
  EXPECT_EQ(v.FirstFailure().rfind("tcb-extensions:", 0), 0u) << Dump(v);
  EXPECT_NE(v.FirstFailure().find("snp 7 in certificate vs 8 in REPORTED_TCB"), std::string::npos);
}

TEST_F(SnpTest, PolicyBits) {
  ExpectRejected(Modified([](Bytes& r) { in::StoreLe64(r.data() + 8, 0x30000 | in::kSnpPolicyDebug); }),
                 pki.MakePolicy(), "debug");
  ExpectRejected(Modified([](Bytes& r) { in::StoreLe64(r.data() + 8, 0x30000 | in::kSnpPolicyMigrateMa); }),
                 pki.MakePolicy(), "migration-agent");
  Policy no_smt = pki.MakePolicy();
  no_smt.sev_snp.allow_smt = false;
  ExpectRejected(pki.MakeEvidence(), no_smt, "smt");
  ExpectRejected(Modified([](Bytes& r) { in::StoreLe64(r.data() + 8, 0x10000); }), pki.MakePolicy(),
                 "guest-policy");
  Policy single = pki.MakePolicy();
  single.sev_snp.require_single_socket = true;
  ExpectRejected(pki.MakeEvidence(), single, "single-socket");
  // Allowed when the policy says so.
  Policy dbg = pki.MakePolicy();
  dbg.sev_snp.allow_debug = true;
  EXPECT_TRUE(Run(Modified([](Bytes& r) { in::StoreLe64(r.data() + 8, 0x30000 | in::kSnpPolicyDebug); }), dbg).accepted);
}

TEST_F(SnpTest, Vmpl) {
  Evidence e = Modified([](Bytes& r) { in::StoreLe32(r.data() + in::kSnpOffVmpl, 2); });
  ExpectRejected(e, pki.MakePolicy(), "vmpl");
  Policy p = pki.MakePolicy();
  p.sev_snp.max_vmpl = 2;
  EXPECT_TRUE(Run(e, p).accepted);
}

TEST_F(SnpTest, MeasurementNotAllowedAndEmptyListWarns) {
  Policy p = pki.MakePolicy();
  p.sev_snp.measurements = {Bytes(48, 0x99)};
  ExpectRejected(pki.MakeEvidence(), p, "measurement");
  p.sev_snp.measurements.clear();
  Verdict v = Run(pki.MakeEvidence(), p);
  EXPECT_TRUE(v.accepted);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_NE(v.warnings[0].find("no measurement pinned"), std::string::npos);
}

TEST_F(SnpTest, ReportDataMismatch) {
  expected_[63] ^= 1;
  ExpectRejected(pki.MakeEvidence(), pki.MakePolicy(), "report-data");
}

TEST_F(SnpTest, MinTcbAndGuestSvn) {
  Policy p = pki.MakePolicy();
  p.sev_snp.min_tcb.microcode = 116;
  ExpectRejected(pki.MakeEvidence(), p, "min-tcb");
  p = pki.MakePolicy();
  p.sev_snp.min_guest_svn = 2;
  ExpectRejected(pki.MakeEvidence(), p, "guest-svn");
}

TEST_F(SnpTest, HostDataAndIdKeyDigest) {
  Policy p = pki.MakePolicy();
  p.sev_snp.host_data = {Bytes(32, 1)};
  ExpectRejected(pki.MakeEvidence(), p, "host-data");
  p = pki.MakePolicy();
  p.sev_snp.id_key_digests = {Bytes(48, 1)};
  ExpectRejected(pki.MakeEvidence(), p, "id-key-digest");
}

TEST_F(SnpTest, TruncatedOversizedUnknownVersion) {
  Evidence e = pki.MakeEvidence();
  e.report.pop_back();
  ExpectRejected(e, pki.MakePolicy(), "report-size");
  e = pki.MakeEvidence();
  e.report.push_back(0);
  ExpectRejected(e, pki.MakePolicy(), "report-size");
  for (std::uint32_t bad : {0u, 1u, 6u, 0xFFFFFFFFu}) {
    ExpectRejected(Modified([&](Bytes& r) { in::StoreLe32(r.data(), bad); }), pki.MakePolicy(),
                   "report-version");
  }
  e = pki.MakeEvidence();
  e.report.assign(1184, 0xFF);
  ExpectRejected(e, pki.MakePolicy(), "report-version");
}

TEST_F(SnpTest, MissingOrGarbageCertificates) {
  Evidence e = pki.MakeEvidence();
  e.certificates.clear();
  ExpectRejected(e, pki.MakePolicy(), "certificates");
  e = pki.MakeEvidence();
  e.certificates[1] = Bytes{1, 2, 3};
  ExpectRejected(e, pki.MakePolicy(), "certificates");
  e = pki.MakeEvidence();
  e.certificates.erase(e.certificates.begin() + 1);  // no ASK
  ExpectRejected(e, pki.MakePolicy(), "chain-complete");
  // Order does not matter.
  e = pki.MakeEvidence();
  std::swap(e.certificates[0], e.certificates[2]);
  EXPECT_TRUE(Run(e, pki.MakePolicy()).accepted);
}

TEST_F(SnpTest, VlekSignedReports) {
  Evidence e = pki.MakeVlekEvidence();
  Verdict v = Run(e, pki.MakePolicy());
  EXPECT_TRUE(v.accepted) << Dump(v);
  Policy p = pki.MakePolicy();
  p.sev_snp.allow_vlek = false;
  ExpectRejected(e, p, "signing-key");
  // A VLEK-signed report presented with a VCEK chain.
  Evidence mixed = pki.MakeVlekEvidence();
  mixed.certificates = {pki.vcek.der, pki.ask.der, pki.ark.der};
  Verdict m = Run(mixed, pki.MakePolicy());
  EXPECT_FALSE(m.accepted);
}

TEST_F(SnpTest, TurinTcbLayoutAndEightByteHwid) {
  // A Turin VCEK (8-byte hwID, FMC SPL) and a v3 report with CPUID family 1Ah.
  auto spec = pki.DefaultVcekSpec();
  spec.product = "Turin";
  spec.include_fmc = true;
  spec.tcb = {4, 0, 9, 200, 2};
  spec.hwid.assign(pki.chip_id.begin(), pki.chip_id.begin() + 8);
  auto vcek = pki.MakeVcek(spec);
  SnpTcb turin_tcb = spec.tcb;
  auto make = [&](std::uint8_t fmc_in_report) {
    Evidence e = pki.MakeEvidence();
    e.report = pki.BaseReportUnsigned(3);
    e.report[in::kSnpOffCpuidFamily] = 0x1A;
    e.report[in::kSnpOffCpuidModel] = 0x02;
    SnpTcb t = turin_tcb;
    t.fmc = fmc_in_report;
    in::StoreLe64(e.report.data() + in::kSnpOffReportedTcb, in::EncodeSnpTcb(t, in::SnpProduct::kTurin));
    std::memset(e.report.data() + in::kSnpOffChipId + 8, 0, 56);
    SnpTestPki::SignReport(e.report, vcek.key.get());
    e.certificates[0] = vcek.der;
    return e;
  };
  Policy p = pki.MakePolicy();
  p.sev_snp.min_tcb = turin_tcb;
  Verdict v = Run(make(2), p);
  // The test chain's ARK is named ARK-Milan: the product check must notice the mismatch.
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure().rfind("product:", 0), 0u) << Dump(v);
  // Everything else about Turin passed: hwID (8 bytes) and TCB extensions with FMC.
  for (const auto& c : v.checks) {
    if (c.name == "chip-id" || c.name == "tcb-extensions" || c.name == "min-tcb" || c.name == "report-signature") {
      EXPECT_TRUE(c.ok) << c.name << ": " << c.detail;
    }
  }
  EXPECT_NE(v.tcb.find("fmc 2"), std::string::npos) << v.tcb;
  // FMC SPL differing from the certificate.
  Verdict f = Run(make(1), p);
  bool tcb_failed = false;
  for (const auto& c : f.checks) tcb_failed |= c.name == "tcb-extensions" && !c.ok;
  EXPECT_TRUE(tcb_failed) << Dump(f);
  // Below min_tcb.fmc.
  p.sev_snp.min_tcb.fmc = 3;
  Verdict low = Run(make(2), p);
  bool min_failed = false;
  for (const auto& c : low.checks) min_failed |= c.name == "min-tcb" && !c.ok;
  EXPECT_TRUE(min_failed) << Dump(low);
}

TEST(SnpTcbTest, LayoutsRoundTrip) {
  SnpTcb t{1, 2, 3, 4, 5};
  auto milan = in::EncodeSnpTcb(t, in::SnpProduct::kMilan);
  EXPECT_EQ(milan, 0x0403000000000201ull);
  auto turin = in::EncodeSnpTcb(t, in::SnpProduct::kTurin);
  EXPECT_EQ(turin, 0x0400000003020105ull);
  auto back = in::DecodeSnpTcb(turin, in::SnpProduct::kTurin);
  EXPECT_EQ(back.fmc, 5);
  EXPECT_EQ(back.bootloader, 1);
  EXPECT_EQ(back.snp, 3);
  EXPECT_EQ(in::DecodeSnpTcb(0x4405000000000002ull, in::SnpProduct::kMilan).microcode, 68);
}

}  // namespace
}  // namespace cairn::attestation
