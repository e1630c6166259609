// Interoperability through bytes only: independently constructed participants and aggregator
// that share nothing but the encoded messages (as separate processes would), plus a golden
// transcript digest that pins the wire format and every key derivation across versions.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "common/crypto/crypto.h"
#include "common/secagg/aggregator.h"
#include "common/secagg/participant.h"
#include "common/secagg/quantize.h"
#include "tests/secagg/test_util.h"

namespace cairn::secagg {
namespace {

// 8-bit grid (step 1), so sums are exact.
Params GridParams(std::uint32_t n, std::uint32_t k, std::uint32_t t) {
  Params p = testing::StandardParams(n, k, t);
  p.quantization_bits = 8;
  p.clip_range = 127.5;
  return p;
}

// One "machine": a participant that only sees bytes, built from (params, setup, index) alone.
class Machine {
 public:
  Machine(const Params& p, const RoundSetup& s, std::uint32_t index, std::uint64_t seed,
          std::vector<float> update)
      : update_(std::move(update)) {
    auto r = Participant::Create(ParticipantOptions{p, s, index, testing::SeededFill(seed)});
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    participant_.emplace(std::move(*r));
  }
  // Answers one message from the aggregator with zero or more messages (all as bytes).
  std::vector<Bytes> Receive(const Bytes& bytes) {
    Participant& p = *participant_;
    auto m = Decode(bytes, p.decode_limits());
    EXPECT_TRUE(m.has_value()) << m.error().ToString();
    std::vector<Bytes> out;
    if (auto* relay = std::get_if<KeysRelay>(&*m)) {
      auto sk = p.HandleKeysRelay(*relay);
      EXPECT_TRUE(sk.has_value()) << sk.error().ToString();
      out.push_back(Encode(*sk));
    } else if (auto* sr = std::get_if<SharesRelay>(&*m)) {
      EXPECT_TRUE(p.HandleSharesRelay(*sr).has_value());
      const std::size_t half = update_.size() / 2;
      std::vector<std::uint32_t> buf(update_.size());
      for (auto [off, len] : {std::pair<std::size_t, std::size_t>{0, half}, {half, update_.size() - half}}) {
        EXPECT_TRUE(p.MaskChunk(std::span(update_).subspan(off, len), off, std::span(buf).subspan(off, len)).has_value());
        Bytes b;
        EncodeMaskedInput(p.advertisement().round_id, p.index(), off, std::span(buf).subspan(off, len), b);
        out.push_back(std::move(b));
      }
      EXPECT_TRUE(p.FinishMasking().has_value());
    } else if (auto* req = std::get_if<UnmaskRequest>(&*m)) {
      auto resp = p.HandleUnmaskRequest(*req);
      EXPECT_TRUE(resp.has_value()) << resp.error().ToString();
      out.push_back(Encode(*resp));
    } else {
      ADD_FAILURE() << "unexpected message " << MessageTypeName(TypeOf(*m));
    }
    return out;
  }
  Bytes Advertise() const { return Encode(participant_->advertisement()); }

