#include "common/secagg/aggregator.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <iterator>
#include <set>
#include <string>

#include "common/crypto/crypto.h"
#include "common/secagg/internal.h"
#include "common/secagg/kdf.h"
#include "common/secagg/keystream.h"
#include "common/secagg/shamir.h"

namespace cairn::secagg {

using internal::Precondition;
using internal::Who;

namespace {

constexpr std::uint32_t kWholeRound = AbortReason::kWholeRound;

}  // namespace

const char* AbortStageName(AbortReason::Stage stage) {
  switch (stage) {
    case AbortReason::Stage::kKeys: return "keys";
    case AbortReason::Stage::kShares: return "shares";
    case AbortReason::Stage::kUnmasking: return "unmasking";
    case AbortReason::Stage::kFinalize: return "finalize";
    case AbortReason::Stage::kReconstruction: return "reconstruction";
  }
  return "unknown";
}

const char* AggregatorStateName(Aggregator::State state) {
  switch (state) {
    case Aggregator::State::kCollectingKeys: return "collecting-keys";
    case Aggregator::State::kCollectingShares: return "collecting-shares";
    case Aggregator::State::kCollectingInputs: return "collecting-inputs";
    case Aggregator::State::kCollectingReveals: return "collecting-reveals";
    case Aggregator::State::kDone: return "done";
    case Aggregator::State::kAborted: return "aborted";
  }
  return "unknown";
}

struct Aggregator::Impl {
  struct Peer {
    bool advertised = false;  // ∈ U1
    bool shared = false;      // ∈ U2
    bool committed = false;   // ∈ S
    bool responded = false;   // ∈ R
    PublicKey cipher_key{};
    PublicKey mask_key{};
    Digest seed_commitment{};
    Digest share_message_hash{};  // to tell a retry from a conflicting ShareKeys
    std::uint64_t folded = 0;     // elements of its masked input folded so far
    std::vector<EncryptedShare> inbox;  // ciphertexts addressed to it (peer = sender)
  };

  Params params;
  RoundSetup setup;
  SessionId session{};
  MaskedInputObserver observer;
  std::uint32_t unmask_threads = 1;
  State state = State::kCollectingKeys;
  std::vector<Peer> peers;  // by cohort index
  std::optional<Graph> graph;
  std::vector<std::uint32_t> u2;         // ascending
  std::vector<std::uint32_t> committed;  // S, ascending
  std::vector<std::uint32_t> u2_rank;    // cohort index → rank in u2
  std::vector<std::uint32_t> sum;        // the running masked sum, P elements
  crypto::SecretBytes revealed;          // (rank in u2, x − 1) → share y (32 bytes)
  std::optional<AbortReason> abort;

  Status Expect(State want, const char* call) const {
    if (state != want) {
      return Precondition(std::string(call) + ": the aggregator is in state " +
                          AggregatorStateName(state) + ", not " + AggregatorStateName(want));
    }
    return Ok();
  }
  Status CheckRound(std::uint64_t round_id, const char* what) const {
    if (round_id != setup.round_id) {
      return Fail(ErrorCode::kInvalidArgument, std::string(what) + " for round " +
                                                   std::to_string(round_id) + ", expected " +
                                                   std::to_string(setup.round_id));
    }
    return Ok();
  }
  Status CheckIndex(std::uint32_t index, const char* what) const {
    if (index >= setup.cohort_size) {
      return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": " + Who(index) +
                                                   " is outside the cohort of " +
                                                   std::to_string(setup.cohort_size));
    }
    return Ok();
  }

  void WipeAll() {
    std::fill(sum.begin(), sum.end(), 0u);
    sum = {};
    sum.shrink_to_fit();
    revealed = crypto::SecretBytes();
    for (auto& p : peers) p.inbox = {};
  }

  std::unexpected<Error> Abort(AbortReason reason, const std::string& why,
                               ErrorCode code = ErrorCode::kAborted) {
    WipeAll();
    abort = reason;
    state = State::kAborted;
    return Fail(code, "secagg round " + std::to_string(setup.round_id) + " aborted (" +
                          AbortStageName(reason.stage) + "): " + why);
  }

