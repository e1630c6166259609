#include "common/secagg/participant.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "common/core/bytes.h"
#include "common/crypto/crypto.h"
#include "common/secagg/graph.h"
#include "common/secagg/internal.h"
#include "common/secagg/kdf.h"
#include "common/secagg/keystream.h"
#include "common/secagg/shamir.h"

namespace cairn::secagg {

using internal::Precondition;
using internal::Who;

namespace {

constexpr std::array<std::uint8_t, crypto::kAeadNonceBytes> kZeroNonce{};

}  // namespace

const char* ParticipantStateName(Participant::State state) {
  switch (state) {
    case Participant::State::kAdvertised: return "advertised";
    case Participant::State::kSharesSent: return "shares-sent";
    case Participant::State::kMasking: return "masking";
    case Participant::State::kCommitted: return "committed";
    case Participant::State::kRevealed: return "revealed";
  }
  return "unknown";
}

struct Participant::Impl {
  Params params;
  RoundSetup setup;
  SessionId session{};
  std::uint32_t index = 0;
  RandomFill random;
  State state = State::kAdvertised;

  AdvertiseKeys advert;
  std::optional<crypto::X25519KeyPair> cipher_keys;  // wiped after round 2
  std::optional<crypto::X25519KeyPair> mask_keys;    // wiped after round 2
  crypto::SecretBytes seed;                          // wiped after round 2
  std::optional<Quantizer> quantizer;

  std::optional<Graph> graph;
  std::vector<NeighborKeys> neighbor_keys;  // N(self), ascending
  crypto::SecretBytes own_seed_share;       // y of this participant's own seed share

  std::vector<std::uint32_t> partners;   // ascending
  crypto::SecretBytes partner_shares;    // per partner: seed share y (32) ‖ key share y (32)
  crypto::SecretBytes mask_seeds;        // self mask key, then one pair seed per partner
  std::vector<bool> subtract;            // per mask seed

  std::optional<UnmaskResponse> response;  // what was revealed (returned again on a retry)

  void Fill(MutableByteSpan out) const {
    if (random) {
      random(out);
    } else {
      crypto::RandomBytes(out);
    }
  }