 private:
  std::optional<Participant> participant_;
  std::vector<float> update_;
};

struct Transcript {
  std::vector<std::uint32_t> ring_sum;
  crypto::Sha256Digest digest{};
};

// Runs a round where every message crosses as bytes; returns the sum and a digest of every
// byte that crossed, in order.
Transcript RunOverBytes(const Params& p, const RoundSetup& s,
                        const std::vector<std::vector<float>>& updates, std::uint64_t seed) {
  Transcript t;
  crypto::Sha256Hasher transcript;
  auto log = [&](const Bytes& b) { transcript.Update(b); };
  std::vector<Machine> machines;
  for (std::uint32_t i = 0; i < s.cohort_size; ++i) machines.emplace_back(p, s, i, seed + i, updates[i]);
  auto agg = Aggregator::Create(AggregatorOptions{p, s, 1, {}});
  EXPECT_TRUE(agg.has_value());
  const DecodeLimits lim = agg->decode_limits();
  auto to_agg = [&](const Bytes& b) {
    log(b);
    auto m = Decode(b, lim);
    EXPECT_TRUE(m.has_value()) << m.error().ToString();
    Status st = std::visit(
        [&](const auto& x) -> Status {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, AdvertiseKeys>) return agg->HandleAdvertiseKeys(x);
          else if constexpr (std::is_same_v<T, ShareKeys>) return agg->HandleShareKeys(x);
          else if constexpr (std::is_same_v<T, MaskedInput>) {
            CAIRN_RETURN_IF_ERROR(agg->HandleMaskedInput(x));
            if (x.offset + x.values.size() == s.num_elements) return agg->CommitInput(x.sender);
            return Ok();
          } else if constexpr (std::is_same_v<T, UnmaskResponse>) return agg->HandleUnmaskResponse(x);
          else return Fail(ErrorCode::kInvalidArgument, "unexpected message at the aggregator");
        },
        *m);
    EXPECT_TRUE(st.has_value()) << st.error().ToString();
  };
  auto to_machine = [&](std::uint32_t i, const Bytes& b) {
    log(b);
    for (const Bytes& reply : machines[i].Receive(b)) to_agg(reply);
  };
  for (auto& m : machines) to_agg(m.Advertise());
  auto kr = agg->CloseKeys();
  EXPECT_TRUE(kr.has_value());
  for (const auto& r : *kr) to_machine(r.recipient, Encode(r));
  auto sr = agg->CloseShares();
  EXPECT_TRUE(sr.has_value());
  for (const auto& r : *sr) to_machine(r.recipient, Encode(r));
  auto req = agg->BeginUnmasking();
  EXPECT_TRUE(req.has_value());
  const Bytes req_bytes = Encode(*req);  // the same bytes for everyone
  for (std::uint32_t i : req->committed) to_machine(i, req_bytes);
  auto sum = agg->Finalize();
  EXPECT_TRUE(sum.has_value()) << sum.error().ToString();
  if (sum) t.ring_sum = sum->ring_sum;
  t.digest = transcript.Finish();
  return t;
}

std::vector<std::vector<float>> GridUpdates(std::uint32_t n, std::size_t P, std::vector<std::uint32_t>& expected) {
  std::vector<std::vector<float>> u(n, std::vector<float>(P));
  expected.assign(P, 0);
  for (std::uint32_t i = 0; i < n; ++i) {
    for (std::size_t e = 0; e < P; ++e) {
      const std::uint32_t q = static_cast<std::uint32_t>((e * 13 + i * 71 + 5) % 256);
      u[i][e] = static_cast<float>(q) - 127.5f;
      expected[e] += q;
    }
  }
  return u;
}

TEST(SecAggInterop, IndependentObjectsAgreeThroughBytesOnly) {
  for (auto [n, k, t] : {std::tuple{3u, 3u, 2u}, std::tuple{8u, 7u, 4u}, std::tuple{9u, 5u, 3u}}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " k=" + std::to_string(k));
    const Params p = GridParams(n, k, t);
    const RoundSetup s = testing::StandardSetup(n, 1001);
    std::vector<std::uint32_t> expected;
    const auto updates = GridUpdates(n, 1001, expected);
    const Transcript a = RunOverBytes(p, s, updates, 10);
    EXPECT_EQ(a.ring_sum, expected);
    // Independently constructed again from the same inputs: the same bytes, byte for byte.
    const Transcript b = RunOverBytes(p, s, updates, 10);
    EXPECT_EQ(a.digest, b.digest);
    // Other secret randomness: other bytes, same sum.
    const Transcript c = RunOverBytes(p, s, updates, 20);
    EXPECT_NE(a.digest, c.digest);
    EXPECT_EQ(c.ring_sum, expected);
  }
}

// Pins the wire format, the key derivations (labels, salts, info layouts), the graph
// permutation, Shamir and the mask expansion: any change to one of them changes this digest and
// breaks interoperability with participants running the previous version. Update it only with
// a version bump of the messages (messages.h) and a note in docs/masking.md.
TEST(SecAggInterop, GoldenTranscript) {
  const Params p = GridParams(5, 3, 2);
  const RoundSetup s = testing::StandardSetup(5, 40, 3);
  std::vector<std::uint32_t> expected;
  const auto updates = GridUpdates(5, 40, expected);
  const Transcript t = RunOverBytes(p, s, updates, 1);
  EXPECT_EQ(t.ring_sum, expected);
  EXPECT_EQ(HexEncode(t.digest), "e296b3f156749630dc5d98e6c78fb3d48c8b9654e31c3ea31de561b7af59d36b");
}

}  // namespace
}  // namespace cairn::secagg
