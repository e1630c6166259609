// TDX verification against the test key hierarchy (root → PCK CA → PCK, QE report signed by the
// PCK key, attestation key, collateral signed by a TCB signing key): acceptance of v4 and v5 quotes
// and each rejection with its named reason.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/tdx.h"
#include "tests/attestation/test_pki.h"

namespace cairn::attestation {
namespace {

using testing::TdxQuoteSpec;
using testing::TdxTestPki;
namespace in = internal;

std::string Dump(const Verdict& v) {
  std::string s;
  for (const auto& c : v.checks) s += (c.ok ? "  ok   " : "  FAIL ") + c.name + ": " + c.detail + "\n";
  return s;
}

class TdxTest : public ::testing::Test {
 protected:
  TdxTestPki& pki = TdxTestPki::Get();
  TdxQuoteSpec spec_ = [] {
    TdxQuoteSpec s;
    s.report_data.fill(0x44);
    return s;
  }();
  Evidence Make(const TdxQuoteSpec& s, const std::string& collateral = "") {
    Evidence e;
    e.platform = Platform::kTdx;
    e.report = pki.MakeQuote(s);
    e.collateral.assign(collateral.begin(), collateral.end());
    return e;
  }
  Verdict Run(const Evidence& e, const Policy& p, const char* at = "2026-01-01") {
    VerifyOptions o;
    o.at = *ParseRfc3339(at);
    o.expected_report_data = spec_.report_data;
    auto v = VerifyEvidence(e, p, o);
    EXPECT_TRUE(v);
    return v.value_or(Verdict{});
  }
  void ExpectRejected(const Evidence& e, const Policy& p, std::string_view check, const char* at = "2026-01-01") {
    Verdict v = Run(e, p, at);
    EXPECT_FALSE(v.accepted) << Dump(v);
    EXPECT_EQ(v.FirstFailure().rfind(std::string(check) + ":", 0), 0u)
        << "expected first failure " << check << ", got " << v.FirstFailure() << "\n" << Dump(v);
  }
  std::string UpToDate() { return pki.MakeCollateral("UpToDate", 11, {}); }
};

TEST_F(TdxTest, V4WithoutCollateralIsUnknown) {
  Verdict v = Run(Make(spec_), pki.MakePolicy());
  EXPECT_TRUE(v.accepted) << Dump(v);
  EXPECT_EQ(v.tcb_status, "Unknown");
  EXPECT_EQ(v.measurement, Bytes(48, 0x33));
  ASSERT_FALSE(v.warnings.empty());
  Policy strict = pki.MakePolicy();
  strict.tdx.accepted_tcb_status = {"UpToDate"};
  ExpectRejected(Make(spec_), strict, "tcb-status");
}

TEST_F(TdxTest, V4AndV5WithCollateralUpToDate) {
  Policy p = pki.MakePolicy();
  p.tdx.accepted_tcb_status = {"UpToDate"};
  for (auto [version, body] : {std::pair{4, 2}, std::pair{5, 2}, std::pair{5, 3}}) {
    TdxQuoteSpec s = spec_;
    s.version = static_cast<std::uint16_t>(version);
    s.v5_body_type = static_cast<std::uint16_t>(body);
    Verdict v = Run(Make(s, UpToDate()), p);
    EXPECT_TRUE(v.accepted) << "v" << version << " body " << body << "\n" << Dump(v);
    EXPECT_EQ(v.tcb_status, "UpToDate");
    // Regression: the validity details were once empty (argument evaluation order).
    for (const auto& c : v.checks) {
      if (c.name == "tcb-info-validity" || c.name == "qe-identity-validity") {
        EXPECT_NE(c.detail.find("current (2025-01-01"), std::string::npos) << c.name << ": " << c.detail;
      }
    }
  }
}

TEST_F(TdxTest, UnknownRoot) {
  Policy p = pki.MakePolicy();
  p.extra_roots.clear();
  ExpectRejected(Make(spec_), p, "root-pinned");
}

TEST_F(TdxTest, ExpiredAndNotYetValid) {
  ExpectRejected(Make(spec_), pki.MakePolicy(), "certificate-validity", "2041-01-01");
  ExpectRejected(Make(spec_), pki.MakePolicy(), "certificate-validity", "2019-01-01");
}

TEST_F(TdxTest, BadQeReportSignature) {
  Evidence e = Make(spec_);
  auto q = in::ParseTdxQuote(e.report);
  ASSERT_TRUE(q);
  // The QE report starts right after the signature data header: find it by content.
  auto it = std::search(e.report.begin(), e.report.end(), q->qe_report.begin(), q->qe_report.end());
  ASSERT_NE(it, e.report.end());
  *(it + in::kQeOffIsvSvn) ^= 1;  // QE ISVSVN
  ExpectRejected(e, pki.MakePolicy(), "qe-report-signature");
}

TEST_F(TdxTest, AttestationKeyNotBound) {
  TdxQuoteSpec s = spec_;
  s.break_qe_binding = true;
  ExpectRejected(Make(s), pki.MakePolicy(), "attestation-key-binding");
}

TEST_F(TdxTest, BadQuoteSignature) {
  Evidence e = Make(spec_);
  e.report[0x30 + in::kTdOffMrConfigId] ^= 1;
  ExpectRejected(e, pki.MakePolicy(), "quote-signature");
  Evidence e2 = Make(spec_);
  e2.report[in::kTdxHeaderBytes + in::kTdxBody10Bytes + 4] ^= 1;  // r of the quote signature
  ExpectRejected(e2, pki.MakePolicy(), "quote-signature");
}

TEST_F(TdxTest, Debug) {
  TdxQuoteSpec s = spec_;
  s.td_attributes = in::kTdAttributesDebug;
  ExpectRejected(Make(s), pki.MakePolicy(), "debug");
  Policy p = pki.MakePolicy();
  p.tdx.allow_debug = true;
  EXPECT_TRUE(Run(Make(s), p).accepted);
}

TEST_F(TdxTest, MrtdAndRtmrNotAllowed) {
  TdxQuoteSpec s = spec_;
  s.mrtd_fill = 0x34;
  ExpectRejected(Make(s), pki.MakePolicy(), "mrtd");
  Policy p = pki.MakePolicy();
  p.tdx.rtmr[2] = {Bytes(48, 0x42)};
  EXPECT_TRUE(Run(Make(spec_), p).accepted);  // the test quote's RTMR2 is 0x42…
  p.tdx.rtmr[2] = {Bytes(48, 0x43)};
  ExpectRejected(Make(spec_), p, "rtmr2");
}

TEST_F(TdxTest, MrConfigIdAndOwnerPins) {
  Policy p = pki.MakePolicy();
  p.tdx.mr_config_id = {Bytes(48, 0)};  // the test quote's MRCONFIGID is zero
  p.tdx.mr_owner = {Bytes(48, 0)};
  EXPECT_TRUE(Run(Make(spec_), p).accepted);
  p.tdx.mr_owner = {Bytes(48, 1)};
  ExpectRejected(Make(spec_), p, "mr-owner");
  p = pki.MakePolicy();
  p.tdx.mr_owner_config = {Bytes(48, 1)};
  ExpectRejected(Make(spec_), p, "mr-owner-config");
  p = pki.MakePolicy();
  p.tdx.mr_config_id = {Bytes(48, 1)};
  ExpectRejected(Make(spec_), p, "mr-config-id");
}

TEST_F(TdxTest, ReportDataMismatch) {
  TdxQuoteSpec s = spec_;
  s.report_data[0] ^= 1;
  ExpectRejected(Make(s), pki.MakePolicy(), "report-data");
}

TEST_F(TdxTest, TruncatedOversizedUnknownVersion) {
  Evidence e = Make(spec_);
  Evidence t = e;
  t.report.resize(100);
  ExpectRejected(t, pki.MakePolicy(), "report-size");
  t.report.resize(20);
  ExpectRejected(t, pki.MakePolicy(), "report-size");
  t = e;
  t.report.resize(t.report.size() - 1);  // the PEM chain is cut
  ExpectRejected(t, pki.MakePolicy(), "report-size");
  t = e;
  t.report.resize(kMaxReportBytes + 1);
  ExpectRejected(t, pki.MakePolicy(), "report-size");
  for (std::uint8_t version : {3, 6}) {
    t = e;
    t.report[0] = version;
    ExpectRejected(t, pki.MakePolicy(), "report-version");
  }
  t = e;
  t.report[4] = 0x00;  // SGX, not TDX
  ExpectRejected(t, pki.MakePolicy(), "report-version");
  TdxQuoteSpec s = spec_;
  s.version = 5;
  s.v5_body_type = 9;
  ExpectRejected(Make(s), pki.MakePolicy(), "report-version");
  // Trailing bytes after the signature data are ignored (real quotes carry padding).
  t = e;
  t.report.insert(t.report.end(), 70, 0);
  EXPECT_TRUE(Run(t, pki.MakePolicy()).accepted);
}

TEST_F(TdxTest, TcbStatusNotAccepted) {
  Policy p = pki.MakePolicy();
  p.tdx.accepted_tcb_status = {"UpToDate"};
  // The platform's PCESVN 11 is below the 12 the first level needs: the next level (OutOfDate).
  Verdict v = Run(Make(spec_, pki.MakeCollateral("UpToDate", 12, {})), p);
  EXPECT_EQ(v.tcb_status, "OutOfDate");
  EXPECT_EQ(v.FirstFailure().rfind("tcb-status:", 0), 0u) << Dump(v);
  ASSERT_EQ(v.advisory_ids.size(), 1u);
  EXPECT_EQ(v.advisory_ids[0], "INTEL-SA-00001");
  ExpectRejected(Make(spec_, pki.MakeCollateral("SWHardeningNeeded", 11, {"INTEL-SA-00615"})), p, "tcb-status");
  p.tdx.accepted_tcb_status = {"UpToDate", "SWHardeningNeeded"};
  Verdict sw = Run(Make(spec_, pki.MakeCollateral("SWHardeningNeeded", 11, {"INTEL-SA-00615"})), p);
  EXPECT_TRUE(sw.accepted) << Dump(sw);
  p.tdx.forbidden_advisory_ids = {"INTEL-SA-00615"};
  ExpectRejected(Make(spec_, pki.MakeCollateral("SWHardeningNeeded", 11, {"INTEL-SA-00615"})), p, "advisories");
}

TEST_F(TdxTest, CollateralTamperedOrStale) {
  ExpectRejected(Make(spec_, pki.MakeCollateral("UpToDate", 11, {}, /*tamper=*/true)), pki.MakePolicy(),
                 "tcb-info-signature");
  ExpectRejected(Make(spec_, pki.MakeCollateral("UpToDate", 11, {}, false, testing::T("2025-06-01"))),
                 pki.MakePolicy(), "tcb-info-validity");
  Evidence garbage = Make(spec_, "{not json");
  ExpectRejected(garbage, pki.MakePolicy(), "collateral-format");
}

TEST_F(TdxTest, RevokedPckAndFmspcMismatch) {
  // A PCK CRL that revokes the PCK certificate (serial 77).
  auto j = nlohmann::json::parse(UpToDate());
  ASSERT_TRUE(j.contains("pck_crl"));
  // Re-sign a CRL with the PCK CA listing serial 77: reuse the test helper through a fresh bundle.
  // (MakeCollateral always emits empty CRLs; build the revoking one here.)
  X509_CRL* crl = X509_CRL_new();
  ASSERT_TRUE(X509_CRL_set_version(crl, 1));
  ASSERT_TRUE(X509_CRL_set_issuer_name(crl, X509_get_subject_name(pki.pck_ca.cert.get())));
  ASN1_TIME* tu = ASN1_TIME_set(nullptr, pki.valid_from);
  ASN1_TIME* nu = ASN1_TIME_set(nullptr, pki.valid_to);
  X509_CRL_set1_lastUpdate(crl, tu);
  X509_CRL_set1_nextUpdate(crl, nu);
  X509_REVOKED* r = X509_REVOKED_new();
  ASN1_INTEGER* serial = ASN1_INTEGER_new();
  ASN1_INTEGER_set(serial, 77);
  X509_REVOKED_set_serialNumber(r, serial);
  X509_REVOKED_set_revocationDate(r, tu);
  X509_CRL_add0_revoked(crl, r);
  ASSERT_GT(X509_CRL_sign(crl, pki.pck_ca.key.get(), EVP_sha256()), 0);
  unsigned char* der = nullptr;
  int len = i2d_X509_CRL(crl, &der);
  j["pck_crl"] = HexEncode(ByteSpan(der, static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  X509_CRL_free(crl);
  ASN1_INTEGER_free(serial);
  ASN1_TIME_free(tu);
  ASN1_TIME_free(nu);
  ExpectRejected(Make(spec_, j.dump()), pki.MakePolicy(), "crl");

  // The same serial revoked by another issuer (the root's CRL) does not revoke the PCK certificate:
  // serial numbers are unique per issuer only.
  {
    X509_CRL* rc = X509_CRL_new();
    ASSERT_TRUE(X509_CRL_set_version(rc, 1));
    ASSERT_TRUE(X509_CRL_set_issuer_name(rc, X509_get_subject_name(pki.root.cert.get())));
    ASN1_TIME* t0 = ASN1_TIME_set(nullptr, pki.valid_from);
    ASN1_TIME* t1 = ASN1_TIME_set(nullptr, pki.valid_to);
    X509_CRL_set1_lastUpdate(rc, t0);
    X509_CRL_set1_nextUpdate(rc, t1);
    X509_REVOKED* rv = X509_REVOKED_new();
    ASN1_INTEGER* sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sn, 77);
    X509_REVOKED_set_serialNumber(rv, sn);
    X509_REVOKED_set_revocationDate(rv, t0);
    X509_CRL_add0_revoked(rc, rv);
    ASSERT_GT(X509_CRL_sign(rc, pki.root.key.get(), EVP_sha256()), 0);
    unsigned char* rder = nullptr;
    int rlen = i2d_X509_CRL(rc, &rder);
    auto k = nlohmann::json::parse(UpToDate());
    k["root_ca_crl"] = HexEncode(ByteSpan(rder, static_cast<std::size_t>(rlen)));
    OPENSSL_free(rder);
    X509_CRL_free(rc);
    ASN1_INTEGER_free(sn);
    ASN1_TIME_free(t0);
    ASN1_TIME_free(t1);
    Evidence e = Make(spec_, k.dump());
    e.certificates = {pki.pck.der};  // an operator certificate with serial 77, issued by the PCK CA
    Verdict other = Run(e, pki.MakePolicy());
    EXPECT_TRUE(other.accepted) << Dump(other);
  }

  // The TCB info of another platform (FMSPC).
  ExpectRejected(Make(spec_, pki.MakeCollateral("UpToDate", 11, {}, false, 0, "00A06D080000")), pki.MakePolicy(),
                 "fmspc");
  Verdict v = Run(Make(spec_, UpToDate()), pki.MakePolicy());
  EXPECT_TRUE(v.accepted) << Dump(v);
}

// The PCK key certifies the report of any enclave with the provisioning attribute: a host could
// run its own enclave, have its attestation key certified and sign any TD report. Only the QE's
// identity (Intel's TD QE signer, ISVPRODID 2) stops that, with collateral or without.
TEST_F(TdxTest, QuoteFromAnEnclaveThatIsNotIntelsTdQeIsRejected) {
  TdxQuoteSpec forged = spec_;
  forged.qe_mrsigner.fill(0x66);
  ExpectRejected(Make(forged), pki.MakePolicy(), "qe-signer");  // the policy accepts "Unknown"
  Verdict v = Run(Make(forged, UpToDate()), pki.MakePolicy());
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure().rfind("qe-signer: QE report MRSIGNER 6666", 0), 0u) << Dump(v);
  TdxQuoteSpec sgx_qe = spec_;
  sgx_qe.qe_isv_prod_id = 1;  // Intel's SGX QE3, not the TD QE
  ExpectRejected(Make(sgx_qe), pki.MakePolicy(), "qe-signer");
}

TEST_F(TdxTest, CollateralWithoutQeIdentityOrWithAnotherIdentityIsRejected) {
  auto j = nlohmann::json::parse(UpToDate());
  j.erase("qe_identity");
  j.erase("qe_identity_signature");
  Verdict v = Run(Make(spec_, j.dump()), pki.MakePolicy());
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure().rfind("qe-identity: the collateral has TCB info but no QE identity", 0), 0u) << Dump(v);