  Status Expect(State want, const char* call) const {
    if (state != want) {
      return Precondition(std::string(call) + ": " + Who(index) + " is in state " +
                          ParticipantStateName(state) + ", not " + ParticipantStateName(want));
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

  const NeighborKeys* FindNeighbor(std::uint32_t j) const {
    auto it = std::lower_bound(neighbor_keys.begin(), neighbor_keys.end(), j,
                               [](const NeighborKeys& nk, std::uint32_t v) { return nk.index < v; });
    return it != neighbor_keys.end() && it->index == j ? &*it : nullptr;
  }
};

Participant::Participant(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Participant::Participant(Participant&&) noexcept = default;
Participant& Participant::operator=(Participant&&) noexcept = default;
Participant::~Participant() = default;

Result<Participant> Participant::Create(const ParticipantOptions& options) {
  CAIRN_RETURN_IF_ERROR(crypto::Init());
  CAIRN_RETURN_IF_ERROR(ValidateParams(options.params));
  CAIRN_RETURN_IF_ERROR(ValidateRoundSetup(options.params, options.setup));
  if (options.index >= options.setup.cohort_size) {
    return Fail(ErrorCode::kInvalidArgument, "participant index " + std::to_string(options.index) +
                                                 " is outside the cohort of " +
                                                 std::to_string(options.setup.cohort_size));
  }
  auto impl = std::make_unique<Impl>();
  impl->params = options.params;
  impl->setup = options.setup;
  impl->session = ComputeSessionId(options.params, options.setup);
  impl->index = options.index;
  impl->random = options.random;

  CAIRN_ASSIGN_OR_RETURN(auto scratch, crypto::SecretBytes::Allocate(32));
  impl->Fill(scratch.mutable_span());
  CAIRN_ASSIGN_OR_RETURN(auto ck, crypto::X25519KeyPair::FromSecret(scratch.span()));
  impl->Fill(scratch.mutable_span());
  CAIRN_ASSIGN_OR_RETURN(auto sk, crypto::X25519KeyPair::FromSecret(scratch.span()));
  impl->Fill(scratch.mutable_span());
  CAIRN_ASSIGN_OR_RETURN(auto q, Quantizer::Create(options.params, scratch.span()));
  CAIRN_ASSIGN_OR_RETURN(impl->seed, crypto::SecretBytes::Allocate(kSeedBytes));
  impl->Fill(impl->seed.mutable_span());
  impl->cipher_keys.emplace(std::move(ck));
  impl->mask_keys.emplace(std::move(sk));
  impl->quantizer.emplace(std::move(q));

  impl->advert.round_id = options.setup.round_id;
  impl->advert.sender = options.index;
  impl->advert.cipher_key = impl->cipher_keys->public_key();
  impl->advert.mask_key = impl->mask_keys->public_key();
  return Participant(std::move(impl));
}

const AdvertiseKeys& Participant::advertisement() const { return impl_->advert; }
Participant::State Participant::state() const { return impl_->state; }
std::uint32_t Participant::index() const { return impl_->index; }
const SessionId& Participant::session_id() const { return impl_->session; }
const std::vector<std::uint32_t>& Participant::mask_partners() const { return impl_->partners; }
DecodeLimits Participant::decode_limits() const { return LimitsFor(impl_->params, impl_->setup); }

Result<ShareKeys> Participant::HandleKeysRelay(const KeysRelay& relay) {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kAdvertised, "KeysRelay"));
  CAIRN_RETURN_IF_ERROR(s.CheckRound(relay.round_id, "KeysRelay"));
  const std::string where = "KeysRelay to " + Who(s.index) + ": ";
  if (relay.recipient != s.index) {
    return Fail(ErrorCode::kInvalidArgument, where + "addressed to " + Who(relay.recipient));
  }
  for (std::size_t i = 0; i < relay.members.size(); ++i) {
    if (relay.members[i] >= s.setup.cohort_size || (i > 0 && relay.members[i] <= relay.members[i - 1])) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + "members must be ascending cohort indices (item " + std::to_string(i) + ")");
    }
  }
  if (!std::binary_search(relay.members.begin(), relay.members.end(), s.index)) {
    return Fail(ErrorCode::kInvalidArgument, where + "the members do not include this participant");
  }
  if (relay.members.size() < s.params.threshold) {
    return Fail(ErrorCode::kFailedPrecondition,
                where + std::to_string(relay.members.size()) +
                    " members advertised keys, fewer than the threshold t = " +
                    std::to_string(s.params.threshold));
  }
  CAIRN_ASSIGN_OR_RETURN(Graph graph, Graph::Build(s.setup.cohort_size, relay.members,
                                                   s.params.neighborhood_size, s.setup.graph_seed));
  const std::vector<std::uint32_t> expected = graph.Neighbors(s.index);
  if (relay.neighbors.size() != expected.size()) {
    return Fail(ErrorCode::kInvalidArgument, where + std::to_string(relay.neighbors.size()) +
                                                 " neighbours' keys, the graph gives " +
                                                 std::to_string(expected.size()));
  }
  std::set<PublicKey> keys = {s.advert.cipher_key, s.advert.mask_key};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const NeighborKeys& nk = relay.neighbors[i];
    if (nk.index != expected[i]) {
      return Fail(ErrorCode::kInvalidArgument, where + "neighbour " + std::to_string(i) + " is " +
                                                   Who(nk.index) + ", the graph gives " +
                                                   Who(expected[i]));
    }
    CAIRN_RETURN_IF_ERROR(internal::CheckPublicKey(nk.cipher_key, "cipher key", nk.index));
    CAIRN_RETURN_IF_ERROR(internal::CheckPublicKey(nk.mask_key, "mask key", nk.index));
    if (!keys.insert(nk.cipher_key).second || !keys.insert(nk.mask_key).second) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + "a public key of " + Who(nk.index) + " repeats another key of the round");
    }
  }

  // Split the seed and the mask secret key over the closed neighbourhood.
  const std::vector<std::uint32_t> closed = graph.ClosedNeighborhood(s.index);
  std::vector<std::uint8_t> xs(closed.size());
  for (std::size_t h = 0; h < closed.size(); ++h) xs[h] = graph.ShareX(s.index, closed[h]);
  std::vector<ShamirShare> seed_shares(closed.size()), key_shares(closed.size());
  auto wipe_shares = [&] {
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(seed_shares.data()), seed_shares.size() * sizeof(ShamirShare)));
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(key_shares.data()), key_shares.size() * sizeof(ShamirShare)));
  };
  RandomFill fill = [&s](MutableByteSpan out) { s.Fill(out); };
  Status split = ShamirSplit(s.seed.span(), s.params.threshold, xs, fill, seed_shares);
  if (split) split = ShamirSplit(s.mask_keys->secret_key(), s.params.threshold, xs, fill, key_shares);
  if (!split) {
    wipe_shares();
    return Fail(std::move(split).error());
  }

  ShareKeys out;
  out.round_id = s.setup.round_id;
  out.sender = s.index;
  out.seed_commitment = internal::SeedCommitment(s.session, s.index, s.seed.span());
  crypto::SecretBytes own_share;
  Status sealed = Ok();
  for (std::size_t h = 0; h < closed.size() && sealed; ++h) {
    const std::uint32_t holder = closed[h];
    if (holder == s.index) {
      auto copy = crypto::SecretBytes::CopyFrom(seed_shares[h].y);
      if (!copy) sealed = Fail(std::move(copy).error());
      else own_share = std::move(*copy);
      continue;
    }
    sealed = [&]() -> Status {
      const NeighborKeys* nk = nullptr;
      for (const auto& n : relay.neighbors) if (n.index == holder) nk = &n;
      CAIRN_ASSIGN_OR_RETURN(auto dh, crypto::X25519(s.cipher_keys->secret_key(), nk->cipher_key));
      CAIRN_ASSIGN_OR_RETURN(auto key, internal::ShareKey(s.session, s.index, holder, dh.span(),
                                                          s.advert.cipher_key, nk->cipher_key));
      CAIRN_ASSIGN_OR_RETURN(auto aead, crypto::Aead::Create(crypto::AeadAlgorithm::kChaCha20Poly1305, key.span()));
      CAIRN_ASSIGN_OR_RETURN(auto pt, crypto::SecretBytes::Allocate(kSharePlaintextBytes));
      StoreU32Be(pt.data(), s.index);
      StoreU32Be(pt.data() + 4, holder);
      std::memcpy(pt.data() + 8, seed_shares[h].y.data(), 32);
      std::memcpy(pt.data() + 40, key_shares[h].y.data(), 32);
      EncryptedShare es;
      es.peer = holder;
      CAIRN_RETURN_IF_ERROR(aead.Seal(kZeroNonce, internal::ShareAad(s.session, s.index, holder),
                                      pt.span(), es.ciphertext));
      out.shares.push_back(es);
      return Ok();
    }();
  }
  wipe_shares();
  if (!sealed) return Fail(std::move(sealed).error());

  s.graph.emplace(std::move(graph));
  s.neighbor_keys = relay.neighbors;
  s.own_seed_share = std::move(own_share);
  s.state = State::kSharesSent;
  return out;
}

