// Evidence providers inside the confidential VM: Linux configfs-tsm (kernel ≥ 6.7), the SEV-SNP
// guest device (/dev/sev-guest, SNP_GET_EXT_REPORT) as a fallback, and sim; "auto" picks.
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/attestation/providers_internal.h"
#include "common/attestation/tdx.h"
#include "common/attestation/x509.h"
#include "common/core/file.h"

namespace cairn::attestation {
namespace internal {

namespace {

struct GuidName {
  const char* text;
  const char* name;
};
constexpr GuidName kSnpGuids[] = {
    {"63da758d-e664-4564-adc5-f4b93be8accd", "vcek"},
    {"a8074bc2-a25a-483e-aae6-39c045a0b8a1", "vlek"},
    {"4ab7b379-bbac-4fe4-a02f-05aef327c782", "ask"},
    {"c0b406a4-a803-4952-9743-3fb6014cd0ae", "ark"},
};

std::array<std::uint8_t, 16> GuidBytes(std::string_view text, bool efi_little_endian) {
  std::string hex;
  for (char c : text) {
    if (c != '-') hex.push_back(c);
  }
  auto b = HexDecode(hex);
  std::array<std::uint8_t, 16> g{};
  std::copy(b->begin(), b->end(), g.begin());
  if (efi_little_endian) {
    std::reverse(g.begin(), g.begin() + 4);
    std::reverse(g.begin() + 4, g.begin() + 6);
    std::reverse(g.begin() + 6, g.begin() + 8);
  }
  return g;
}

// Maximum sizes read from configfs-tsm (what they protect: memory, against a broken kernel or a
// fake tree): an outblob is a report or quote, an auxblob a certificate table.
constexpr std::uint64_t kMaxOutblob = kMaxReportBytes;
constexpr std::uint64_t kMaxAuxblob = 64 * 1024;

Status WriteSmallFile(const std::filesystem::path& path, ByteSpan data) {
  // configfs attributes are written with one write(2), without O_CREAT on a real tree (the kernel
  // creates them); O_CREAT lets a plain folder stand in for it in tests.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kIo, "open " + path.string() + ": " + std::strerror(errno));
  ssize_t n = ::write(fd, data.data(), data.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(data.size())) {
    return Fail(ErrorCode::kIo, "write " + path.string() + ": " + (n < 0 ? std::strerror(err) : "short write"));
  }
  return Ok();
}

Result<std::uint64_t> ReadGeneration(const std::filesystem::path& entry) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(entry / "generation", 64));
  std::uint64_t v = 0;
  bool digits = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
      digits = true;
    } else if (c != '\n' && c != ' ') {
      digits = false;
      break;
    }
  }
  if (!digits) return Fail(ErrorCode::kDataLoss, (entry / "generation").string() + " is not a number");
  return v;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

std::vector<Bytes> ReadOperatorCertificates(const ProviderOptions& options, Status& status) {
  std::vector<Bytes> out;
  for (const auto& f : options.certificate_files) {
    auto c = ReadCertificateFile(f);
    if (!c) {
      status = Fail(std::move(c).error());
      return {};
    }
    out.insert(out.end(), c->begin(), c->end());
  }
  return out;
}

Status AttachOperatorFiles(const ProviderOptions& options, Evidence& e) {
  Status st = Ok();
  auto certs = ReadOperatorCertificates(options, st);
  if (!st) return st;
  e.certificates.insert(e.certificates.end(), certs.begin(), certs.end());
  if (!options.tdx_collateral_file.empty() && e.platform == Platform::kTdx) {
    CAIRN_ASSIGN_OR_RETURN(e.collateral, ReadCollateralFiles({options.tdx_collateral_file}));
  }
  return Ok();
}

// ---------------------------------------------------------------------------------------------

class ConfigfsTsmProvider final : public EvidenceProvider {
 public:
  ConfigfsTsmProvider(ProviderOptions options, Platform platform, std::string provider_name, ConfigfsHook hook)
      : options_(std::move(options)), platform_(platform), provider_name_(std::move(provider_name)),
        hook_(std::move(hook)) {}

  Platform platform() const override { return platform_; }
  std::string description() const override {
    return "configfs-tsm (" + options_.configfs_tsm_root.string() + ", provider " + provider_name_ + "), " +
           std::string(PlatformName(platform_));
  }