  // An Intel-signed identity of another enclave (here the SGX QE's id) does not vouch for a TD QE.
  std::string other = pki.MakeCollateralWith([](nlohmann::json&, nlohmann::json& qe) { qe["id"] = "QE"; });
  Verdict w = Run(Make(spec_, other), pki.MakePolicy());
  EXPECT_FALSE(w.accepted);
  EXPECT_NE(w.FirstFailure().find("identity id \"QE\" (expected TD_QE)"), std::string::npos) << Dump(w);
}

TEST_F(TdxTest, QeOlderThanEveryIdentityLevelIsRevoked) {
  TdxQuoteSpec old_qe = spec_;
  old_qe.qe_isv_svn = 7;  // the identity's only level needs 8
  Policy p = pki.MakePolicy();
  p.tdx.accepted_tcb_status = {"UpToDate", "OutOfDate", "Unknown"};
  Verdict v = Run(Make(old_qe, UpToDate()), p);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.tcb_status, "Revoked") << Dump(v);
  EXPECT_EQ(v.FirstFailure().rfind("tcb-status: TCB status Revoked", 0), 0u) << Dump(v);
  bool named = false;
  for (const auto& c : v.checks) named |= c.name == "qe-identity" && c.detail.find("below every TCB level") != std::string::npos;
  EXPECT_TRUE(named) << Dump(v);
}

