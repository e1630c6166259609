// scripts/cvm: the initrd (built for real from the aggregator binary and checked entry by
// entry), /init's settings, the measured-boot hashes table, OVMF footer parsing on a fabricated
// firmware image, the QEMU command lines (shape only: no SEV-SNP or TDX hardware here), and that
// every consumer of cairn-aggregator's flags uses flags the binary has.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "common/core/bytes.h"
#include "common/core/file.h"
#include "common/crypto/crypto.h"
#include "tests/support/process.h"

namespace cairn::testing_support {
namespace {

using std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// A reader of cpio "newc" archives (the kernel's initramfs format).

struct CpioEntry {
  std::string name;
  std::uint32_t mode = 0;
  std::uint32_t rdev_major = 0, rdev_minor = 0;
  std::uint32_t uid = 0, gid = 0, mtime = 0;
  Bytes data;
};

Result<std::vector<CpioEntry>> ReadNewc(const Bytes& a) {
  std::vector<CpioEntry> out;
  std::size_t off = 0;
  auto field = [&](std::size_t at, int i) -> Result<std::uint32_t> {
    std::string hex(reinterpret_cast<const char*>(a.data() + at + 6 + 8 * i), 8);
    auto b = HexDecode(hex);
    if (!b) return Fail(ErrorCode::kDataLoss, "bad hex field at " + std::to_string(at));
    return (std::uint32_t((*b)[0]) << 24) | (std::uint32_t((*b)[1]) << 16) | (std::uint32_t((*b)[2]) << 8) | (*b)[3];
  };
  for (;;) {
    if (off + 110 > a.size()) return Fail(ErrorCode::kDataLoss, "truncated header at " + std::to_string(off));
    if (std::string(a.begin() + off, a.begin() + off + 6) != "070701") {
      return Fail(ErrorCode::kDataLoss, "bad magic at " + std::to_string(off));
    }
    CpioEntry e;
    CAIRN_ASSIGN_OR_RETURN(e.mode, field(off, 1));
    CAIRN_ASSIGN_OR_RETURN(e.uid, field(off, 2));
    CAIRN_ASSIGN_OR_RETURN(e.gid, field(off, 3));
    CAIRN_ASSIGN_OR_RETURN(e.mtime, field(off, 5));
    CAIRN_ASSIGN_OR_RETURN(std::uint32_t size, field(off, 6));
    CAIRN_ASSIGN_OR_RETURN(e.rdev_major, field(off, 9));
    CAIRN_ASSIGN_OR_RETURN(e.rdev_minor, field(off, 10));
    CAIRN_ASSIGN_OR_RETURN(std::uint32_t namesize, field(off, 11));
    if (off + 110 + namesize > a.size() || namesize == 0) return Fail(ErrorCode::kDataLoss, "bad name size");
    e.name.assign(reinterpret_cast<const char*>(a.data() + off + 110), namesize - 1);
    if (a[off + 110 + namesize - 1] != 0) return Fail(ErrorCode::kDataLoss, "name not NUL-terminated");
    off = (off + 110 + namesize + 3) & ~std::size_t{3};
    if (off + size > a.size()) return Fail(ErrorCode::kDataLoss, "truncated data of " + e.name);
    e.data.assign(a.begin() + off, a.begin() + off + size);
    off = (off + size + 3) & ~std::size_t{3};
    bool trailer = e.name == "TRAILER!!!";
    out.push_back(std::move(e));
    if (trailer) break;
  }
  if (off != a.size()) return Fail(ErrorCode::kDataLoss, "bytes after the trailer");
  return out;
}

bool IsStaticElf(const Bytes& elf) {
  if (elf.size() < 64 || elf[0] != 0x7f || elf[1] != 'E' || elf[2] != 'L' || elf[3] != 'F' || elf[4] != 2) return false;
  auto u64 = [&](std::size_t at) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | elf[at + i];
    return v;
  };
  auto u16 = [&](std::size_t at) { return static_cast<std::uint16_t>(elf[at] | (elf[at + 1] << 8)); };
  std::uint64_t phoff = u64(32);
  std::uint16_t phentsize = u16(54), phnum = u16(56);
  for (std::uint16_t i = 0; i < phnum; ++i) {
    std::size_t at = phoff + std::size_t{i} * phentsize;
    if (at + 4 > elf.size()) return false;
    if ((elf[at] | (elf[at + 1] << 8)) == 3) return false;  // PT_INTERP: needs a dynamic loader
  }
  return true;
}

// The byte order EFI stores a GUID in.
Bytes GuidLe(std::string guid) {
  guid.erase(std::remove(guid.begin(), guid.end(), '-'), guid.end());
  Bytes b = *HexDecode(guid);
  std::reverse(b.begin(), b.begin() + 4);
  std::reverse(b.begin() + 4, b.begin() + 6);
  std::reverse(b.begin() + 6, b.begin() + 8);
  return b;
}

void AppendLe(Bytes& b, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::map<std::string, std::string> KeyValues(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) kv[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return kv;
}

class CvmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SourceDir().empty()) GTEST_SKIP() << "CAIRN_SOURCE_DIR not set: run through ctest";
    ASSERT_TRUE(crypto::Init());
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn-cvm-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string Script(std::string_view name) { return (SourceDir() / "scripts" / "cvm" / name).string(); }

