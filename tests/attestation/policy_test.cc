// Policy TOML parsing (strict), platform names, RFC 3339 times and the built-in roots.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/attestation/attestation.h"
#include "common/core/file.h"
#include "tests/attestation/test_util.h"

namespace cairn::attestation {
namespace {

const std::string kM1 = std::string(96, 'a');
const std::string kM2 = std::string(96, 'b');

TEST(PolicyTest, FullPolicyParses) {
  std::string text = R"(
platforms = ["sev-snp", "tdx", "sim"]
extra_roots = [")" + std::string(64, 'c') + R"("]
max_evidence_age_seconds = 600
[sev-snp]
measurements = [")" + kM1 + R"(", ")" + kM2 + R"("]
allow_debug = false
allow_migration_agent = false
allow_smt = false
max_vmpl = 1
min_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115, fmc = 1 }
min_guest_svn = 2
allow_vlek = false
require_single_socket = true
host_data = [")" + std::string(64, '0') + R"("]
id_key_digests = []
[tdx]
mrtd = [")" + kM1 + R"("]
rtmr1 = [")" + kM2 + R"("]
mr_config_id = [")" + kM1 + R"("]
mr_owner = []
mr_owner_config = []
allow_debug = false
accepted_tcb_status = ["UpToDate", "SWHardeningNeeded"]
forbidden_advisory_ids = ["INTEL-SA-00837"]
min_pce_svn = 11
[sim]
platform_key = ")" + std::string(64, 'd') + R"("
measurements = []
[federation]
min_cohort = 3
max_epsilon = 8.0
max_delta = 1e-5
allowed_strategies = ["fedavg", "fedprox"]
require_secure_aggregation = true
require_hidden_cohort = true
)";
  auto p = ParsePolicy(text, "full.toml");
  ASSERT_TRUE(p) << p.error().ToString();
  ASSERT_EQ(p->platforms.size(), 3u);
  EXPECT_EQ(p->platforms[0], Platform::kSevSnp);
  EXPECT_EQ(p->platforms[2], Platform::kSim);
  ASSERT_EQ(p->extra_roots.size(), 1u);
  EXPECT_EQ(p->extra_roots[0][0], 0xcc);
  EXPECT_EQ(p->max_evidence_age, std::chrono::seconds(600));
  EXPECT_EQ(p->sev_snp.measurements.size(), 2u);
  EXPECT_EQ(p->sev_snp.measurements[1], Bytes(48, 0xbb));
  EXPECT_FALSE(p->sev_snp.allow_smt);
  EXPECT_EQ(p->sev_snp.max_vmpl, 1u);
  EXPECT_EQ(p->sev_snp.min_tcb.bootloader, 3);
  EXPECT_EQ(p->sev_snp.min_tcb.snp, 8);
  EXPECT_EQ(p->sev_snp.min_tcb.microcode, 115);
  EXPECT_EQ(p->sev_snp.min_tcb.fmc, 1);
  EXPECT_EQ(p->sev_snp.min_guest_svn, 2u);
  EXPECT_FALSE(p->sev_snp.allow_vlek);
  EXPECT_TRUE(p->sev_snp.require_single_socket);
  EXPECT_EQ(p->sev_snp.host_data.size(), 1u);
  EXPECT_EQ(p->tdx.mrtd.size(), 1u);
  EXPECT_TRUE(p->tdx.rtmr[0].empty());
  EXPECT_EQ(p->tdx.rtmr[1].size(), 1u);
  EXPECT_EQ(p->tdx.mr_config_id.size(), 1u);
  EXPECT_EQ(p->tdx.accepted_tcb_status.size(), 2u);
  EXPECT_EQ(p->tdx.forbidden_advisory_ids[0], "INTEL-SA-00837");
  EXPECT_EQ(p->tdx.min_pce_svn, 11u);
  ASSERT_TRUE(p->sim.platform_key);
  EXPECT_EQ((*p->sim.platform_key)[31], 0xdd);
  EXPECT_EQ(p->federation.min_cohort, 3);
  EXPECT_DOUBLE_EQ(*p->federation.max_epsilon, 8.0);
  EXPECT_DOUBLE_EQ(*p->federation.max_delta, 1e-5);
  EXPECT_EQ(p->federation.allowed_strategies.size(), 2u);
  EXPECT_EQ(p->federation.require_secure_aggregation, true);
  EXPECT_EQ(p->federation.require_hidden_cohort, true);
}

