#include "tests/dp/seeded_random_source.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace cairn::dp::testing {
namespace {
const std::array<unsigned char, crypto_stream_chacha20_ietf_NONCEBYTES> kNonce{};
}  // namespace

SeededRandomSource::SeededRandomSource(std::uint64_t seed) {
  for (int i = 0; i < 8; ++i) key_[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(seed >> (8 * i));
}

void SeededRandomSource::Fill(MutableByteSpan out) {
  std::size_t done = 0;
  // Rest of the current block.
  const std::size_t from_block = std::min(out.size(), block_.size() - block_used_);
  std::memcpy(out.data(), block_.data() + block_used_, from_block);
  block_used_ += from_block;
  done += from_block;
  // Whole blocks straight into the output.
  const std::size_t whole = (out.size() - done) / 64;
  if (whole > 0) {
    std::memset(out.data() + done, 0, whole * 64);
    crypto_stream_chacha20_ietf_xor_ic(out.data() + done, out.data() + done, whole * 64,
                                       kNonce.data(), next_block_, key_.data());
    next_block_ += static_cast<std::uint32_t>(whole);
    done += whole * 64;
  }
  // A last partial block.
  if (done < out.size()) {
    block_.fill(0);
    crypto_stream_chacha20_ietf_xor_ic(block_.data(), block_.data(), block_.size(), kNonce.data(),
                                       next_block_, key_.data());
    ++next_block_;
    block_used_ = out.size() - done;
    std::memcpy(out.data() + done, block_.data(), block_used_);
  }
}

}  // namespace cairn::dp::testing