TEST_F(TdxTest, MissingCrlsAreRefusedUnlessAllowed) {
  for (const char* key : {"root_ca_crl", "pck_crl"}) {
    auto j = nlohmann::json::parse(UpToDate());
    j.erase(key);
    Verdict v = Run(Make(spec_, j.dump()), pki.MakePolicy());
    EXPECT_FALSE(v.accepted);
    EXPECT_EQ(v.FirstFailure().rfind(std::string("crl: ") + (std::string(key) == "pck_crl" ? "root_ca_crl" : "pck_crl"), 0), 0u)
        << Dump(v);  // the CRL that is there is still checked and named first
    EXPECT_NE(v.FirstFailure().find(std::string("the collateral has no ") + key), std::string::npos) << Dump(v);
    Policy allow = pki.MakePolicy();
    allow.tdx.allow_missing_crls = true;
    Verdict a = Run(Make(spec_, j.dump()), allow);
    EXPECT_TRUE(a.accepted) << Dump(a);
    bool warned = false;
    for (const auto& w : a.warnings) warned |= w.find(key) != std::string::npos;
    EXPECT_TRUE(warned);
  }
}

TEST_F(TdxTest, MigratableOrOtherDebugBitsAreRejected) {
  TdxQuoteSpec migratable = spec_;
  migratable.td_attributes = std::uint64_t{1} << 29;
  ExpectRejected(Make(migratable), pki.MakePolicy(), "migration");
  Policy allow = pki.MakePolicy();
  allow.tdx.allow_migration = true;
  EXPECT_TRUE(Run(Make(migratable), allow).accepted);
  TdxQuoteSpec tud = spec_;
  tud.td_attributes = 0x2;  // a TUD bit other than DEBUG
  Verdict v = Run(Make(tud), pki.MakePolicy());
  EXPECT_FALSE(v.accepted);
  EXPECT_NE(v.FirstFailure().find("other TUD (debug) bits 1-7 are set"), std::string::npos) << Dump(v);
  TdxQuoteSpec sept = spec_;
  sept.td_attributes = std::uint64_t{1} << 28;  // SEPT_VE_DISABLE, as the real quotes carry
  EXPECT_TRUE(Run(Make(sept), pki.MakePolicy()).accepted);
}

