// Sealing keys for checkpoints at rest: the SEV-SNP derived key (MSG_KEY_REQ through
// /dev/sev-guest, bound to the launch measurement and guest policy), a key file delivered by a key
// broker (Confidential Containers KBS), or a key derived from the sim platform key (tests only).
// Every provider returns HKDF-SHA256(platform secret, label), so two uses never share a key.
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/attestation/attestation.h"
#include "common/attestation/internal.h"
#include "common/core/file.h"

namespace cairn::attestation {
namespace {

Result<crypto::SecretBytes> Derive(ByteSpan ikm, std::string_view salt, std::string_view label) {
  crypto::Sha256Digest prk = crypto::HkdfSha256Extract(AsBytes(salt), ikm);
  auto key = crypto::HkdfSha256Expand(prk, AsBytes(label), 32);
  crypto::Wipe(prk);
  return key;
}

class SimSealingKey final : public SealingKeyProvider {
 public:
  SimSealingKey(SimPlatformKey key, std::string label, std::string path)
      : key_(std::move(key)), label_(std::move(label)), path_(std::move(path)) {}
  Result<crypto::SecretBytes> GetKey() override { return key_.DeriveKey(label_); }
  std::string description() const override {
    return "sim (derived from the sim platform key " + path_ + "; NOT protected by hardware)";
  }

 private:
  SimPlatformKey key_;
  std::string label_;
  std::string path_;
};

class KeyFileSealingKey final : public SealingKeyProvider {
 public:
  KeyFileSealingKey(std::filesystem::path path, std::string label) : path_(std::move(path)), label_(std::move(label)) {}
  Result<crypto::SecretBytes> GetKey() override {
    // Read on every call: a key broker may deliver the file after start-up. Read into guarded
    // memory and decoded in place, so no ordinary buffer holding the key is freed unwiped.
    CAIRN_ASSIGN_OR_RETURN(crypto::SecretBytes raw, crypto::ReadSecretFile(path_, 256));
    CAIRN_ASSIGN_OR_RETURN(crypto::SecretBytes key, crypto::SecretBytes::Allocate(32));
    if (raw.size() == 32) {
      std::memcpy(key.data(), raw.data(), 32);
    } else {
      std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
      auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      bool ok = text.size() == 64;
      for (std::size_t i = 0; ok && i < 32; ++i) {
        const int hi = nibble(text[2 * i]);
        const int lo = nibble(text[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok) key.data()[i] = static_cast<std::uint8_t>(hi << 4 | lo);
      }
      if (!ok) {
        return Fail(ErrorCode::kInvalidArgument, path_.string() + ": a sealing key file holds 32 raw bytes or 64 hex digits (" +
                                                     std::to_string(raw.size()) + " bytes found)");
      }
    }
    return Derive(key.span(), "cairn/key-file/v1", label_);
  }
  std::string description() const override { return "key-file (" + path_.string() + ")"; }

 private:
  std::filesystem::path path_;
  std::string label_;
};

// MSG_KEY_REQ guest field select bits (SEV-SNP ABI): which launch fields are mixed into the key.
constexpr std::uint64_t kKeyFieldGuestPolicy = 1u << 0;
constexpr std::uint64_t kKeyFieldMeasurement = 1u << 3;
// MSG_KEY_RSP: status u32, 28 reserved bytes, then the 32-byte key.
constexpr std::size_t kMsgKeyRspKeyOffset = 0x20;

class SnpDerivedSealingKey final : public SealingKeyProvider {
 public:
  SnpDerivedSealingKey(std::filesystem::path device, std::string label) : device_(std::move(device)), label_(std::move(label)) {}
  Result<crypto::SecretBytes> GetKey() override {
    int fd = ::open(device_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return Fail(ErrorCode::kUnavailable, "cannot open " + device_.string() + ": " + std::strerror(errno));
    }
    snp_derived_key_req req{};
    req.root_key_select = 0;  // VCEK-rooted: tied to this chip and its TCB
    req.guest_field_select = kKeyFieldGuestPolicy | kKeyFieldMeasurement;
    snp_derived_key_resp resp{};
    snp_guest_request_ioctl io{};
    io.msg_version = 1;
    io.req_data = reinterpret_cast<std::uint64_t>(&req);
    io.resp_data = reinterpret_cast<std::uint64_t>(&resp);
    int rc = ::ioctl(fd, SNP_GET_DERIVED_KEY, &io);
    const int err = errno;
    ::close(fd);
    if (rc != 0 || internal::LoadLe32(resp.data) != 0) {
      crypto::Wipe(MutableByteSpan(resp.data, sizeof(resp.data)));
      return Fail(ErrorCode::kUnavailable, "SNP_GET_DERIVED_KEY on " + device_.string() + " failed: " +
                                               (rc != 0 ? std::strerror(err) : "firmware status " + std::to_string(internal::LoadLe32(resp.data))));
    }
    auto out = Derive(ByteSpan(resp.data + kMsgKeyRspKeyOffset, 32), "cairn/snp-derived/v1", label_);
    crypto::Wipe(MutableByteSpan(resp.data, sizeof(resp.data)));
    return out;
  }
  std::string description() const override {
    return "sev-snp derived key (" + device_.string() + ", MSG_KEY_REQ bound to the measurement and guest policy)";
  }

 private:
  std::filesystem::path device_;
  std::string label_;
};

}  // namespace

Result<std::unique_ptr<SealingKeyProvider>> MakeSealingKeyProvider(const SealingKeyOptions& options) {
  CAIRN_RETURN_IF_ERROR(internal::EnsureSodium());
  std::error_code ec;
  const std::string& kind = options.kind;
  if (kind == "sim") {
    if (options.sim_platform_key.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "sim sealing key needs the sim platform key file");
    }
    CAIRN_ASSIGN_OR_RETURN(SimPlatformKey key, SimPlatformKey::Load(options.sim_platform_key));
    return std::unique_ptr<SealingKeyProvider>(
        std::make_unique<SimSealingKey>(std::move(key), options.label, options.sim_platform_key.string()));
  }
  if (kind == "key-file") {
    if (options.key_file.empty()) return Fail(ErrorCode::kInvalidArgument, "key-file sealing key needs a key file path");
    return std::unique_ptr<SealingKeyProvider>(std::make_unique<KeyFileSealingKey>(options.key_file, options.label));
  }
  if (kind == "sev-snp" || kind == "auto") {
    if (std::filesystem::exists(options.sev_guest_device, ec)) {
      return std::unique_ptr<SealingKeyProvider>(
          std::make_unique<SnpDerivedSealingKey>(options.sev_guest_device, options.label));
    }
    if (kind == "auto" && !options.key_file.empty()) {
      return std::unique_ptr<SealingKeyProvider>(std::make_unique<KeyFileSealingKey>(options.key_file, options.label));
    }
    return Fail(ErrorCode::kUnavailable, options.sev_guest_device.string() + " does not exist: no SEV-SNP derived key" +
                                             (kind == "auto" ? " and no key file given" : ""));
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown sealing key kind \"" + kind + "\" (expected sim, key-file, sev-snp or auto)");
}

}  // namespace cairn::attestation