  std::unexpected<Error> AbortShort(AbortReason::Stage stage, std::uint32_t participant,
                                    bool is_committed, std::uint32_t available,
                                    const std::string& holders) {
    AbortReason r{stage, participant, is_committed, available, params.threshold};
    return Abort(r, Who(participant) + " (" + (is_committed ? "committed" : "not committed") +
                        ") has " + std::to_string(available) + " " + holders + ", fewer than t = " +
                        std::to_string(params.threshold) + "; nothing further is revealed");
  }

  // The connectivity rule (docs/masking.md, "Dropouts and aborts"). Pairwise masks cancel
  // within each connected group of the masking graph restricted to S on its own; once every
  // b_i (i ∈ S) and every s_sk,j (j ∈ U2 \ S) is rebuilt, each group's sum comes out
  // separately. So S must be one group: otherwise the round aborts (and wipes) here, before
  // anything is rebuilt. O(|S|·k).
  Status CheckSurvivorsConnected(AbortReason::Stage stage) {
    const auto groups = graph->Components(committed);
    if (groups.size() <= 1) return Ok();
    constexpr std::size_t kListed = 8;  // keeps the message short for large rosters
    std::vector<std::size_t> sizes;
    const std::vector<std::uint32_t>* smallest = &groups.front();
    for (const auto& g : groups) {
      sizes.push_back(g.size());
      if (g.size() < smallest->size()) smallest = &g;
    }
    std::sort(sizes.begin(), sizes.end(), std::greater<>());
    auto join = [&](auto begin, auto end) {
      std::string out;
      for (auto it = begin; it != end; ++it) {
        if (std::distance(begin, it) == static_cast<std::ptrdiff_t>(kListed)) return out + ", …";
        out += (it == begin ? "" : ", ") + std::to_string(*it);
      }
      return out;
    };
    AbortReason r{stage, kWholeRound, false, static_cast<std::uint32_t>(committed.size()),
                  params.threshold, static_cast<std::uint32_t>(groups.size())};
    return Abort(r, "the " + std::to_string(committed.size()) +
                        " surviving participants split into " + std::to_string(groups.size()) +
                        " groups under the masking graph (sizes " + join(sizes.begin(), sizes.end()) +
                        "; the smallest is participants " + join(smallest->begin(), smallest->end()) +
                        "): unmasking would reveal each group's sum, not only the total; the round "
                        "is abandoned and nothing further is revealed");
  }

  template <typename Pred>
  std::uint32_t CountIn(const std::vector<std::uint32_t>& set, Pred pred) const {
    return static_cast<std::uint32_t>(std::count_if(set.begin(), set.end(), pred));
  }

  std::uint8_t* Slot(std::uint32_t owner, std::uint8_t x) {
    return revealed.data() + (static_cast<std::size_t>(u2_rank[owner]) * graph->neighborhood_size() + (x - 1)) * 32;
  }
};

Aggregator::Aggregator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Aggregator::Aggregator(Aggregator&&) noexcept = default;
Aggregator& Aggregator::operator=(Aggregator&&) noexcept = default;
Aggregator::~Aggregator() {
  if (impl_) impl_->WipeAll();
}

Result<Aggregator> Aggregator::Create(AggregatorOptions options) {
  CAIRN_RETURN_IF_ERROR(crypto::Init());
  CAIRN_RETURN_IF_ERROR(ValidateParams(options.params));
  CAIRN_RETURN_IF_ERROR(ValidateRoundSetup(options.params, options.setup));
  auto impl = std::make_unique<Impl>();
  impl->params = options.params;
  impl->setup = std::move(options.setup);
  impl->session = ComputeSessionId(impl->params, impl->setup);
  impl->observer = std::move(options.observe_masked_input_for_testing);
  impl->unmask_threads = options.unmask_threads;
  impl->peers.resize(impl->setup.cohort_size);
  return Aggregator(std::move(impl));
}