  Result<Evidence> GetEvidence(const ReportData& report_data) override {
    static std::atomic<std::uint64_t> counter{0};
    const std::filesystem::path entry =
        options_.configfs_tsm_root / ("cairn-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    if (::mkdir(entry.c_str(), 0700) != 0) {
      return Fail(ErrorCode::kIo, "configfs-tsm: mkdir " + entry.string() + ": " + std::strerror(errno));
    }
    auto result = Request(entry, report_data);
    // The entry is removed whatever happened (on configfs, rmdir of the entry drops its files).
    std::error_code ec;
    if (::rmdir(entry.c_str()) != 0) std::filesystem::remove_all(entry, ec);
    return result;
  }

 private:
  Result<Evidence> Request(const std::filesystem::path& entry, const ReportData& report_data) {
    if (hook_) hook_(entry, "created");
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t g0, ReadGeneration(entry));
    std::uint64_t writes = 0;
    if (platform_ == Platform::kSevSnp && options_.vmpl != 0) {
      const std::string level = std::to_string(options_.vmpl);
      CAIRN_RETURN_IF_ERROR(WriteSmallFile(entry / "privlevel", AsBytes(level)));
      ++writes;
    }
    CAIRN_RETURN_IF_ERROR(WriteSmallFile(entry / "inblob", report_data));
    ++writes;
    if (hook_) hook_(entry, "written");
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t g1, ReadGeneration(entry));
    if (g1 != g0 + writes) {
      return Fail(ErrorCode::kAborted,
                  "configfs-tsm: generation of " + entry.string() + " went from " + std::to_string(g0) + " to " +
                      std::to_string(g1) + " across our " + std::to_string(writes) +
                      " write(s): another process wrote to the entry; evidence discarded");
    }
    CAIRN_ASSIGN_OR_RETURN(Bytes outblob, ReadFileBytes(entry / "outblob", kMaxOutblob));
    Bytes auxblob;
    std::error_code ec;
    if (std::filesystem::exists(entry / "auxblob", ec)) {
      CAIRN_ASSIGN_OR_RETURN(auxblob, ReadFileBytes(entry / "auxblob", kMaxAuxblob));
    }
    if (hook_) hook_(entry, "read");
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t g2, ReadGeneration(entry));
    if (g2 != g1) {
      return Fail(ErrorCode::kAborted, "configfs-tsm: generation of " + entry.string() + " changed from " +
                                           std::to_string(g1) + " to " + std::to_string(g2) +
                                           " while reading outblob: the report may not be ours; evidence discarded");
    }
    if (outblob.empty()) return Fail(ErrorCode::kDataLoss, "configfs-tsm: empty outblob in " + entry.string());
    Evidence e;
    e.platform = platform_;
    e.report = std::move(outblob);
    if (!auxblob.empty() && platform_ == Platform::kSevSnp) {
      auto certs = ParseSnpCertTable(auxblob);
      if (!certs) return Fail(std::move(certs).error().Context("configfs-tsm auxblob"));
      e.certificates = std::move(*certs);
    }
    CAIRN_RETURN_IF_ERROR(AttachOperatorFiles(options_, e));
    return e;
  }

  ProviderOptions options_;
  Platform platform_;
  std::string provider_name_;
  ConfigfsHook hook_;
};

// ---------------------------------------------------------------------------------------------

// MSG_REPORT_RSP (SEV-SNP ABI): status u32, report_size u32, 24 reserved bytes, then the report.
constexpr std::size_t kMsgReportRspHeader = 0x20;

class SevGuestProvider final : public EvidenceProvider {
 public:
  explicit SevGuestProvider(ProviderOptions options) : options_(std::move(options)) {}
  Platform platform() const override { return Platform::kSevSnp; }
  std::string description() const override {
    return options_.sev_guest_device.string() + " (SNP_GET_EXT_REPORT), sev-snp";
  }