TEST_F(TdxTest, PceIdAndEvaluationNumberOfTheCollateral) {
  std::string other_pce = pki.MakeCollateralWith([](nlohmann::json& tcb, nlohmann::json&) { tcb["pceId"] = "0100"; });
  ExpectRejected(Make(spec_, other_pce), pki.MakePolicy(), "pce-id");
  Policy p = pki.MakePolicy();
  p.tdx.min_tcb_evaluation_data_number = 18;  // the collateral says 17
  Verdict v = Run(Make(spec_, UpToDate()), p);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.FirstFailure(), "tcb-evaluation-data-number: TCB info tcbEvaluationDataNumber 17 < min_tcb_evaluation_data_number 18: "
                              "collateral from before a TCB recovery") << Dump(v);
  p.tdx.min_tcb_evaluation_data_number = 17;
  EXPECT_TRUE(Run(Make(spec_, UpToDate()), p).accepted);
  std::string no_number = pki.MakeCollateralWith([](nlohmann::json&, nlohmann::json& qe) { qe.erase("tcbEvaluationDataNumber"); });
  Verdict q = Run(Make(spec_, no_number), p);
  EXPECT_FALSE(q.accepted);
  EXPECT_NE(q.FirstFailure().find("QE identity has no tcbEvaluationDataNumber"), std::string::npos) << Dump(q);
}