Status Participant::HandleSharesRelay(const SharesRelay& relay) {
  Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kSharesSent, "SharesRelay"));
  CAIRN_RETURN_IF_ERROR(s.CheckRound(relay.round_id, "SharesRelay"));
  const std::string where = "SharesRelay to " + Who(s.index) + ": ";
  if (relay.recipient != s.index) {
    return Fail(ErrorCode::kInvalidArgument, where + "addressed to " + Who(relay.recipient));
  }
  const std::size_t n = relay.shares.size();
  std::vector<std::uint32_t> partners;
  CAIRN_ASSIGN_OR_RETURN(auto shares, crypto::SecretBytes::Allocate(std::max<std::size_t>(n, 1) * 64));
  for (std::size_t i = 0; i < n; ++i) {
    const EncryptedShare& es = relay.shares[i];
    const std::uint32_t j = es.peer;
    if (i > 0 && j <= relay.shares[i - 1].peer) {
      return Fail(ErrorCode::kInvalidArgument, where + "senders must be strictly ascending (item " +
                                                   std::to_string(i) + ")");
    }
    const NeighborKeys* nk = s.FindNeighbor(j);
    if (nk == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, where + "shares from " + Who(j) + ", which is not a neighbour");
    }
    CAIRN_ASSIGN_OR_RETURN(auto dh, crypto::X25519(s.cipher_keys->secret_key(), nk->cipher_key));
    CAIRN_ASSIGN_OR_RETURN(auto key, internal::ShareKey(s.session, j, s.index, dh.span(),
                                                        nk->cipher_key, s.advert.cipher_key));
    CAIRN_ASSIGN_OR_RETURN(auto aead, crypto::Aead::Create(crypto::AeadAlgorithm::kChaCha20Poly1305, key.span()));
    CAIRN_ASSIGN_OR_RETURN(auto pt, crypto::SecretBytes::Allocate(kSharePlaintextBytes));
    if (!aead.Open(kZeroNonce, internal::ShareAad(s.session, j, s.index), es.ciphertext, pt.mutable_span())) {
      return Fail(ErrorCode::kUnauthenticated,
                  where + "the shares from " + Who(j) + " do not decrypt (wrong key, round or sender)");
    }
    if (LoadU32Be(pt.data()) != j || LoadU32Be(pt.data() + 4) != s.index) {
      return Fail(ErrorCode::kUnauthenticated, where + "the shares from " + Who(j) + " name another owner or holder");
    }
    std::memcpy(shares.data() + 64 * i, pt.data() + 8, 64);
    partners.push_back(j);
  }
  if (partners.size() + 1 < s.params.threshold) {
    return Fail(ErrorCode::kFailedPrecondition,
                where + "only " + std::to_string(partners.size()) + " of " +
                    std::to_string(s.neighbor_keys.size()) +
                    " neighbours sent shares; with t = " + std::to_string(s.params.threshold) +
                    " this participant refuses to mask (too few pairwise masks)");
  }
  // Mask keys: the self mask, then one pairwise seed per partner.
  CAIRN_ASSIGN_OR_RETURN(auto seeds, crypto::SecretBytes::Allocate((1 + partners.size()) * kSeedBytes));
  std::vector<bool> subtract(1 + partners.size(), false);
  {
    CAIRN_ASSIGN_OR_RETURN(auto self_key, internal::SelfMaskKey(s.session, s.index, s.seed.span()));
    std::memcpy(seeds.data(), self_key.data(), kSeedBytes);
  }
  for (std::size_t p = 0; p < partners.size(); ++p) {
    const std::uint32_t j = partners[p];
    const NeighborKeys* nk = s.FindNeighbor(j);
    CAIRN_ASSIGN_OR_RETURN(auto dh, crypto::X25519(s.mask_keys->secret_key(), nk->mask_key));
    CAIRN_ASSIGN_OR_RETURN(auto seed, internal::PairMaskSeed(s.session, s.index, j, dh.span(),
                                                             s.advert.mask_key, nk->mask_key));
    std::memcpy(seeds.data() + (1 + p) * kSeedBytes, seed.data(), kSeedBytes);
    subtract[1 + p] = s.index > j;
  }
  s.partners = std::move(partners);
  s.partner_shares = std::move(shares);
  s.mask_seeds = std::move(seeds);
  s.subtract = std::move(subtract);
  // Round 2 is over: the key pairs and the seed are no longer needed (the own seed share is).
  s.cipher_keys.reset();
  s.mask_keys.reset();
  s.seed = crypto::SecretBytes();
  s.state = State::kMasking;
  return Ok();
}

