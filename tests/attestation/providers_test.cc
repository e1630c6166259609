// Evidence providers: configfs-tsm against a fake folder tree whose "kernel" a test hook plays
// (reports signed by the test key hierarchy), including a changed generation; /dev/sev-guest absent;
// the SNP certificate table; sealing keys.
#include <gtest/gtest.h>

#include <cstring>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/providers_internal.h"
#include "common/core/file.h"
#include "tests/attestation/test_pki.h"
#include "tests/attestation/test_util.h"

namespace cairn::attestation {
namespace {

using testing::SnpTestPki;
using testing::TempDir;
namespace in = internal;

std::string ReadText(const std::filesystem::path& p) { return ReadFileText(p).value_or(""); }
void Write(const std::filesystem::path& p, std::string_view text) {
  ASSERT_TRUE(WriteFileAtomic(p, text, 0600));
}
void WriteBytes(const std::filesystem::path& p, ByteSpan b) { ASSERT_TRUE(WriteFileAtomic(p, b, 0600)); }

// Plays the kernel's part of configfs-tsm on a plain folder.
struct FakeTsm {
  std::string provider = "sev_guest";
  int extra_generation_after_read = 0;   // > 0 simulates another writer while we read
  int extra_generation_after_write = 0;  // > 0 simulates another writer between write and read
  int entries_seen = 0;

  in::ConfigfsHook Hook() {
    return [this](const std::filesystem::path& entry, std::string_view step) { Step(entry, step); };
  }
  void Step(const std::filesystem::path& entry, std::string_view step) {
    auto gen = [&] { return std::stoi(ReadText(entry / "generation")); };
    if (step == "created") {
      ++entries_seen;
      Write(entry / "provider", provider + "\n");
      Write(entry / "generation", "5\n");
    } else if (step == "written") {
      auto inblob = ReadFileBytes(entry / "inblob");
      ASSERT_TRUE(inblob);
      ASSERT_EQ(inblob->size(), 64u);
      int writes = 1 + (std::filesystem::exists(entry / "privlevel") ? 1 : 0);
      Write(entry / "generation", std::to_string(gen() + writes + extra_generation_after_write) + "\n");
      if (provider == "sev_guest") {
        auto& pki = SnpTestPki::Get();
        Bytes report = pki.BaseReportUnsigned();
        std::memcpy(report.data() + in::kSnpOffReportData, inblob->data(), 64);
        if (std::filesystem::exists(entry / "privlevel")) {
          in::StoreLe32(report.data() + in::kSnpOffVmpl, static_cast<std::uint32_t>(std::stoi(ReadText(entry / "privlevel"))));
        }
        SnpTestPki::SignReport(report, pki.vcek.key.get());
        WriteBytes(entry / "outblob", report);
        WriteBytes(entry / "auxblob", in::BuildSnpCertTable({{"vcek", pki.vcek.der}, {"ask", pki.ask.der}, {"ark", pki.ark.der}}));
      } else {
        testing::TdxQuoteSpec spec;
        std::memcpy(spec.report_data.data(), inblob->data(), 64);
        WriteBytes(entry / "outblob", testing::TdxTestPki::Get().MakeQuote(spec));
      }
    } else if (step == "read") {
      if (extra_generation_after_read) Write(entry / "generation", std::to_string(gen() + extra_generation_after_read) + "\n");
    }
  }
};

ReportData Nonce() {
  ReportData d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(i * 3 + 1);
  return d;
}

bool IsEmptyDir(const std::filesystem::path& p) { return std::filesystem::is_empty(p); }

TEST(ConfigfsTsmTest, SnpEvidenceFromFakeTreeVerifies) {
  TempDir dir;
  FakeTsm fake;
  ProviderOptions o;
  o.configfs_tsm_root = dir.path();
  auto provider = in::MakeConfigfsTsmProvider(o, "", fake.Hook());
  ASSERT_TRUE(provider) << provider.error().ToString();
  EXPECT_EQ((*provider)->platform(), Platform::kSevSnp);
  EXPECT_NE((*provider)->description().find("configfs-tsm"), std::string::npos);
  EXPECT_NE((*provider)->description().find("sev_guest"), std::string::npos);
  EXPECT_TRUE(IsEmptyDir(dir.path())) << "probe entry left behind";

  auto e = (*provider)->GetEvidence(Nonce());
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(e->platform, Platform::kSevSnp);
  EXPECT_EQ(e->report.size(), 1184u);
  ASSERT_EQ(e->certificates.size(), 3u);  // VCEK, ASK, ARK from the auxblob
  EXPECT_TRUE(IsEmptyDir(dir.path())) << "entry not removed";
  VerifyOptions vo;
  vo.at = *ParseRfc3339("2026-01-01");
  vo.expected_report_data = Nonce();
  auto v = VerifyEvidence(*e, SnpTestPki::Get().MakePolicy(), vo);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->accepted) << v->FirstFailure();
  // A second request uses a fresh entry.
  ASSERT_TRUE((*provider)->GetEvidence(Nonce()));
  EXPECT_EQ(fake.entries_seen, 3);  // probe + two requests
}

TEST(ConfigfsTsmTest, ChangedGenerationWhileReadingIsRejected) {
  TempDir dir;
  FakeTsm fake;
  fake.extra_generation_after_read = 1;
  ProviderOptions o;
  o.configfs_tsm_root = dir.path();
  auto provider = in::MakeConfigfsTsmProvider(o, "sev-snp", fake.Hook());
  ASSERT_TRUE(provider);
  auto e = (*provider)->GetEvidence(Nonce());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), ErrorCode::kAborted);
  EXPECT_NE(e.error().message().find("generation"), std::string::npos);
  EXPECT_TRUE(IsEmptyDir(dir.path())) << "entry not removed after a failure";
}