Aggregator::State Aggregator::state() const { return impl_->state; }
const std::optional<AbortReason>& Aggregator::abort_reason() const { return impl_->abort; }
const Graph* Aggregator::graph() const { return impl_->graph ? &*impl_->graph : nullptr; }
const std::vector<std::uint32_t>& Aggregator::committed() const { return impl_->committed; }
DecodeLimits Aggregator::decode_limits() const { return LimitsFor(impl_->params, impl_->setup); }
std::vector<std::uint32_t> Aggregator::responders() const {
  std::vector<std::uint32_t> r;
  for (std::uint32_t i : impl_->committed) {
    if (impl_->peers[i].responded) r.push_back(i);
  }
  return r;
}

Status Aggregator::HandleAdvertiseKeys(const AdvertiseKeys& m) {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingKeys, "AdvertiseKeys"));
  CAIRN_RETURN_IF_ERROR(s.CheckRound(m.round_id, "AdvertiseKeys"));
  CAIRN_RETURN_IF_ERROR(s.CheckIndex(m.sender, "AdvertiseKeys"));
  Impl::Peer& p = s.peers[m.sender];
  if (p.advertised) {
    if (p.cipher_key == m.cipher_key && p.mask_key == m.mask_key) return Ok();  // a retry
    return Fail(ErrorCode::kAlreadyExists,
                "AdvertiseKeys: " + Who(m.sender) + " already advertised different keys");
  }
  CAIRN_RETURN_IF_ERROR(internal::CheckPublicKey(m.cipher_key, "cipher key", m.sender));
  CAIRN_RETURN_IF_ERROR(internal::CheckPublicKey(m.mask_key, "mask key", m.sender));
  if (m.cipher_key == m.mask_key) {
    return Fail(ErrorCode::kInvalidArgument,
                "AdvertiseKeys: " + Who(m.sender) + " uses one key for both purposes");
  }
  for (std::uint32_t j = 0; j < s.peers.size(); ++j) {
    const Impl::Peer& q = s.peers[j];
    if (!q.advertised) continue;
    for (const PublicKey* k : {&m.cipher_key, &m.mask_key}) {
      if (*k == q.cipher_key || *k == q.mask_key) {
        return Fail(ErrorCode::kInvalidArgument,
                    "AdvertiseKeys: " + Who(m.sender) + " advertises a key of " + Who(j));
      }
    }
  }
  p.advertised = true;
  p.cipher_key = m.cipher_key;
  p.mask_key = m.mask_key;
  return Ok();
}

Result<std::vector<KeysRelay>> Aggregator::CloseKeys() {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingKeys, "CloseKeys"));
  std::vector<std::uint32_t> u1;
  for (std::uint32_t i = 0; i < s.peers.size(); ++i) {
    if (s.peers[i].advertised) u1.push_back(i);
  }
  if (u1.size() < s.params.threshold) {
    return s.Abort(AbortReason{AbortReason::Stage::kKeys, kWholeRound, false,
                               static_cast<std::uint32_t>(u1.size()), s.params.threshold},
                   std::to_string(u1.size()) + " participants advertised keys, fewer than t = " +
                       std::to_string(s.params.threshold));
  }
  CAIRN_ASSIGN_OR_RETURN(Graph g, Graph::Build(s.setup.cohort_size, u1, s.params.neighborhood_size,
                                               s.setup.graph_seed));
  s.graph.emplace(std::move(g));
  std::vector<KeysRelay> relays;
  relays.reserve(u1.size());
  for (std::uint32_t i : u1) {
    KeysRelay r;
    r.round_id = s.setup.round_id;
    r.recipient = i;
    r.members = u1;
    for (std::uint32_t j : s.graph->Neighbors(i)) {
      r.neighbors.push_back(NeighborKeys{j, s.peers[j].cipher_key, s.peers[j].mask_key});
    }
    relays.push_back(std::move(r));
  }
  s.state = State::kCollectingShares;
  return relays;
}