Result<QuantizeStats> Participant::MaskChunk(std::span<const float> values, std::uint64_t offset,
                                             std::span<std::uint32_t> out) const {
  const Impl& s = *impl_;
  CAIRN_RETURN_IF_ERROR(s.Expect(State::kMasking, "MaskChunk"));
  if (values.size() != out.size()) {
    return Fail(ErrorCode::kInvalidArgument, "MaskChunk: " + std::to_string(values.size()) +
                                                 " values but an output of " + std::to_string(out.size()));
  }
  if (offset > s.setup.num_elements || values.size() > s.setup.num_elements - offset) {
    return Fail(ErrorCode::kOutOfRange, "MaskChunk: elements [" + std::to_string(offset) + ", +" +
                                            std::to_string(values.size()) + ") extend past " +
                                            std::to_string(s.setup.num_elements));
  }
  CAIRN_ASSIGN_OR_RETURN(QuantizeStats stats, s.quantizer->Quantize(values, offset, out));
  std::vector<MaskTerm> terms(s.subtract.size());
  for (std::size_t i = 0; i < terms.size(); ++i) {
    terms[i].key = ByteSpan(s.mask_seeds.data() + i * kSeedBytes, kSeedBytes);
    terms[i].subtract = s.subtract[i];
  }
  ApplyMaskTerms(terms, offset, out);
  return stats;
}

Result<MaskedInput> Participant::MaskAll(std::span<const float> values) const {
  if (values.size() != impl_->setup.num_elements) {
    return Fail(ErrorCode::kInvalidArgument, "MaskAll: " + std::to_string(values.size()) +
                                                 " values, the round has " +
                                                 std::to_string(impl_->setup.num_elements));
  }
  MaskedInput m;
  m.round_id = impl_->setup.round_id;
  m.sender = impl_->index;
  m.offset = 0;
  m.values.resize(values.size());
  CAIRN_RETURN_IF_ERROR(MaskChunk(values, 0, m.values));
  return m;
}