TEST(ConfigfsTsmTest, AnotherWriterBetweenWriteAndReadIsRejected) {
  TempDir dir;
  FakeTsm fake;
  fake.extra_generation_after_write = 1;
  ProviderOptions o;
  o.configfs_tsm_root = dir.path();
  auto provider = in::MakeConfigfsTsmProvider(o, "", fake.Hook());
  ASSERT_TRUE(provider);
  auto e = (*provider)->GetEvidence(Nonce());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), ErrorCode::kAborted);
  EXPECT_NE(e.error().message().find("another process"), std::string::npos);
}

TEST(ConfigfsTsmTest, PrivlevelWrittenForVmpl) {
  TempDir dir;
  FakeTsm fake;
  ProviderOptions o;
  o.configfs_tsm_root = dir.path();
  o.vmpl = 2;
  auto provider = in::MakeConfigfsTsmProvider(o, "", fake.Hook());
  ASSERT_TRUE(provider);
  auto e = (*provider)->GetEvidence(Nonce());
  ASSERT_TRUE(e) << e.error().ToString();
  auto r = in::ParseSnpReport(e->report);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->vmpl, 2u);
}

TEST(ConfigfsTsmTest, TdxEvidenceFromFakeTree) {
  TempDir dir;
  FakeTsm fake;
  fake.provider = "tdx_guest";
  ProviderOptions o;
  o.configfs_tsm_root = dir.path();
  auto provider = in::MakeConfigfsTsmProvider(o, "tdx", fake.Hook());
  ASSERT_TRUE(provider) << provider.error().ToString();
  EXPECT_EQ((*provider)->platform(), Platform::kTdx);
  auto e = (*provider)->GetEvidence(Nonce());
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_TRUE(e->certificates.empty());
  VerifyOptions vo;
  vo.at = *ParseRfc3339("2026-01-01");
  vo.expected_report_data = Nonce();
  auto v = VerifyEvidence(*e, testing::TdxTestPki::Get().MakePolicy(), vo);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->accepted) << v->FirstFailure();
}

TEST(ConfigfsTsmTest, WrongPlatformAndMissingRoot) {
  TempDir dir;
  FakeTsm fake;
  ProviderOptions o;
  o.configfs_tsm_root = dir.path();
  auto wrong = in::MakeConfigfsTsmProvider(o, "tdx", fake.Hook());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(IsEmptyDir(dir.path()));
  o.configfs_tsm_root = dir / "absent";
  auto missing = in::MakeConfigfsTsmProvider(o, "", nullptr);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kUnavailable);
}

TEST(ConfigfsTsmTest, OperatorCertificateFilesAreAppended) {
  TempDir dir;
  FakeTsm fake;
  auto& pki = SnpTestPki::Get();
  std::string pem;
  {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, pki.ask.cert.get());
    PEM_write_bio_X509(bio, pki.ark.cert.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<std::size_t>(n));
    BIO_free(bio);
  }
  std::filesystem::create_directories(dir / "tsm");
  Write(dir / "chain.pem", pem);
  ProviderOptions o;
  o.configfs_tsm_root = dir / "tsm";
  o.certificate_files = {dir / "chain.pem"};
  auto provider = in::MakeConfigfsTsmProvider(o, "", fake.Hook());
  ASSERT_TRUE(provider);
  auto e = (*provider)->GetEvidence(Nonce());
  ASSERT_TRUE(e) << e.error().ToString();
  EXPECT_EQ(e->certificates.size(), 5u);
  o.certificate_files = {dir / "missing.pem"};
  auto bad = in::MakeConfigfsTsmProvider(o, "", fake.Hook());
  ASSERT_TRUE(bad);
  EXPECT_FALSE((*bad)->GetEvidence(Nonce()));
}

TEST(SevGuestTest, AbsentDeviceIsAClearError) {
  TempDir dir;
  ProviderOptions o;
  o.configfs_tsm_root = dir / "no-tsm";
  o.sev_guest_device = dir / "sev-guest";
  auto p = in::MakeSevGuestProvider(o);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(p.error().message().find("sev-guest"), std::string::npos);
  for (const char* kind : {"auto", "sev-snp", "tdx"}) {
    auto any = MakeEvidenceProvider(kind, o);
    ASSERT_FALSE(any) << kind;
    EXPECT_NE(any.error().message().find("no-tsm"), std::string::npos) << any.error().message();
  }
  auto a = MakeEvidenceProvider("auto", o);
  EXPECT_NE(a.error().message().find("sim"), std::string::npos) << "should suggest sim for development";
}