Status Aggregator::HandleShareKeys(const ShareKeys& m) {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingShares, "ShareKeys"));
  CAIRN_RETURN_IF_ERROR(s.CheckRound(m.round_id, "ShareKeys"));
  CAIRN_RETURN_IF_ERROR(s.CheckIndex(m.sender, "ShareKeys"));
  if (!s.graph->IsMember(m.sender)) {
    return Precondition("ShareKeys: " + Who(m.sender) + " did not advertise keys in round 1");
  }
  Impl::Peer& p = s.peers[m.sender];
  const Digest hash = crypto::Sha256(Encode(m));
  if (p.shared) {
    if (crypto::ConstantTimeEqual(hash, p.share_message_hash)) return Ok();  // a retry
    return Fail(ErrorCode::kAlreadyExists,
                "ShareKeys: " + Who(m.sender) + " already sent different shares");
  }
  const std::vector<std::uint32_t> expected = s.graph->Neighbors(m.sender);
  if (m.shares.size() != expected.size()) {
    return Fail(ErrorCode::kInvalidArgument, "ShareKeys from " + Who(m.sender) + ": " +
                                                 std::to_string(m.shares.size()) +
                                                 " ciphertexts, it has " +
                                                 std::to_string(expected.size()) + " neighbours");
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (m.shares[i].peer != expected[i]) {
      return Fail(ErrorCode::kInvalidArgument, "ShareKeys from " + Who(m.sender) + ": ciphertext " +
                                                   std::to_string(i) + " is for " +
                                                   Who(m.shares[i].peer) + ", expected " +
                                                   Who(expected[i]));
    }
  }
  for (const EncryptedShare& es : m.shares) {
    s.peers[es.peer].inbox.push_back(EncryptedShare{m.sender, es.ciphertext});
  }
  p.shared = true;
  p.seed_commitment = m.seed_commitment;
  p.share_message_hash = hash;
  return Ok();
}

Result<std::vector<SharesRelay>> Aggregator::CloseShares() {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingShares, "CloseShares"));
  s.u2.clear();
  s.u2_rank.assign(s.setup.cohort_size, 0);
  for (std::uint32_t i = 0; i < s.peers.size(); ++i) {
    if (s.peers[i].shared) {
      s.u2_rank[i] = static_cast<std::uint32_t>(s.u2.size());
      s.u2.push_back(i);
    }
  }
  if (s.u2.size() < s.params.threshold) {
    return s.Abort(AbortReason{AbortReason::Stage::kShares, kWholeRound, false,
                               static_cast<std::uint32_t>(s.u2.size()), s.params.threshold},
                   std::to_string(s.u2.size()) + " participants sent shares, fewer than t = " +
                       std::to_string(s.params.threshold));
  }
  for (std::uint32_t i : s.u2) {
    const auto closed = s.graph->ClosedNeighborhood(i);
    const std::uint32_t holders = s.CountIn(closed, [&](std::uint32_t h) { return s.peers[h].shared; });
    if (holders < s.params.threshold) {
      return s.AbortShort(AbortReason::Stage::kShares, i, false, holders,
                          "members of its neighbourhood holding its shares");
    }
  }
  std::vector<SharesRelay> relays;
  relays.reserve(s.u2.size());
  for (std::uint32_t i : s.u2) {
    SharesRelay r;
    r.round_id = s.setup.round_id;
    r.recipient = i;
    for (const EncryptedShare& es : s.peers[i].inbox) {
      if (s.peers[es.peer].shared) r.shares.push_back(es);
    }
    std::sort(r.shares.begin(), r.shares.end(),
              [](const EncryptedShare& a, const EncryptedShare& b) { return a.peer < b.peer; });
    relays.push_back(std::move(r));
  }
  for (auto& p : s.peers) p.inbox = {};
  s.sum.assign(s.setup.num_elements, 0u);
  s.state = State::kCollectingInputs;
  return relays;
}