// The participant's own collateral replaces the host's: the host cannot pick an older (still
// current) TCB info or leave the CRLs out.
TEST_F(TdxTest, PinnedCollateralReplacesTheEvidences) {
  Policy p = pki.MakePolicy();
  p.tdx.accepted_tcb_status = {"UpToDate"};
  const std::string s = UpToDate();
  p.tdx.pinned_collateral.assign(s.begin(), s.end());
  // The host sends tampered collateral, or none: the pinned one decides.
  Verdict v = Run(Make(spec_, pki.MakeCollateral("UpToDate", 11, {}, /*tamper=*/true)), p);
  EXPECT_TRUE(v.accepted) << Dump(v);
  EXPECT_EQ(v.tcb_status, "UpToDate");
  EXPECT_TRUE(Run(Make(spec_), p).accepted);
  // The host sends UpToDate collateral while the participant's says OutOfDate: rejected.
  const std::string out = pki.MakeCollateral("UpToDate", 12, {});
  p.tdx.pinned_collateral.assign(out.begin(), out.end());
  Verdict o = Run(Make(spec_, UpToDate()), p);
  EXPECT_FALSE(o.accepted);
  EXPECT_EQ(o.tcb_status, "OutOfDate") << Dump(o);
  bool named = false;
  for (const auto& c : o.checks) named |= c.name == "collateral-source" && c.detail.find("are not used") != std::string::npos;
  EXPECT_TRUE(named) << Dump(o);
}