  Result<RunOutput> Run(std::vector<std::string> args, std::string err_name = "stderr.txt") {
    SubprocessOptions o;
    o.args = std::move(args);
    o.stderr_file = dir_ / err_name;
    return RunToCompletion(o, seconds(300));
  }
  std::string Err(std::string err_name = "stderr.txt") {
    auto t = ReadFileText(dir_ / err_name);
    return t ? *t : "";
  }
  std::filesystem::path Aggregator() { return BinDir() / "cairn-aggregator"; }
  bool HaveAggregator() { return !BinDir().empty() && std::filesystem::exists(Aggregator()); }

  Result<std::vector<CpioEntry>> BuildAndRead(const std::filesystem::path& out, const std::filesystem::path& config) {
    auto r = Run({Script("build-initrd.sh"), "--aggregator", Aggregator().string(), "--config", config.string(),
                  "--out", out.string()});
    if (!r) return Fail(r.error());
    if (r->exit_code != 0) return Fail(ErrorCode::kInternal, "build-initrd.sh failed: " + Err());
    auto unzip = Run({"/bin/sh", "-c", "gzip -dc '" + out.string() + "' > '" + out.string() + ".cpio'"});
    if (!unzip || unzip->exit_code != 0) return Fail(ErrorCode::kInternal, "gzip -dc failed");
    CAIRN_ASSIGN_OR_RETURN(Bytes raw, ReadFileBytes(out.string() + ".cpio", 1ull << 31));
    return ReadNewc(raw);
  }

  std::filesystem::path dir_;
};