Status Aggregator::AddMaskedChunk(std::uint32_t sender, std::uint64_t offset,
                                  std::span<const std::uint32_t> values) {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingInputs, "masked input"));
  CAIRN_RETURN_IF_ERROR(s.CheckIndex(sender, "masked input"));
  Impl::Peer& p = s.peers[sender];
  if (!p.shared) {
    return Precondition("masked input from " + Who(sender) + ", which did not share keys in round 2");
  }
  if (p.committed) return Precondition("masked input from " + Who(sender) + ", already committed");
  if (offset != p.folded) {
    return Fail(ErrorCode::kInvalidArgument, "masked input from " + Who(sender) + ": chunk at element " +
                                                 std::to_string(offset) + ", expected " +
                                                 std::to_string(p.folded) + " (chunks in order)");
  }
  if (values.size() > s.setup.num_elements - offset) {
    return Fail(ErrorCode::kOutOfRange, "masked input from " + Who(sender) + ": elements [" +
                                            std::to_string(offset) + ", +" +
                                            std::to_string(values.size()) + ") extend past " +
                                            std::to_string(s.setup.num_elements));
  }
  if (s.observer) s.observer(sender, offset, values);
  std::uint32_t* out = s.sum.data() + offset;
  for (std::size_t i = 0; i < values.size(); ++i) out[i] += values[i];
  p.folded += values.size();
  return Ok();
}

Status Aggregator::HandleMaskedInput(const MaskedInput& m) {
  CAIRN_RETURN_IF_ERROR(impl_->CheckRound(m.round_id, "MaskedInput"));
  return AddMaskedChunk(m.sender, m.offset, m.values);
}

Status Aggregator::CommitInput(std::uint32_t sender) {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingInputs, "CommitInput"));
  CAIRN_RETURN_IF_ERROR(s.CheckIndex(sender, "CommitInput"));
  Impl::Peer& p = s.peers[sender];
  if (!p.shared) return Precondition("CommitInput: " + Who(sender) + " did not share keys in round 2");
  if (p.committed) return Fail(ErrorCode::kAlreadyExists, "CommitInput: " + Who(sender) + " already committed");
  if (p.folded != s.setup.num_elements) {
    return Precondition("CommitInput: " + Who(sender) + " has " + std::to_string(p.folded) +
                        " of " + std::to_string(s.setup.num_elements) + " elements folded");
  }
  p.committed = true;
  return Ok();
}

Result<UnmaskRequest> Aggregator::BeginUnmasking() {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingInputs, "BeginUnmasking"));
  s.committed.clear();
  for (std::uint32_t i : s.u2) {
    const Impl::Peer& p = s.peers[i];
    if (p.committed) {
      s.committed.push_back(i);
    } else if (p.folded > 0) {
      s.WipeAll();
      s.state = State::kAborted;
      return Precondition("BeginUnmasking: " + Who(i) + " has " + std::to_string(p.folded) +
                          " elements folded but did not commit: the sum is unusable (fold only "
                          "uploads that commit); round aborted");
    }
  }
  const auto& S = s.committed;
  auto in_s = [&](std::uint32_t j) { return s.peers[j].committed; };
  if (S.size() < s.params.threshold) {
    return s.Abort(AbortReason{AbortReason::Stage::kUnmasking, kWholeRound, false,
                               static_cast<std::uint32_t>(S.size()), s.params.threshold},
                   std::to_string(S.size()) + " participants committed, fewer than t = " +
                       std::to_string(s.params.threshold) + "; nothing further is revealed");
  }
  for (std::uint32_t i : s.u2) {
    if (in_s(i)) {
      const std::uint32_t c = s.CountIn(s.graph->ClosedNeighborhood(i), in_s);
      if (c < s.params.threshold) {
        return s.AbortShort(AbortReason::Stage::kUnmasking, i, true, c,
                            "committed members in its neighbourhood to reveal its seed shares");
      }
    } else {
      const std::uint32_t c = s.CountIn(s.graph->Neighbors(i), in_s);
      if (c < s.params.threshold) {
        return s.AbortShort(AbortReason::Stage::kUnmasking, i, false, c,
                            "committed neighbours to reveal its mask-key shares");
      }
    }
  }
  CAIRN_RETURN_IF_ERROR(s.CheckSurvivorsConnected(AbortReason::Stage::kUnmasking));
  CAIRN_ASSIGN_OR_RETURN(s.revealed, crypto::SecretBytes::Allocate(
                                         s.u2.size() * s.graph->neighborhood_size() * 32));
  s.state = State::kCollectingReveals;
  return UnmaskRequest{s.setup.round_id, S};
}