TEST(PolicyTest, DefaultsAreSafe) {
  auto p = ParsePolicy("platforms = [\"sev-snp\"]\n", "min.toml");
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_FALSE(p->sev_snp.allow_debug);
  EXPECT_FALSE(p->sev_snp.allow_migration_agent);
  EXPECT_TRUE(p->sev_snp.allow_smt);
  EXPECT_EQ(p->sev_snp.max_vmpl, 0u);
  EXPECT_FALSE(p->tdx.allow_debug);
  EXPECT_FALSE(p->tdx.allow_migration);
  EXPECT_FALSE(p->tdx.allow_missing_crls);
  EXPECT_EQ(p->tdx.min_tcb_evaluation_data_number, 0u);
  EXPECT_TRUE(p->tdx.pinned_collateral.empty());
  ASSERT_EQ(p->tdx.accepted_tcb_status.size(), 1u);
  EXPECT_EQ(p->tdx.accepted_tcb_status[0], "UpToDate");
  EXPECT_TRUE(p->use_builtin_roots);
  EXPECT_FALSE(p->max_evidence_age);
  EXPECT_FALSE(p->federation.min_cohort);
}

// Each bad policy must fail with a message naming the file and the key.
struct BadCase {
  const char* text;
  const char* must_mention;
};

TEST(PolicyTest, StrictErrorsNameKeyAndFile) {
  const BadCase cases[] = {
      {"platforms = [\"sev-snp\"]\nplatfroms = 1\n", "platfroms"},
      {"platforms = [\"sev-snp\"]\n[sev-snp]\nallow_debgu = true\n", "sev-snp.allow_debgu"},
      {"platforms = [\"sev-snp\"]\n[sev-snp]\nmin_tcb = { bootloader = 1, snpp = 2 }\n", "sev-snp.min_tcb.snpp"},
      {"platforms = [\"sev-snp\"]\n[sev-snp]\nmin_tcb = { bootloader = 256 }\n", "bootloader"},
      {"platforms = [\"sev-snp\"]\n[sev-snp]\nmeasurements = [\"abcd\"]\n", "sev-snp.measurements"},
      {"platforms = [\"sev-snp\"]\n[sev-snp]\nmeasurements = [\"zz\"]\n", "sev-snp.measurements"},
      {"platforms = [\"sev-snp\"]\n[sev-snp]\nmax_vmpl = 4\n", "max_vmpl"},
      {"platforms = [\"sev-snp\"]\n[sev-snp]\nallow_debug = \"no\"\n", "allow_debug"},
      {"platforms = [\"tdx\"]\n[tdx]\naccepted_tcb_status = [\"Fine\"]\n", "accepted_tcb_status"},
      {"platforms = [\"tdx\"]\n[tdx]\nrtmr4 = []\n", "tdx.rtmr4"},
      {"platforms = [\"tdx\"]\n[tdx]\nallow_migration = 1\n", "tdx.allow_migration"},
      {"platforms = [\"tdx\"]\n[tdx]\nmin_tcb_evaluation_data_number = -1\n", "tdx.min_tcb_evaluation_data_number"},
      {"platforms = [\"tdx\"]\n[tdx]\ncollateral = [\"/nonexistent/tcbInfo.json\"]\n", "tdx.collateral"},
      {"platforms = [\"sgx\"]\n", "platforms"},
      {"platforms = []\n", "platforms"},
      {"[sev-snp]\nallow_debug = false\n", "platforms"},
      {"platforms = [\"sim\"]\n", "platform_key"},
      {"platforms = [\"sim\"]\n[sim]\nplatform_key = \"abcd\"\n", "sim.platform_key"},
      {"platforms = [\"sev-snp\"]\n[federation]\nmin_cohort = 0\n", "federation.min_cohort"},
      {"platforms = [\"sev-snp\"]\n[federation]\nmax_epsilon = \"8\"\n", "federation.max_epsilon"},
      {"platforms = [\"sev-snp\"]\n[federation]\nmin_cohrt = 3\n", "federation.min_cohrt"},
      {"platforms = [\"sev-snp\"]\nextra_roots = [\"00\"]\n", "extra_roots"},
      {"platforms = [\"sev-snp\"]\nuse_builtin_roots = false\n", "no root"},
      {"platforms = [\"sev-snp\"\n", "bad.toml"},
  };
  for (const auto& c : cases) {
    auto p = ParsePolicy(c.text, "bad.toml");
    ASSERT_FALSE(p) << "accepted: " << c.text;
    EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.error().message().find(c.must_mention), std::string::npos)
        << "message \"" << p.error().message() << "\" does not mention " << c.must_mention;
    EXPECT_NE(p.error().message().find("bad.toml"), std::string::npos) << p.error().message();
  }
}