  Result<Evidence> GetEvidence(const ReportData& report_data) override {
    int fd = ::open(options_.sev_guest_device.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return Fail(ErrorCode::kUnavailable, "cannot open " + options_.sev_guest_device.string() + ": " +
                                               std::strerror(errno) + " (not an SEV-SNP guest, or no sev-guest driver)");
    }
    snp_ext_report_req req{};
    std::memcpy(req.data.user_data, report_data.data(), 64);
    req.data.vmpl = options_.vmpl;
    snp_report_resp resp{};
    const long page = ::sysconf(_SC_PAGESIZE);
    std::size_t certs_len = 4 * static_cast<std::size_t>(page);
    Result<Evidence> out = Fail(ErrorCode::kInternal, "unreachable");
    for (int attempt = 0; attempt < 2; ++attempt) {
      // The kernel wants a page-aligned, page-multiple buffer for the certificate table.
      void* certs = std::aligned_alloc(static_cast<std::size_t>(page), certs_len);
      if (certs == nullptr) {
        ::close(fd);
        return Fail(ErrorCode::kResourceExhausted, "cannot allocate the certificate buffer");
      }
      std::memset(certs, 0, certs_len);
      req.certs_address = reinterpret_cast<std::uint64_t>(certs);
      req.certs_len = static_cast<std::uint32_t>(certs_len);
      snp_guest_request_ioctl io{};
      io.msg_version = 1;
      io.req_data = reinterpret_cast<std::uint64_t>(&req);
      io.resp_data = reinterpret_cast<std::uint64_t>(&resp);
      int rc = ::ioctl(fd, SNP_GET_EXT_REPORT, &io);
      const int err = errno;
      if (rc != 0 && (io.exitinfo2 >> 32) == SNP_GUEST_VMM_ERR_INVALID_LEN && attempt == 0) {
        // The kernel says how much is needed; keep it a whole number of pages.
        const std::size_t pg = static_cast<std::size_t>(page);
        certs_len = (static_cast<std::size_t>(req.certs_len) + pg - 1) / pg * pg;
        std::free(certs);
        continue;
      }
      if (rc != 0) {
        std::free(certs);
        ::close(fd);
        char info[64];
        std::snprintf(info, sizeof(info), "exitinfo2 0x%llx", static_cast<unsigned long long>(io.exitinfo2));
        return Fail(ErrorCode::kUnavailable, "SNP_GET_EXT_REPORT on " + options_.sev_guest_device.string() +
                                                 " failed: " + std::strerror(err) + ", " + info);
      }
      const std::uint32_t status = LoadLe32(resp.data);
      const std::uint32_t size = LoadLe32(resp.data + 4);
      if (status != 0 || size == 0 || size > sizeof(resp.data) - kMsgReportRspHeader) {
        std::free(certs);
        ::close(fd);
        return Fail(ErrorCode::kUnavailable, "SNP report response status " + std::to_string(status) +
                                                 ", size " + std::to_string(size));
      }
      Evidence e;
      e.platform = Platform::kSevSnp;
      e.report.assign(resp.data + kMsgReportRspHeader, resp.data + kMsgReportRspHeader + size);
      auto table = ParseSnpCertTable(ByteSpan(static_cast<const std::uint8_t*>(certs), certs_len));
      std::free(certs);
      if (table) e.certificates = std::move(*table);
      Status st = AttachOperatorFiles(options_, e);
      out = st ? Result<Evidence>(std::move(e)) : Result<Evidence>(Fail(std::move(st).error()));
      break;
    }
    ::close(fd);
    return out;
  }

 private:
  ProviderOptions options_;
};

}  // namespace

Result<std::vector<Bytes>> ParseSnpCertTable(ByteSpan t) {
  std::vector<Bytes> out;
  constexpr std::size_t kEntry = 24;
  for (std::size_t off = 0;; off += kEntry) {
    if (off + kEntry > t.size()) {
      return Fail(ErrorCode::kDataLoss, "SNP certificate table: no terminating zero entry within " +
                                            std::to_string(t.size()) + " bytes");
    }
    ByteSpan e = t.subspan(off, kEntry);
    if (AllZero(e)) break;
    const std::uint32_t offset = LoadLe32(e.data() + 16);
    const std::uint32_t length = LoadLe32(e.data() + 20);
    if (offset > t.size() || length > t.size() - offset) {
      return Fail(ErrorCode::kDataLoss, "SNP certificate table entry " + std::to_string(off / kEntry) +
                                            ": offset " + std::to_string(offset) + " + length " +
                                            std::to_string(length) + " runs past " + std::to_string(t.size()) + " bytes");
    }
    bool known = false;
    for (const auto& g : kSnpGuids) {
      auto be = GuidBytes(g.text, false), le = GuidBytes(g.text, true);
      known |= std::equal(be.begin(), be.end(), e.begin()) || std::equal(le.begin(), le.end(), e.begin());
    }
    // The host may pad a certificate with zeros: keep the DER object itself.
    ByteSpan data = t.subspan(offset, length);
    const unsigned char* p = data.data();
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(data.size()));
    if (x == nullptr) {
      OpenSslErrors();  // clears the queue
      if (known) {
        return Fail(ErrorCode::kDataLoss, "SNP certificate table entry " + std::to_string(off / kEntry) +
                                              " has a known GUID but no DER certificate");
      }
      continue;
    }
    X509_free(x);
    out.emplace_back(data.data(), p);
    if (out.size() > kMaxCertificates) return Fail(ErrorCode::kOutOfRange, "SNP certificate table has too many certificates");
  }
  return out;
}

