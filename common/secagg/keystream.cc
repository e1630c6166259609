#include "common/secagg/keystream.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace cairn::secagg {
namespace {

constexpr std::size_t kWordsPerBlock = 16;                  // 64-byte ChaCha20 block
constexpr std::size_t kTileWords = 1024;                     // output words per tile (4 KiB)
constexpr std::size_t kBufWords = kTileWords + kWordsPerBlock;  // + a partial leading block

alignas(64) const std::array<std::uint8_t, kBufWords * 4> kZeros{};

// Fills buf with the words [first_block·16, first_block·16 + words) of the stream.
void Blocks(ByteSpan key, std::uint64_t first_block, std::size_t words, std::uint32_t* buf) {
  static const std::array<std::uint8_t, crypto_stream_chacha20_ietf_NONCEBYTES> kNonce{};
  // kMaxElements = 2^34 keeps first_block + blocks below 2^32 (the IETF counter).
  if (key.size() != crypto_stream_chacha20_ietf_KEYBYTES || first_block > 0xffffffffULL) std::abort();
  const std::size_t bytes = (words + kWordsPerBlock - 1) / kWordsPerBlock * kWordsPerBlock * 4;
  crypto_stream_chacha20_ietf_xor_ic(reinterpret_cast<unsigned char*>(buf), kZeros.data(), bytes,
                                     kNonce.data(), static_cast<std::uint32_t>(first_block),
                                     key.data());
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < words; ++i) buf[i] = std::byteswap(buf[i]);
  }
}

}  // namespace

void KeystreamWords(ByteSpan key, std::uint64_t offset, std::span<std::uint32_t> out) {
  alignas(64) std::array<std::uint32_t, kBufWords> buf;
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t e = offset + done;
    const std::size_t skip = e % kWordsPerBlock;
    const std::size_t n = std::min(out.size() - done, kTileWords);
    Blocks(key, e / kWordsPerBlock, skip + n, buf.data());
    std::memcpy(out.data() + done, buf.data() + skip, n * 4);
    done += n;
  }
  sodium_memzero(buf.data(), sizeof buf);
}

void ApplyMaskTerms(std::span<const MaskTerm> terms, std::uint64_t offset,
                    std::span<std::uint32_t> inout) {
  alignas(64) std::array<std::uint32_t, kBufWords> buf;
  std::size_t done = 0;
  while (done < inout.size()) {
    const std::uint64_t e = offset + done;
    const std::size_t skip = e % kWordsPerBlock;
    const std::size_t n = std::min(inout.size() - done, kTileWords);
    std::uint32_t* out = inout.data() + done;
    for (const MaskTerm& term : terms) {
      Blocks(term.key, e / kWordsPerBlock, skip + n, buf.data());
      const std::uint32_t* w = buf.data() + skip;
      if (term.subtract) {
        for (std::size_t i = 0; i < n; ++i) out[i] -= w[i];
      } else {
        for (std::size_t i = 0; i < n; ++i) out[i] += w[i];
      }
    }
    done += n;
  }
  sodium_memzero(buf.data(), sizeof buf);
}

void ApplyMaskTermsParallel(std::span<const MaskTerm> terms, std::uint64_t offset,
                            std::span<std::uint32_t> inout, std::uint32_t threads) {
  constexpr std::size_t kMinPerThread = std::size_t{1} << 16;
  std::size_t parts = std::max<std::uint32_t>(threads, 1);
  parts = std::min(parts, std::max<std::size_t>(inout.size() / kMinPerThread, 1));
  if (parts == 1) {
    ApplyMaskTerms(terms, offset, inout);
    return;
  }
  // Range boundaries on 16-element (block) multiples, so no block is expanded twice.
  const std::size_t per = (inout.size() / parts + kWordsPerBlock - 1) / kWordsPerBlock * kWordsPerBlock;
  std::vector<std::thread> workers;
  workers.reserve(parts - 1);
  for (std::size_t p = 1; p < parts; ++p) {
    const std::size_t begin = std::min(p * per, inout.size());
    const std::size_t end = p + 1 == parts ? inout.size() : std::min((p + 1) * per, inout.size());
    workers.emplace_back([=] { ApplyMaskTerms(terms, offset + begin, inout.subspan(begin, end - begin)); });
  }
  ApplyMaskTerms(terms, offset, inout.first(std::min(per, inout.size())));
  for (auto& w : workers) w.join();
}

}  // namespace cairn::secagg