TEST_F(CvmTest, InitrdHoldsTheAggregatorItsLibrariesInitAndConfig) {
  if (!HaveAggregator()) GTEST_SKIP() << "cairn-aggregator not built: skipping the initrd test";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "federation.toml", "[federation]\nid = \"x\"\n"));
  auto entries = BuildAndRead(dir_ / "initrd.cpio.gz", dir_ / "federation.toml");
  ASSERT_TRUE(entries) << entries.error().message();
  std::map<std::string, const CpioEntry*> by_name;
  std::set<std::string> seen_dirs;
  for (const auto& e : *entries) {
    EXPECT_FALSE(by_name.contains(e.name)) << "duplicate " << e.name;
    by_name[e.name] = &e;
    EXPECT_EQ(e.uid, 0u) << e.name;
    EXPECT_EQ(e.gid, 0u) << e.name;
    EXPECT_EQ(e.mtime, 0u) << e.name << ": reproducible archives carry no time";
    auto slash = e.name.rfind('/');
    if (slash != std::string::npos && e.name != "TRAILER!!!") {
      EXPECT_TRUE(seen_dirs.contains(e.name.substr(0, slash))) << e.name << " comes before its folder";
    }
    if ((e.mode & 0170000) == 0040000) seen_dirs.insert(e.name);
  }
  ASSERT_EQ(entries->back().name, "TRAILER!!!");

  auto expect_file = [&](const std::string& name, const Bytes& content, std::uint32_t perm) {
    ASSERT_TRUE(by_name.contains(name)) << name;
    EXPECT_EQ(by_name[name]->mode, 0100000u | perm) << name;
    EXPECT_TRUE(by_name[name]->data == content) << name << " differs from its source";
  };
  auto binary = ReadFileBytes(Aggregator(), 1ull << 31);
  ASSERT_TRUE(binary);
  expect_file("usr/bin/cairn-aggregator", *binary, 0755);
  expect_file("etc/cairn/federation.toml", ToBytes("[federation]\nid = \"x\"\n"), 0644);
  ASSERT_TRUE(by_name.contains("init"));
  EXPECT_EQ(by_name["init"]->mode, 0100755u);
  EXPECT_TRUE(IsStaticElf(by_name["init"]->data)) << "/init must not need a loader";
  ASSERT_TRUE(by_name.contains("dev/console"));
  EXPECT_EQ(by_name["dev/console"]->mode, 0020600u);
  EXPECT_EQ(by_name["dev/console"]->rdev_major, 5u);
  EXPECT_EQ(by_name["dev/console"]->rdev_minor, 1u);
  for (const char* d : {"proc", "sys", "dev", "tmp", "run", "var/lib/cairn"}) {
    EXPECT_TRUE(seen_dirs.contains(d)) << d;
  }

  // Every library ldd resolves is there, byte for byte.
  auto ldd = Run({"/usr/bin/ldd", Aggregator().string()});
  ASSERT_TRUE(ldd && ldd->exit_code == 0);
  std::istringstream lines(ldd->stdout_text);
  std::string line;
  int libs = 0;
  std::regex arrow(R"(=>\s+(/\S+))"), bare(R"(^\s*(/\S+)\s+\()");
  while (std::getline(lines, line)) {
    std::smatch m;
    std::string path;
    if (std::regex_search(line, m, arrow)) path = m[1];
    else if (std::regex_search(line, m, bare)) path = m[1];
    if (path.empty()) continue;
    auto content = ReadFileBytes(std::filesystem::canonical(path), 1ull << 31);
    ASSERT_TRUE(content) << path;
    expect_file(path.substr(1), *content, 0755);
    ++libs;
  }
  EXPECT_GE(libs, 5) << "libc, libstdc++, libzmq, libsodium, the loader at least";
  EXPECT_TRUE(by_name.contains("lib64/ld-linux-x86-64.so.2"));
}

TEST_F(CvmTest, InitrdIsReproducible) {
  if (!HaveAggregator()) GTEST_SKIP() << "cairn-aggregator not built: skipping the initrd test";
  ASSERT_TRUE(WriteFileAtomic(dir_ / "federation.toml", "[federation]\nid = \"y\"\n"));
  for (const char* name : {"a.cpio.gz", "b.cpio.gz"}) {
    auto r = Run({Script("build-initrd.sh"), "--aggregator", Aggregator().string(), "--config",
                  (dir_ / "federation.toml").string(), "--out", (dir_ / name).string()});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->exit_code, 0) << Err();
    auto kv = KeyValues(r->stdout_text);
    auto bytes = ReadFileBytes(dir_ / name, 1ull << 31);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(kv["sha256"], HexEncode(crypto::Sha256(*bytes))) << "the printed hash is the file's";
  }
  EXPECT_TRUE(*ReadFileBytes(dir_ / "a.cpio.gz", 1ull << 31) == *ReadFileBytes(dir_ / "b.cpio.gz", 1ull << 31))
      << "two builds from the same inputs differ: the measurement would not be reproducible";
}