TEST(SnpCertTableTest, ParsesBothGuidOrdersAndRejectsBadOffsets) {
  auto& pki = SnpTestPki::Get();
  Bytes t = in::BuildSnpCertTable({{"vcek", pki.vcek.der}, {"ask", pki.ask.der}, {"ark", pki.ark.der}});
  auto certs = in::ParseSnpCertTable(t);
  ASSERT_TRUE(certs) << certs.error().ToString();
  ASSERT_EQ(certs->size(), 3u);
  EXPECT_EQ((*certs)[0], pki.vcek.der);
  // EFI (little-endian) GUID layout of the VCEK entry: 8d75da63-64e6-6445-...
  Bytes le = t;
  std::reverse(le.begin(), le.begin() + 4);
  std::reverse(le.begin() + 4, le.begin() + 6);
  std::reverse(le.begin() + 6, le.begin() + 8);
  ASSERT_TRUE(in::ParseSnpCertTable(le));
  EXPECT_EQ(in::ParseSnpCertTable(le)->size(), 3u);
  // Zero padding after a certificate (hosts pad to a page) is tolerated.
  Bytes padded = t;
  padded.resize(padded.size() + 4096, 0);
  EXPECT_EQ(in::ParseSnpCertTable(padded)->size(), 3u);
  // Offset past the end.
  Bytes bad = t;
  in::StoreLe32(bad.data() + 16, 1u << 30);
  EXPECT_FALSE(in::ParseSnpCertTable(bad));
  // No terminator.
  EXPECT_FALSE(in::ParseSnpCertTable(ByteSpan(t).first(24)));
  // A known GUID whose data is not a certificate.
  Bytes junk = in::BuildSnpCertTable({{"vcek", Bytes(100, 0x42)}});
  EXPECT_FALSE(in::ParseSnpCertTable(junk));
}

TEST(SealingKeyTest, SimKeyIsDeterministicAndLabelled) {
  TempDir dir;
  ASSERT_TRUE(GenerateSimPlatformKeyFile(dir / "platform.key"));
  SealingKeyOptions o;
  o.kind = "sim";
  o.sim_platform_key = dir / "platform.key";
  auto p = MakeSealingKeyProvider(o);
  ASSERT_TRUE(p) << p.error().ToString();
  auto k1 = (*p)->GetKey();
  auto k2 = (*p)->GetKey();
  ASSERT_TRUE(k1 && k2);
  EXPECT_EQ(k1->size(), 32u);
  EXPECT_TRUE(crypto::ConstantTimeEqual(k1->span(), k2->span()));
  o.label = "other";
  auto k3 = (*MakeSealingKeyProvider(o))->GetKey();
  EXPECT_FALSE(crypto::ConstantTimeEqual(k1->span(), k3->span()));
  EXPECT_NE((*p)->description().find("NOT protected"), std::string::npos);
}

TEST(SealingKeyTest, KeyFileRawOrHex) {
  TempDir dir;
  Bytes raw(32, 0x07);
  WriteBytes(dir / "raw.key", raw);
  Write(dir / "hex.key", HexEncode(raw) + "\n");
  Write(dir / "bad.key", "too short\n");
  SealingKeyOptions o;
  o.kind = "key-file";
  o.key_file = dir / "raw.key";
  auto a = (*MakeSealingKeyProvider(o))->GetKey();
  o.key_file = dir / "hex.key";
  auto b = (*MakeSealingKeyProvider(o))->GetKey();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(crypto::ConstantTimeEqual(a->span(), b->span()));
  EXPECT_FALSE(crypto::ConstantTimeEqual(a->span(), raw));  // derived, not the file's bytes
  o.key_file = dir / "bad.key";
  auto c = (*MakeSealingKeyProvider(o))->GetKey();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("bad.key"), std::string::npos);
}

TEST(SealingKeyTest, SnpDerivedKeyAbsentAndAutoFallsBackToKeyFile) {
  TempDir dir;
  SealingKeyOptions o;
  o.kind = "sev-snp";
  o.sev_guest_device = dir / "sev-guest";
  auto p = MakeSealingKeyProvider(o);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), ErrorCode::kUnavailable);
  o.kind = "auto";
  EXPECT_FALSE(MakeSealingKeyProvider(o));
  WriteBytes(dir / "k", Bytes(32, 1));
  o.key_file = dir / "k";
  auto f = MakeSealingKeyProvider(o);
  ASSERT_TRUE(f);
  EXPECT_NE((*f)->description().find("key-file"), std::string::npos);
  o.kind = "tpm";
  EXPECT_FALSE(MakeSealingKeyProvider(o));
}

}  // namespace
}  // namespace cairn::attestation