TEST_F(TdxTest, TooManyOperatorCertificates) {
  Evidence e = Make(spec_, UpToDate());
  e.certificates.assign(kMaxCertificates + 1, pki.tcb_signer.der);
  Verdict v = Run(e, pki.MakePolicy());
  EXPECT_FALSE(v.accepted);
  bool named = false;
  for (const auto& c : v.checks) named |= c.name == "certificates" && !c.ok;
  EXPECT_TRUE(named) << Dump(v);
}

TEST_F(TdxTest, PckExtensionsParse) {
  auto ext = in::ExtensionValue(pki.pck.cert.get(), in::kOidSgxExtensions);
  ASSERT_TRUE(ext);
  auto p = in::ParsePckExtensions(*ext);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->pce_svn, 11);
  EXPECT_EQ(HexEncode(p->fmspc), "b0c06f000000");
  EXPECT_EQ(p->sgx_tcb_components[0], 3);
  EXPECT_EQ(p->sgx_tcb_components[15], 0);
  EXPECT_FALSE(in::ParsePckExtensions(Bytes{0x30, 0x00}));
  EXPECT_FALSE(in::ParsePckExtensions(Bytes{0x04, 0x01, 0x00}));
}

TEST(TdxJsonTest, RawMemberKeepsExactBytes) {
  const std::string text = R"( {"a" : 1, "tcbInfo":{"x":"}\"{", "y":[1,{"z":2}]} , "signature":"ab"} )";
  auto raw = in::RawJsonMember(text, "tcbInfo");
  ASSERT_TRUE(raw);
  EXPECT_EQ(*raw, R"({"x":"}\"{", "y":[1,{"z":2}]})");
  EXPECT_EQ(*in::RawJsonMember(text, "signature"), "\"ab\"");
  EXPECT_EQ(*in::RawJsonMember(text, "a"), "1");
  EXPECT_FALSE(in::RawJsonMember(text, "missing"));
  EXPECT_FALSE(in::RawJsonMember("[1,2]", "a"));
  auto merged = in::MergeCollateralJson({{"tcb.json", R"({"tcbInfo":{"id":"TDX"},"signature":"00"})"},
                                         {"qe.json", R"({"enclaveIdentity":{"id":"TD_QE"},"signature":"11"})"}});
  ASSERT_TRUE(merged) << merged.error().ToString();
  auto j = nlohmann::json::parse(*merged);
  EXPECT_EQ(j["tcb_info"], R"({"id":"TDX"})");
  EXPECT_EQ(j["qe_identity_signature"], "11");
  EXPECT_FALSE(in::MergeCollateralJson({{"x.json", R"({"other":1})"}}));
}

}  // namespace
}  // namespace cairn::attestation