Bytes BuildSnpCertTable(const std::vector<std::pair<std::string, Bytes>>& entries) {
  const std::size_t header = 24 * (entries.size() + 1);
  Bytes t(header, 0);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::array<std::uint8_t, 16> g{};
    for (const auto& k : kSnpGuids) {
      if (entries[i].first == k.name) g = GuidBytes(k.text, false);
    }
    std::memcpy(t.data() + 24 * i, g.data(), 16);
    StoreLe32(t.data() + 24 * i + 16, static_cast<std::uint32_t>(t.size()));
    StoreLe32(t.data() + 24 * i + 20, static_cast<std::uint32_t>(entries[i].second.size()));
    t.insert(t.end(), entries[i].second.begin(), entries[i].second.end());
  }
  return t;
}

Result<std::unique_ptr<EvidenceProvider>> MakeConfigfsTsmProvider(const ProviderOptions& options,
                                                                  std::string_view expected, ConfigfsHook hook) {
  std::error_code ec;
  if (!std::filesystem::is_directory(options.configfs_tsm_root, ec)) {
    return Fail(ErrorCode::kUnavailable, "configfs-tsm: " + options.configfs_tsm_root.string() +
                                             " is not a folder (kernel < 6.7, configfs not mounted, or not a confidential VM)");
  }
  // Which TSM backs it: create a probe entry and read its provider attribute.
  const std::filesystem::path probe =
      options.configfs_tsm_root / ("cairn-probe-" + std::to_string(::getpid()));
  if (::mkdir(probe.c_str(), 0700) != 0) {
    return Fail(ErrorCode::kUnavailable, "configfs-tsm: mkdir " + probe.string() + ": " + std::strerror(errno));
  }
  if (hook) hook(probe, "created");
  auto provider_text = ReadFileText(probe / "provider", 256);
  if (::rmdir(probe.c_str()) != 0) std::filesystem::remove_all(probe, ec);
  if (!provider_text) return Fail(std::move(provider_text).error().Context("configfs-tsm provider"));
  const std::string name = Trim(*provider_text);
  Platform platform;
  if (name.starts_with("sev_guest") || name.starts_with("sev-guest")) platform = Platform::kSevSnp;
  else if (name.starts_with("tdx_guest") || name.starts_with("tdx-guest")) platform = Platform::kTdx;
  else return Fail(ErrorCode::kUnimplemented, "configfs-tsm provider \"" + name + "\" is neither sev_guest nor tdx_guest");
  if (!expected.empty() && PlatformName(platform) != expected) {
    return Fail(ErrorCode::kFailedPrecondition, "configfs-tsm offers " + std::string(PlatformName(platform)) +
                                                    " (provider " + name + "), not " + std::string(expected));
  }
  return std::unique_ptr<EvidenceProvider>(
      std::make_unique<ConfigfsTsmProvider>(options, platform, name, std::move(hook)));
}

Result<std::unique_ptr<EvidenceProvider>> MakeSevGuestProvider(const ProviderOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(options.sev_guest_device, ec)) {
    return Fail(ErrorCode::kUnavailable, options.sev_guest_device.string() +
                                             " does not exist: not an SEV-SNP guest (or the sev-guest driver is not loaded)");
  }
  return std::unique_ptr<EvidenceProvider>(std::make_unique<SevGuestProvider>(options));
}

}  // namespace internal

Result<std::unique_ptr<EvidenceProvider>> MakeEvidenceProvider(std::string_view kind,
                                                               const ProviderOptions& options) {
  if (kind == "sim") return internal::MakeSimProvider(options);
  if (kind == "tdx") return internal::MakeConfigfsTsmProvider(options, "tdx", nullptr);
  if (kind == "sev-snp" || kind == "auto") {
    auto tsm = internal::MakeConfigfsTsmProvider(options, kind == "auto" ? "" : "sev-snp", nullptr);
    if (tsm) return tsm;
    auto dev = internal::MakeSevGuestProvider(options);
    if (dev) return dev;
    return Fail(ErrorCode::kUnavailable,
                "no attestation hardware found for \"" + std::string(kind) + "\": " + tsm.error().message() +
                    "; " + dev.error().message() + " (use --attestation sim for development)");
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown attestation provider \"" + std::string(kind) +
                                               "\" (expected sim, sev-snp, tdx or auto)");
}

Result<Bytes> ReadCollateralFiles(const std::vector<std::filesystem::path>& paths) {
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& p : paths) {
    CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(p, kMaxCollateralBytes));
    named.emplace_back(p.string(), std::move(text));
  }
  CAIRN_ASSIGN_OR_RETURN(std::string merged, internal::MergeCollateralJson(named));
  return Bytes(merged.begin(), merged.end());
}

}  // namespace cairn::attestation
