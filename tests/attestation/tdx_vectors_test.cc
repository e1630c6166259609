// Real Intel TDX quotes and collateral from ../shared/attestation-vectors (MANIFEST.md): each
// gives its listed verdict at its listed time. Skips when the folder is absent.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/tdx.h"
#include "common/attestation/x509.h"
#include "common/core/file.h"
#include "tests/attestation/test_util.h"

namespace cairn::attestation {
namespace {

std::string Dump(const Verdict& v) {
  std::string s;
  for (const auto& c : v.checks) s += (c.ok ? "  ok   " : "  FAIL ") + c.name + ": " + c.detail + "\n";
  return s;
}

const Check* Find(const Verdict& v, std::string_view name) {
  for (const auto& c : v.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

class TdxVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::VectorsDir();
    if (!dir) GTEST_SKIP() << "../shared/attestation-vectors not found: skipping TDX vectors";
    dir_ = *dir / "tdx";
  }
  Bytes Read(const std::string& rel) {
    auto b = ReadFileBytes(dir_ / rel);
    EXPECT_TRUE(b) << rel;
    return b.value_or(Bytes{});
  }
  Verdict Run(const Evidence& e, const Policy& p, const char* at) {
    VerifyOptions o;
    o.at = *ParseRfc3339(at);
    auto v = VerifyEvidence(e, p, o);
    EXPECT_TRUE(v);
    return v.value_or(Verdict{});
  }
  static Policy Production() {
    Policy p;
    p.platforms = {Platform::kTdx};
    return p;  // allow_debug = false, accepted_tcb_status = ["UpToDate"]
  }
  std::filesystem::path dir_;
};

TEST_F(TdxVectorsTest, DcapQvlQuoteWithCollateralIsUpToDate) {
  Evidence e{Platform::kTdx, Read("dcap-qvl/tdx_quote"), {}, Read("dcap-qvl/tdx_quote_collateral.json")};
  Verdict v = Run(e, Production(), "2025-07-01");
  EXPECT_TRUE(v.accepted) << Dump(v);
  EXPECT_EQ(v.tcb_status, "UpToDate") << Dump(v);
  EXPECT_TRUE(v.advisory_ids.empty());
  EXPECT_EQ(HexEncode(v.measurement).substr(0, 8), "91eb2b44");
  EXPECT_EQ(HexEncode(v.report_data).substr(0, 8), "9a9d48e7");
  EXPECT_NE(v.tcb.find("FMSPC b0c06f000000"), std::string::npos) << v.tcb;
  EXPECT_NE(v.tcb.find("PCESVN 11"), std::string::npos) << v.tcb;
  for (const char* name : {"root-pinned", "pck-chain-signatures", "qe-report-signature", "attestation-key-binding",
                           "quote-signature", "tcb-info-signature", "qe-identity-signature", "crl", "fmspc",
                           "tcb-level", "qe-identity", "tcb-status", "qe-signer", "pce-id"}) {
    ASSERT_NE(Find(v, name), nullptr) << name << "\n" << Dump(v);
    EXPECT_TRUE(Find(v, name)->ok) << name;
  }
  EXPECT_NE(Find(v, "root-pinned")->detail.find("Intel SGX Root CA"), std::string::npos);

  // Without collateral the status is Unknown, which a production policy does not accept.
  Evidence bare = e;
  bare.collateral.clear();
  Verdict u = Run(bare, Production(), "2025-07-01");
  EXPECT_EQ(u.tcb_status, "Unknown");
  EXPECT_EQ(u.FirstFailure().rfind("tcb-status:", 0), 0u) << Dump(u);
  Policy lax = Production();
  lax.tdx.accepted_tcb_status = {"UpToDate", "Unknown"};
  EXPECT_TRUE(Run(bare, lax, "2025-07-01").accepted);

  // Intel's evaluation number 17 in both files: a policy that needs the next TCB recovery refuses it.
  Policy recovered = Production();
  recovered.tdx.min_tcb_evaluation_data_number = 18;
  Verdict r = Run(e, recovered, "2025-07-01");
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.FirstFailure().rfind("tcb-evaluation-data-number: TCB info tcbEvaluationDataNumber 17 < ", 0), 0u) << Dump(r);
  recovered.tdx.min_tcb_evaluation_data_number = 17;
  EXPECT_TRUE(Run(e, recovered, "2025-07-01").accepted);

  // After the collateral's nextUpdate it is stale.
  Verdict late = Run(e, Production(), "2025-08-01");
  EXPECT_FALSE(late.accepted);
  EXPECT_FALSE(Find(late, "tcb-info-validity")->ok);
}

TEST_F(TdxVectorsTest, TamperedCollateralOrQuoteFails) {
  const Bytes quote = Read("dcap-qvl/tdx_quote");
  const Bytes coll_bytes = Read("dcap-qvl/tdx_quote_collateral.json");
  const std::string coll(coll_bytes.begin(), coll_bytes.end());
  auto j = nlohmann::json::parse(coll);
  std::string tcb = j["tcb_info"];
  auto pos = tcb.find("\"UpToDate\"");
  ASSERT_NE(pos, std::string::npos);
  tcb.replace(pos, 10, "\"OutOfDate\"");
  j["tcb_info"] = tcb;
  std::string tampered = j.dump();
  Evidence e{Platform::kTdx, quote, {}, Bytes(tampered.begin(), tampered.end())};
  Verdict v = Run(e, Production(), "2025-07-01");
  EXPECT_FALSE(v.accepted);
  EXPECT_FALSE(Find(v, "tcb-info-signature")->ok) << Dump(v);

  // A flipped MRTD byte breaks the quote signature.
  Evidence flipped{Platform::kTdx, quote, {}, Bytes(coll.begin(), coll.end())};
  flipped.report[0x30 + 0x88] ^= 1;
  Verdict f = Run(flipped, Production(), "2025-07-01");
  EXPECT_FALSE(Find(f, "quote-signature")->ok);
}

TEST_F(TdxVectorsTest, TrusteeDebugQuoteRejectedNamingDebug) {
  Evidence e{Platform::kTdx, Read("trustee/tdx_quote_4.dat"), {}, {}};
  Policy p = Production();
  p.tdx.accepted_tcb_status = {"UpToDate", "Unknown"};
  Verdict v = Run(e, p, "2024-06-01");
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure().rfind("debug:", 0), 0u) << Dump(v);
  // Everything cryptographic is valid.
  for (const char* name : {"root-pinned", "pck-chain-signatures", "certificate-validity", "qe-report-signature",
                           "attestation-key-binding", "quote-signature"}) {
    EXPECT_TRUE(Find(v, name)->ok) << name << "\n" << Dump(v);
  }
  p.tdx.allow_debug = true;
  EXPECT_TRUE(Run(e, p, "2024-06-01").accepted);
}

