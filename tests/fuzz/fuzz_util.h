// Helpers shared by the libFuzzer targets and the seed generator (tests/fuzz/make_seeds.cc).
//
// Contracts: nothing here allocates more than a small multiple of the input; FuzzCheck aborts
// (so libFuzzer records a crash with the input) when an invariant of the code under test does
// not hold. Not thread-safe (libFuzzer runs one input at a time per process).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/attestation/attestation.h"
#include "common/core/bytes.h"

namespace cairn::fuzz {

// Aborts with a message when `ok` is false: a property that must hold for every input.
inline void FuzzCheck(bool ok, std::string_view what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %.*s\n", static_cast<int>(what.size()), what.data());
    std::abort();
  }
}

// Reads a little-endian integer of N bytes, clamped to what is left (missing bytes are zero).
class Reader {
 public:
  explicit Reader(ByteSpan data) : data_(data) {}
  std::size_t left() const { return data_.size() - pos_; }
  std::uint64_t Le(std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (pos_ < data_.size()) v |= static_cast<std::uint64_t>(data_[pos_++]) << (8 * i);
    }
    return v;
  }
  // Up to `n` bytes (fewer when the input ends first).
  Bytes Take(std::size_t n) {
    if (n > left()) n = left();
    Bytes out(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
              data_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return out;
  }
  Bytes Rest() { return Take(left()); }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Evidence targets: the fuzz input is a frame that maps onto attestation::Evidence plus one root
// to trust, so the verifier can get past the chain checks with the seeds' test hierarchy:
//   32 bytes   SHA-256 fingerprint of a DER root certificate (Policy::extra_roots)
//   u32 LE     report length, then the report
//   u8         certificate count (at most attestation::kMaxCertificates + 1 are read)
//   per cert:  u16 LE length, then the DER bytes
//   rest       collateral (TDX collateral JSON bundle; ignored by the other platforms)
// Lengths beyond the end of the input are clamped, so every input decodes to some Evidence.

struct EvidenceFrame {
  attestation::Sha256Fingerprint root{};
  attestation::Evidence evidence;
};

inline EvidenceFrame DecodeEvidenceFrame(ByteSpan data, attestation::Platform platform) {
  Reader r(data);
  EvidenceFrame f;
  Bytes root = r.Take(32);
  std::copy(root.begin(), root.end(), f.root.begin());
  f.evidence.platform = platform;
  f.evidence.report = r.Take(static_cast<std::size_t>(r.Le(4)));
  const std::size_t count = static_cast<std::size_t>(r.Le(1)) % (attestation::kMaxCertificates + 2);
  for (std::size_t i = 0; i < count && r.left() > 0; ++i) {
    f.evidence.certificates.push_back(r.Take(static_cast<std::size_t>(r.Le(2))));
  }
  f.evidence.collateral = r.Rest();
  return f;
}

inline Bytes EncodeEvidenceFrame(const attestation::Sha256Fingerprint& root,
                                 const attestation::Evidence& e) {
  Bytes out(root.begin(), root.end());
  auto le = [&out](std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  le(e.report.size(), 4);
  out.insert(out.end(), e.report.begin(), e.report.end());
  le(e.certificates.size(), 1);
  for (const Bytes& c : e.certificates) {
    le(c.size(), 2);
    out.insert(out.end(), c.begin(), c.end());
  }
  out.insert(out.end(), e.collateral.begin(), e.collateral.end());
  return out;
}

// The verification instant of every evidence target and seed: inside the test hierarchies'
// validity (2020..2040) and after the TDX test collateral's issue date (2025-01-01).
inline Clock::WallTime FuzzInstant() {
  return Clock::WallTime(std::chrono::seconds(1767225600));  // 2026-01-01T00:00:00Z
}

// A policy that accepts as much as possible, so that verification runs every check it can:
// only `platform`, the frame's root trusted beside the built-in ones, no pinned values, debug
// allowed, every TDX TCB status accepted.
inline attestation::Policy PermissivePolicy(attestation::Platform platform,
                                            const attestation::Sha256Fingerprint& root) {
  attestation::Policy p;
  p.platforms = {platform};
  p.extra_roots = {root};
  p.sev_snp.allow_debug = true;
  p.sev_snp.allow_migration_agent = true;
  p.sev_snp.max_vmpl = 3;
  p.tdx.allow_debug = true;
  p.tdx.accepted_tcb_status = {"UpToDate",          "SWHardeningNeeded", "ConfigurationNeeded",
                               "ConfigurationAndSWHardeningNeeded",     "OutOfDate",
                               "OutOfDateConfigurationNeeded",          "Revoked",
                               "Unknown"};
  p.source = "fuzz";
  return p;
}

// ---------------------------------------------------------------------------------------------
// Targets whose code under test reads a file: an anonymous in-memory file (memfd), rewritten for
// every input and named by its /proc/self/fd path. Created once per process.
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(::memfd_create(name, 0)) {
    FuzzCheck(fd_ >= 0, "memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  // Replaces the contents with `data`; returns the path to open.
  const std::filesystem::path& Write(ByteSpan data) {
    FuzzCheck(::ftruncate(fd_, 0) == 0, "ftruncate failed");
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(done));
      FuzzCheck(n > 0, "pwrite failed");
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::filesystem::path path_;
};

}  // namespace cairn::fuzz