TEST_F(CvmTest, BuildInitrdRefusesAMissingBinary) {
  auto r = Run({Script("build-initrd.sh"), "--aggregator", (dir_ / "nope").string(), "--out",
                (dir_ / "x.cpio.gz").string()});
  ASSERT_TRUE(r);
  EXPECT_NE(r->exit_code, 0);
  EXPECT_NE(Err().find("nope"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.cpio.gz"));
}

TEST_F(CvmTest, InitTakesItsSettingsFromTheMeasuredCommandLine) {
  auto cc = Run({"/bin/sh", "-c", "command -v cc"});
  if (!cc || cc->exit_code != 0) GTEST_SKIP() << "no C compiler: skipping the /init test";
  auto build = Run({"/bin/sh", "-c", "cc -static -Os -Wall -Wextra -Werror -o '" + (dir_ / "init").string() + "' '" +
                                         Script("init.c") + "'"});
  ASSERT_TRUE(build);
  ASSERT_EQ(build->exit_code, 0) << Err();
  auto r = Run({(dir_ / "init").string(), "--dry-run",
                "console=ttyS0 cairn.ip=10.0.2.15/24 cairn.gw=10.0.2.2 cairn.state=/dev/vdb cairn.state_fs=xfs "
                "cairn.attestation=tdx cairn.sealing=none;reboot cairn.metrics=0.0.0.0:9464 cairn.log_format=text"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->exit_code, 0) << Err();
  const std::string& out = r->stdout_text;
  EXPECT_NE(out.find("mount configfs configfs /sys/kernel/config\n"), std::string::npos) << out;
  EXPECT_NE(out.find("address eth0 10.0.2.15/24\n"), std::string::npos) << out;
  EXPECT_NE(out.find("route default via 10.0.2.2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("mount xfs /dev/vdb /var/lib/cairn\n"), std::string::npos) << out;
  EXPECT_NE(out.find("exec /usr/bin/cairn-aggregator run --config /etc/cairn/federation.toml "
                     "--state-dir /var/lib/cairn/state --attestation tdx --sealing auto --log-format text "
                     "--metrics-listen 0.0.0.0:9464\n"),
            std::string::npos)
      << "an unknown sealing value falls back to auto:\n"
      << out;
  // No state device: memory only, said so.
  r = Run({(dir_ / "init").string(), "--dry-run", "console=ttyS0"});
  ASSERT_TRUE(r);
  EXPECT_NE(r->stdout_text.find("mount tmpfs tmpfs /var/lib/cairn\n"), std::string::npos);
  EXPECT_NE(Err().find("lost at power-off"), std::string::npos);
}

TEST_F(CvmTest, HashesTableIsBuiltAsQemuBuildsIt) {
  Bytes kernel(12345);
  crypto::RandomBytes(kernel);
  ASSERT_TRUE(WriteFileAtomic(dir_ / "bzImage", kernel));
  Bytes initrd = ToBytes("an initrd");
  ASSERT_TRUE(WriteFileAtomic(dir_ / "initrd", initrd));
  std::string append = "console=ttyS0 cairn.ip=10.0.2.15/24";
  auto r = Run({Script("expected-measurement.sh"), "--kernel", (dir_ / "bzImage").string(), "--initrd",
                (dir_ / "initrd").string(), "--append", append});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->exit_code, 0) << Err();
  auto kv = KeyValues(r->stdout_text);
  std::string cmdline = append + std::string(1, '\0');
  auto kernel_hash = crypto::Sha256(kernel);
  auto initrd_hash = crypto::Sha256(initrd);
  auto cmdline_hash = crypto::Sha256(AsBytes(cmdline));
  EXPECT_EQ(kv["kernel_sha256"], HexEncode(kernel_hash));
  EXPECT_EQ(kv["initrd_sha256"], HexEncode(initrd_hash));
  EXPECT_EQ(kv["cmdline_sha256"], HexEncode(cmdline_hash)) << "the command line is hashed with its NUL";

  // QEMU's SevHashTable: header GUID, u16 length 168; entries cmdline, initrd, kernel, each
  // GUID ‖ u16 50 ‖ SHA-256; zero padding to 176.
  Bytes table = GuidLe("9438d606-4f22-4cc9-b479-a793d411fd21");
  AppendLe(table, 168, 2);
  auto add = [&](const char* guid, const crypto::Sha256Digest& h) {
    AppendBytes(table, GuidLe(guid));
    AppendLe(table, 50, 2);
    AppendBytes(table, h);
  };
  add("97d02dd8-bd20-4c94-aa78-e7714d36ab2a", cmdline_hash);
  add("44baf731-3a2f-4bd7-9af1-41e29169781d", initrd_hash);
  add("4de79437-abd2-427f-b835-d5b172d2045b", kernel_hash);
  ASSERT_EQ(table.size(), 168u);
  table.resize(176, 0);
  EXPECT_EQ(kv["sev_hashes_table"], HexEncode(table));
  EXPECT_TRUE(kv["launch_measurement"].starts_with("not computed")) << "no made-up measurement";

  // No initrd and no command line: SHA-256 of nothing, and of a lone NUL.
  r = Run({Script("expected-measurement.sh"), "--kernel", (dir_ / "bzImage").string(), "--json"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->exit_code, 0) << Err();
  EXPECT_NE(r->stdout_text.find("\"initrd_sha256\":\"" + HexEncode(crypto::Sha256({})) + "\""), std::string::npos);
  Bytes nul(1, 0);
  EXPECT_NE(r->stdout_text.find("\"cmdline_sha256\":\"" + HexEncode(crypto::Sha256(nul)) + "\""), std::string::npos);
  EXPECT_NE(r->stdout_text.find("\"launch_measurement\":null"), std::string::npos);
}

TEST_F(CvmTest, OvmfFooterTableGivesTheHashesPageAndMetadata) {
  // A fabricated 64 KiB firmware image with the footer GUID table OVMF ends with: a hashes-table
  // entry (gpa, size), a metadata entry (offset from the end) pointing at an "ASEV" block.
  const std::size_t size = 64 * 1024;
  const std::uint32_t hash_gpa = 0x80c10;  // page offset 0xc10
  Bytes fw(size, 0xAA);
  const std::size_t meta_at = 0x2000;
  Bytes meta = ToBytes("ASEV");
  AppendLe(meta, 16 + 12 * 2, 4);
  AppendLe(meta, 1, 4);
  AppendLe(meta, 2, 4);
  AppendLe(meta, 0x800000, 4), AppendLe(meta, 0x9000, 4), AppendLe(meta, 1, 4);
  AppendLe(meta, 0x80c00, 4), AppendLe(meta, 0x1000, 4), AppendLe(meta, 0x10, 4);
  std::copy(meta.begin(), meta.end(), fw.begin() + meta_at);
  Bytes table;
  AppendLe(table, hash_gpa, 4);                              // entry 1 data: gpa, size
  AppendLe(table, 0x400, 4);
  AppendLe(table, 8 + 18, 2);
  AppendBytes(table, GuidLe("7255371f-3a3b-4b04-927b-1da6efa8d454"));
  AppendLe(table, size - meta_at, 4);                        // entry 2 data: offset from the end
  AppendLe(table, 4 + 18, 2);
  AppendBytes(table, GuidLe("dc886566-984a-4798-a75e-5585a7bf67cc"));
  AppendLe(table, table.size() + 18, 2);                     // footer: total size, GUID
  AppendBytes(table, GuidLe("96b582de-1fb2-45f7-baea-a366c55a082d"));
  std::copy(table.begin(), table.end(), fw.begin() + (size - 32 - table.size()));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "OVMF.fd", fw));
  ASSERT_TRUE(WriteFileAtomic(dir_ / "bzImage", ToBytes("kernel")));

  auto r = Run({Script("expected-measurement.sh"), "--kernel", (dir_ / "bzImage").string(), "--ovmf",
                (dir_ / "OVMF.fd").string()});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->exit_code, 0) << Err();
  auto kv = KeyValues(r->stdout_text);
  EXPECT_EQ(kv["ovmf_sha256"], HexEncode(crypto::Sha256(fw)));
  EXPECT_EQ(kv["ovmf_gpa"], "0xffff0000");
  EXPECT_EQ(kv["sev_hashes_table_gpa"], "0x80c10");
  EXPECT_EQ(kv["sev_metadata"], "0x800000:0x9000:1,0x80c00:0x1000:16");
  // The hashes page: zeros, with the padded table at the GPA's offset in its page.
  auto table_bytes = HexDecode(kv["sev_hashes_table"]);
  ASSERT_TRUE(table_bytes);
  Bytes page(4096, 0);
  std::copy(table_bytes->begin(), table_bytes->end(), page.begin() + 0xc10);
  EXPECT_EQ(kv["hashes_page_sha384"], HexEncode(crypto::Sha384(page)));

  // A firmware without the table: said so, no invented GPA.
  ASSERT_TRUE(WriteFileAtomic(dir_ / "plain.fd", Bytes(8192, 0)));
  r = Run({Script("expected-measurement.sh"), "--kernel", (dir_ / "bzImage").string(), "--ovmf",
           (dir_ / "plain.fd").string()});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(KeyValues(r->stdout_text).contains("sev_hashes_table_gpa"));
  EXPECT_NE(Err().find("no OVMF footer table"), std::string::npos) << Err();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) v.push_back(line);
  return v;
}
std::string After(const std::vector<std::string>& args, std::string_view flag, std::size_t nth = 0) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag && nth-- == 0) return args[i + 1];
  }
  return "";
}