Status Participant::FinishMasking() {
  CAIRN_RETURN_IF_ERROR(impl_->Expect(State::kMasking, "FinishMasking"));
  impl_->state = State::kCommitted;
  return Ok();
}

Result<UnmaskResponse> Participant::HandleUnmaskRequest(const UnmaskRequest& request) {
  Impl& s = *impl_;
  if (s.state != State::kCommitted && s.state != State::kRevealed) {
    return Precondition("UnmaskRequest: " + Who(s.index) + " is in state " +
                        ParticipantStateName(s.state) + "; it answers only after committing");
  }
  CAIRN_RETURN_IF_ERROR(s.CheckRound(request.round_id, "UnmaskRequest"));
  const std::string where = "UnmaskRequest to " + Who(s.index) + ": ";
  const auto& S = request.committed;
  for (std::size_t i = 0; i < S.size(); ++i) {
    if (S[i] >= s.setup.cohort_size || (i > 0 && S[i] <= S[i - 1])) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + "the committed set must be ascending cohort indices (item " + std::to_string(i) + ")");
    }
  }
  auto in_s = [&S](std::uint32_t j) { return std::binary_search(S.begin(), S.end(), j); };
  if (!in_s(s.index)) {
    return Precondition(where + "the committed set does not include this participant, which committed");
  }
  if (S.size() < s.params.threshold) {
    return Precondition(where + "only " + std::to_string(S.size()) +
                        " participants committed, fewer than t = " + std::to_string(s.params.threshold) +
                        ": refusing to reveal");
  }
  for (std::uint32_t j : s.graph->Neighbors(s.index)) {
    if (in_s(j) && !std::binary_search(s.partners.begin(), s.partners.end(), j)) {
      return Precondition(where + "neighbour " + Who(j) +
                          " is listed as committed but never sent this participant its shares "
                          "(inconsistent views of the round): refusing to reveal");
    }
  }
  // The connectivity rule (as the aggregator checks it): over a committed set that splits into
  // groups under the masking graph, the revealed shares would give each group's sum on its own.
  if (const auto groups = s.graph->Components(S); groups.size() > 1) {
    return Precondition(where + "the " + std::to_string(S.size()) + " committed participants split into " +
                        std::to_string(groups.size()) +
                        " groups under the masking graph, so unmasking would reveal each group's sum: "
                        "refusing to reveal");
  }
  UnmaskResponse out;
  out.round_id = s.setup.round_id;
  out.sender = s.index;
  std::vector<std::uint32_t> owners = s.partners;
  owners.insert(std::lower_bound(owners.begin(), owners.end(), s.index), s.index);
  for (std::uint32_t owner : owners) {
    RevealedShare rs;
    rs.owner = owner;
    if (owner == s.index) {
      rs.kind = ShareKind::kSelfMaskSeed;
      std::memcpy(rs.y.data(), s.own_seed_share.data(), 32);
    } else {
      const std::size_t p = std::lower_bound(s.partners.begin(), s.partners.end(), owner) - s.partners.begin();
      rs.kind = in_s(owner) ? ShareKind::kSelfMaskSeed : ShareKind::kMaskKey;
      std::memcpy(rs.y.data(), s.partner_shares.data() + 64 * p + (rs.kind == ShareKind::kSelfMaskSeed ? 0 : 32), 32);
    }
    out.shares.push_back(rs);
  }
  if (s.response) {
    // A second request: the kind revealed for each owner is fixed by the first.
    for (std::size_t i = 0; i < out.shares.size(); ++i) {
      if (out.shares[i].kind != s.response->shares[i].kind) {
        const bool had_seed = s.response->shares[i].kind == ShareKind::kSelfMaskSeed;
        return Fail(ErrorCode::kPermissionDenied,
                    where + "refusing to reveal the " + (had_seed ? "mask-key" : "self-mask-seed") +
                        " share of " + Who(out.shares[i].owner) + ": its " +
                        (had_seed ? "self-mask-seed" : "mask-key") +
                        " share was already revealed this round (never both)");
      }
    }
    return *s.response;
  }
  s.response = out;
  s.state = State::kRevealed;
  return out;
}

}  // namespace cairn::secagg