TEST_F(TdxVectorsTest, TrusteeOutOfDateQuoteRejected) {
  // The PCS files carry no issuer chain: the operator gives the Intel TCB signing certificate
  // (here taken from dcap-qvl's bundle, the same Intel key) as a certificate file.
  auto bundle = nlohmann::json::parse(std::string(AsChars(Read("dcap-qvl/tdx_quote_collateral.json"))));
  auto signer = ParseCertificates(AsBytes(bundle["tcb_info_issuer_chain"].get<std::string>()), "issuer chain");
  ASSERT_TRUE(signer);
  auto merged = internal::MergeCollateralJson({{"tcbInfo.json", std::string(AsChars(Read("trustee/tcbInfo.json")))},
                                               {"enclaveIdentity.json", std::string(AsChars(Read("trustee/enclaveIdentity.json")))}});
  ASSERT_TRUE(merged) << merged.error().ToString();
  Evidence e{Platform::kTdx, Read("trustee/tdx_quote_6.dat"), *signer, Bytes(merged->begin(), merged->end())};
  // These PCS files come without Intel's CRLs: a production policy refuses collateral that cannot
  // show the PCK chain unrevoked, and says so first.
  Verdict nocrl = Run(e, Production(), "2025-11-01");
  EXPECT_FALSE(nocrl.accepted);
  EXPECT_EQ(nocrl.FirstFailure().rfind("crl: the collateral has no root_ca_crl and pck_crl", 0), 0u) << Dump(nocrl);
  Policy production = Production();
  production.tdx.allow_missing_crls = true;
  Verdict v = Run(e, production, "2025-11-01");
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.tcb_status, "OutOfDate") << Dump(v);
  EXPECT_EQ(v.FirstFailure().rfind("tcb-status:", 0), 0u) << Dump(v);
  for (const char* name : {"quote-signature", "qe-report-signature", "attestation-key-binding", "tcb-info-signature",
                           "qe-identity-signature", "fmspc", "qe-identity"}) {
    ASSERT_NE(Find(v, name), nullptr) << name;
    EXPECT_TRUE(Find(v, name)->ok) << name << "\n" << Dump(v);
  }
  EXPECT_NE(Find(v, "qe-identity")->detail.find("UpToDate"), std::string::npos);
  EXPECT_NE(Find(v, "tcb-level")->detail.find("OutOfDate"), std::string::npos);
  Policy lax = production;
  lax.tdx.accepted_tcb_status = {"UpToDate", "OutOfDate"};
  Verdict ok = Run(e, lax, "2025-11-01");
  EXPECT_TRUE(ok.accepted) << Dump(ok);
  EXPECT_TRUE(ok.advisory_ids.empty());  // this TCB info lists no advisories for the level
}

TEST_F(TdxVectorsTest, IntelRootMatchesBuiltinPin) {
  auto der = ReadCertificateFile(dir_ / "dcap-qvl/TrustedRootCA.der");
  auto pem = ReadCertificateFile(dir_ / "go-tdx-guest/trusted_root.pem");
  ASSERT_TRUE(der && pem);
  EXPECT_EQ(HexEncode(internal::Sha256Of((*der)[0])),
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
  EXPECT_EQ((*der)[0], (*pem)[0]);
  Policy p;
  EXPECT_TRUE(internal::IsPinnedRoot(internal::Sha256Of((*der)[0]), p, Platform::kTdx, nullptr));
  // Intel's root anchors TDX only; as an extra root, the operator's choice, it anchors either.
  EXPECT_FALSE(internal::IsPinnedRoot(internal::Sha256Of((*der)[0]), p, Platform::kSevSnp, nullptr));
  p.extra_roots = {internal::Sha256Of((*der)[0])};
  EXPECT_TRUE(internal::IsPinnedRoot(internal::Sha256Of((*der)[0]), p, Platform::kSevSnp, nullptr));
}

TEST_F(TdxVectorsTest, QuoteParsesWithTrailingPadding) {
  auto q = internal::ParseTdxQuote(Read("trustee/tdx_quote_6.dat"));
  ASSERT_TRUE(q) << q.error().ToString();
  EXPECT_EQ(q->version, 4);
  EXPECT_EQ(q->trailing_bytes, 70u);
  EXPECT_NE(q->pck_chain_pem.find("BEGIN CERTIFICATE"), std::string::npos);
}

}  // namespace
}  // namespace cairn::attestation