Status Aggregator::HandleUnmaskResponse(const UnmaskResponse& m) {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingReveals, "UnmaskResponse"));
  CAIRN_RETURN_IF_ERROR(s.CheckRound(m.round_id, "UnmaskResponse"));
  CAIRN_RETURN_IF_ERROR(s.CheckIndex(m.sender, "UnmaskResponse"));
  Impl::Peer& p = s.peers[m.sender];
  if (!p.committed) return Precondition("UnmaskResponse from " + Who(m.sender) + ", which is not in S");
  if (p.responded) return Fail(ErrorCode::kAlreadyExists, "UnmaskResponse: " + Who(m.sender) + " already answered");
  std::vector<std::uint32_t> owners;
  for (std::uint32_t o : s.graph->ClosedNeighborhood(m.sender)) {
    if (s.peers[o].shared) owners.push_back(o);
  }
  const std::string where = "UnmaskResponse from " + Who(m.sender) + ": ";
  if (m.shares.size() != owners.size()) {
    return Fail(ErrorCode::kInvalidArgument, where + std::to_string(m.shares.size()) +
                                                 " shares, expected " + std::to_string(owners.size()));
  }
  for (std::size_t i = 0; i < owners.size(); ++i) {
    const RevealedShare& rs = m.shares[i];
    if (rs.owner != owners[i]) {
      return Fail(ErrorCode::kInvalidArgument, where + "share " + std::to_string(i) + " is of " +
                                                   Who(rs.owner) + ", expected " + Who(owners[i]));
    }
    const ShareKind want = s.peers[rs.owner].committed ? ShareKind::kSelfMaskSeed : ShareKind::kMaskKey;
    if (rs.kind != want) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + "share of " + Who(rs.owner) + " is of the wrong kind (" +
                      (want == ShareKind::kSelfMaskSeed ? "seed" : "mask key") + " expected)");
    }
  }
  for (const RevealedShare& rs : m.shares) {
    std::memcpy(s.Slot(rs.owner, s.graph->ShareX(rs.owner, m.sender)), rs.y.data(), 32);
  }
  p.responded = true;
  return Ok();
}