TEST(PolicyTest, LoadPolicyFromFileAndExamples) {
  testing::TempDir dir;
  auto path = dir / "policy.toml";
  ASSERT_TRUE(WriteFileAtomic(path, std::string_view("platforms = [\"tdx\"]\n[tdx]\nallow_debug = true\n")));
  auto p = LoadPolicy(path);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_TRUE(p->tdx.allow_debug);
  EXPECT_EQ(p->source, path.string());
  // [tdx] collateral: files relative to the policy's folder, read and merged at load time.
  auto coll = R"({"tcb_info": "{\"id\":\"TDX\"}", "tcb_info_signature": "00"})";
  std::filesystem::create_directories(dir / "intel");
  ASSERT_TRUE(WriteFileAtomic(dir / "intel" / "bundle.json", std::string_view(coll)));
  ASSERT_TRUE(WriteFileAtomic(path, std::string_view("platforms = [\"tdx\"]\n[tdx]\ncollateral = [\"intel/bundle.json\"]\n")));
  auto pinned = LoadPolicy(path);
  ASSERT_TRUE(pinned) << pinned.error().ToString();
  EXPECT_NE(std::string(pinned->tdx.pinned_collateral.begin(), pinned->tdx.pinned_collateral.end()).find("tcb_info_signature"),
            std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(path, std::string_view("platforms = [\"tdx\"]\n[tdx]\ncollateral = [\"intel/none.json\"]\n")));
  auto absent = LoadPolicy(path);
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().message().find("tdx.collateral"), std::string::npos) << absent.error().message();
  EXPECT_NE(absent.error().message().find("none.json"), std::string::npos) << absent.error().message();
  auto missing = LoadPolicy(dir / "none.toml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("none.toml"), std::string::npos);

  // Every example policy in the repository parses.
  std::filesystem::path examples = testing::SourceDir() / "examples" / "policies";
  if (!std::filesystem::exists(examples)) GTEST_SKIP() << examples << " not found: skipping examples";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(examples)) {
    if (e.path().extension() != ".toml") continue;
    auto ex = LoadPolicy(e.path());
    EXPECT_TRUE(ex) << e.path() << ": " << ex.error().ToString();
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(PlatformTest, NamesRoundTrip) {
  for (auto p : {Platform::kSim, Platform::kSevSnp, Platform::kTdx}) {
    auto back = ParsePlatform(PlatformName(p));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, p);
  }
  EXPECT_EQ(PlatformName(Platform::kSevSnp), "sev-snp");
  EXPECT_FALSE(ParsePlatform("SEV-SNP"));
}

TEST(TimeTest, Rfc3339) {
  auto t = ParseRfc3339("2024-01-01T00:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count(), 1704067200);
  auto d = ParseRfc3339("2024-01-01");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, *t);
  auto off = ParseRfc3339("2024-01-01T01:30:00+01:30");
  ASSERT_TRUE(off);
  EXPECT_EQ(*off, *t);
  auto frac = ParseRfc3339("2024-01-01T00:00:00.5Z");
  ASSERT_TRUE(frac);
  EXPECT_EQ(*frac - *t, std::chrono::milliseconds(500));
  EXPECT_EQ(FormatRfc3339(*t), "2024-01-01T00:00:00Z");
  for (const char* bad : {"", "2024-13-01", "2024-02-30T00:00:00Z", "2024-01-01T25:00:00Z",
                          "2024-01-01T00:00:00", "yesterday", "2024-01-01T00:00:00+0100",
                          "9999-12-31T00:00:00Z", "1000-01-01"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
}

TEST(RootsTest, BuiltinListHasAmdAndIntelRoots) {
  const auto& roots = BuiltinRoots();
  ASSERT_EQ(roots.size(), 4u);
  EXPECT_EQ(HexEncode(roots[0].fingerprint),
            "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd");
  EXPECT_EQ(HexEncode(roots[3].fingerprint),
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
}

}  // namespace
}  // namespace cairn::attestation