TEST_F(CvmTest, SnpLaunchCommandHasMeasuredDirectBoot) {
  auto r = Run({Script("launch-snp.sh"), "--ovmf", "/fw/OVMF.amdsev.fd", "--kernel", "/k/bzImage", "--initrd",
                "/k/initrd.cpio.gz", "--state-image", "/s/state.img", "--metrics", "9464", "--append", "quiet",
                "--dry-run"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->exit_code, 0) << Err();
  auto args = Lines(r->stdout_text);
  EXPECT_EQ(args.at(0), "qemu-system-x86_64");
  EXPECT_EQ(After(args, "-bios"), "/fw/OVMF.amdsev.fd");
  EXPECT_EQ(After(args, "-kernel"), "/k/bzImage");
  EXPECT_EQ(After(args, "-initrd"), "/k/initrd.cpio.gz");
  std::string machine = After(args, "-machine");
  EXPECT_NE(machine.find("confidential-guest-support=sev0"), std::string::npos) << machine;
  EXPECT_NE(machine.find("memory-backend=ram1"), std::string::npos) << machine;
  std::string mem = After(args, "-object", 0), snp = After(args, "-object", 1);
  EXPECT_TRUE(mem.starts_with("memory-backend-memfd,id=ram1,")) << mem;
  EXPECT_TRUE(snp.starts_with("sev-snp-guest,id=sev0,")) << snp;
  EXPECT_NE(snp.find("kernel-hashes=on"), std::string::npos) << snp;
  EXPECT_NE(snp.find("policy=0x30000"), std::string::npos) << snp;
  std::string cmdline = After(args, "-append");
  EXPECT_TRUE(cmdline.ends_with(" quiet")) << cmdline;
  for (const char* p : {"cairn.attestation=sev-snp", "cairn.sealing=sev-snp", "cairn.state=/dev/vda",
                        "cairn.metrics=0.0.0.0:9464"}) {
    EXPECT_NE(cmdline.find(p), std::string::npos) << p;
  }
  EXPECT_NE(Err().find(cmdline), std::string::npos) << "the measured command line is printed for the operator";
  std::string net = After(args, "-netdev");
  for (const char* p : {"hostfwd=tcp::7700-:7700", "hostfwd=tcp::7701-:7701", "hostfwd=tcp::7702-:7702",
                        "hostfwd=tcp::9464-:9464"}) {
    EXPECT_NE(net.find(p), std::string::npos) << p;
  }
  EXPECT_NE(After(args, "-device").find("iommu_platform=on"), std::string::npos);
  // Required inputs.
  r = Run({Script("launch-snp.sh"), "--kernel", "k", "--initrd", "i", "--dry-run"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(Err().find("--ovmf"), std::string::npos);
}

TEST_F(CvmTest, TdxLaunchCommandUsesATdxGuest) {
  auto r = Run({Script("launch-tdx.sh"), "--tdvf", "/fw/OVMF.tdx.fd", "--kernel", "/k/bzImage", "--initrd",
                "/k/initrd.cpio.gz", "--qgs-port", "4051", "--dry-run"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->exit_code, 0) << Err();
  auto args = Lines(r->stdout_text);
  EXPECT_EQ(After(args, "-bios"), "/fw/OVMF.tdx.fd");
  std::string machine = After(args, "-machine");
  EXPECT_NE(machine.find("confidential-guest-support=tdx0"), std::string::npos) << machine;
  EXPECT_NE(machine.find("kernel_irqchip=split"), std::string::npos) << machine;
  std::string tdx = After(args, "-object", 0);
  EXPECT_NE(tdx.find("\"qom-type\":\"tdx-guest\""), std::string::npos) << tdx;
  EXPECT_NE(tdx.find("\"port\":\"4051\""), std::string::npos) << tdx;
  EXPECT_TRUE(After(args, "-object", 1).starts_with("memory-backend-memfd,id=ram1,"));
  EXPECT_NE(After(args, "-append").find("cairn.attestation=tdx"), std::string::npos);
}

// Every place that runs cairn-aggregator (systemd unit, Kubernetes manifest, /init) uses flags
// that `cairn-aggregator run` has.
TEST_F(CvmTest, ConsumersUseFlagsTheAggregatorHas) {
  if (!HaveAggregator()) GTEST_SKIP() << "cairn-aggregator not built";
  auto help = Run({Aggregator().string(), "run", "--help"});
  ASSERT_TRUE(help);
  ASSERT_EQ(help->exit_code, 0);
  std::set<std::string> consumers_flags;
  std::regex flag(R"((^|[\s"])(--[a-z][a-z0-9-]*))");
  auto collect = [&](const std::string& text) {
    for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end; ++it) {
      consumers_flags.insert((*it)[2]);
    }
  };
  auto unit = ReadFileText(SourceDir() / "scripts" / "cvm" / "cairn-aggregator.service");
  ASSERT_TRUE(unit);
  auto exec_start = unit->find("ExecStart=");
  ASSERT_NE(exec_start, std::string::npos);
  collect(unit->substr(exec_start, unit->find("\n#", exec_start) - exec_start));
  auto manifest = ReadFileText(SourceDir() / "examples" / "kubernetes" / "aggregator.yaml");
  ASSERT_TRUE(manifest);
  auto args_at = manifest->find("          args:");
  ASSERT_NE(args_at, std::string::npos);
  collect(manifest->substr(args_at, manifest->find("ports:", args_at) - args_at));
  auto init = ReadFileText(SourceDir() / "scripts" / "cvm" / "init.c");
  ASSERT_TRUE(init);
  collect(init->substr(init->find("args[n++] = \"/usr/bin/cairn-aggregator\"")));
  consumers_flags.erase("--dry-run");  // init's own test flag
  ASSERT_GE(consumers_flags.size(), 6u);
  std::vector<std::string> missing;
  for (const auto& f : consumers_flags) {
    if (help->stdout_text.find(f) == std::string::npos) missing.push_back(f);
  }
  if (missing == std::vector<std::string>{"--metrics-listen"}) {
    GTEST_SKIP() << "cairn-aggregator run has no --metrics-listen yet (the metrics wiring is pending)";
  }
  EXPECT_TRUE(missing.empty()) << "flags used but unknown to cairn-aggregator run: " << ::testing::PrintToString(missing);
}

}  // namespace
}  // namespace cairn::testing_support