Result<UnmaskedSum> Aggregator::Finalize() {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kCollectingReveals, "Finalize"));
  const std::uint32_t t = s.params.threshold;
  auto responded = [&](std::uint32_t j) { return s.peers[j].responded; };
  // S has not changed since BeginUnmasking checked it; checked again (it is cheap) because
  // this is the last point before secrets are rebuilt.
  CAIRN_RETURN_IF_ERROR(s.CheckSurvivorsConnected(AbortReason::Stage::kFinalize));
  // Every count first: no secret is rebuilt unless all of them can be.
  for (std::uint32_t i : s.u2) {
    const bool in_s = s.peers[i].committed;
    const auto holders = in_s ? s.graph->ClosedNeighborhood(i) : s.graph->Neighbors(i);
    const std::uint32_t c = s.CountIn(holders, responded);
    if (c < t) {
      return s.AbortShort(AbortReason::Stage::kFinalize, i, in_s, c,
                          in_s ? "responders holding shares of its seed"
                               : "responders holding shares of its mask key");
    }
  }
  // From here on a failure aborts the round and wipes everything, like a failed count: the
  // responders' shares have been used, and a half-done unmasking must not be retried.
  auto failed = [&](std::uint32_t owner, bool is_committed, const std::string& what, const Error& e) {
    return s.Abort(AbortReason{AbortReason::Stage::kReconstruction, owner, is_committed, t, t},
                   what + " of " + Who(owner) + " failed: " + e.message() + "; nothing further is revealed");
  };
  std::vector<MaskTerm> terms;
  std::size_t num_terms = s.committed.size();
  for (std::uint32_t j : s.u2) {
    if (!s.peers[j].committed) num_terms += s.CountIn(s.graph->Neighbors(j), [&](std::uint32_t m) { return s.peers[m].committed; });
  }
  auto keys = crypto::SecretBytes::Allocate(std::max<std::size_t>(num_terms, 1) * kSeedBytes);
  if (!keys) {
    return s.Abort(AbortReason{AbortReason::Stage::kReconstruction, kWholeRound, false, t, t},
                   "allocating guarded memory for " + std::to_string(num_terms) +
                       " mask keys failed: " + keys.error().message() + "; nothing further is revealed");
  }
  std::vector<ShamirShare> shares(t);
  auto wipe_shares = [&] {
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(shares.data()), shares.size() * sizeof(ShamirShare)));
  };
  auto gather = [&](std::uint32_t owner, const std::vector<std::uint32_t>& holders) {
    std::size_t n = 0;
    for (std::uint32_t h : holders) {
      if (n == t) break;
      if (!s.peers[h].responded) continue;
      const std::uint8_t x = s.graph->ShareX(owner, h);
      shares[n].x = x;
      std::memcpy(shares[n].y.data(), s.Slot(owner, x), 32);
      ++n;
    }
  };
  std::size_t k = 0;
  auto add_term = [&](ByteSpan key, bool subtract) {
    std::memcpy(keys->data() + k * kSeedBytes, key.data(), kSeedBytes);
    terms.push_back(MaskTerm{ByteSpan(keys->data() + k * kSeedBytes, kSeedBytes), subtract});
    ++k;
  };
  terms.reserve(num_terms);
  for (std::uint32_t i : s.u2) {
    const Impl::Peer& p = s.peers[i];
    if (p.committed) {
      gather(i, s.graph->ClosedNeighborhood(i));
      auto seed = ShamirReconstruct(shares, t);
      wipe_shares();
      if (!seed) return failed(i, true, "rebuilding the self-mask seed", seed.error());
      const Digest check = internal::SeedCommitment(s.session, i, seed->span());
      if (!crypto::ConstantTimeEqual(check, p.seed_commitment)) {
        return s.Abort(AbortReason{AbortReason::Stage::kReconstruction, i, true, t, t},
                       "the seed of " + Who(i) +
                           " rebuilt from its shares does not match its commitment: a responder "
                           "revealed a wrong share",
                       ErrorCode::kUnauthenticated);
      }
      auto self_key = internal::SelfMaskKey(s.session, i, seed->span());
      if (!self_key) return failed(i, true, "deriving the self-mask key", self_key.error());
      add_term(self_key->span(), /*subtract=*/true);
    } else {
      gather(i, s.graph->Neighbors(i));
      auto secret = ShamirReconstruct(shares, t);
      wipe_shares();
      if (!secret) return failed(i, false, "rebuilding the mask key", secret.error());
      auto kp = crypto::X25519KeyPair::FromSecret(secret->span());
      if (!kp) return failed(i, false, "loading the rebuilt mask key", kp.error());
      if (!crypto::ConstantTimeEqual(kp->public_key(), p.mask_key)) {
        return s.Abort(AbortReason{AbortReason::Stage::kReconstruction, i, false, t, t},
                       "the mask key of " + Who(i) +
                           " rebuilt from its shares does not match its advertised public key: a "
                           "responder revealed a wrong share",
                       ErrorCode::kUnauthenticated);
      }
      // Each committed neighbour m added sign(m, i)·PRG(s_mi): + when m < i. Take it out.
      for (std::uint32_t m : s.graph->Neighbors(i)) {
        if (!s.peers[m].committed) continue;
        auto dh = crypto::X25519(kp->secret_key(), s.peers[m].mask_key);
        if (!dh) return failed(i, false, "the key agreement with " + Who(m) + " for the mask key", dh.error());
        auto seed = internal::PairMaskSeed(s.session, i, m, dh->span(), p.mask_key, s.peers[m].mask_key);
        if (!seed) return failed(i, false, "deriving the pairwise mask with " + Who(m) + " for the mask key", seed.error());
        add_term(seed->span(), /*subtract=*/m < i);
      }
    }
  }
  ApplyMaskTermsParallel(terms, 0, s.sum, s.unmask_threads);
  s.revealed = crypto::SecretBytes();
  UnmaskedSum out;
  out.ring_sum = std::move(s.sum);
  s.sum = {};
  out.committed = s.committed;
  s.state = State::kDone;
  return out;
}

}  // namespace cairn::secagg
