// The participant side of pairwise masking: one object per participant per round.
//
// Life cycle (each arrow is one call; any other call in a state fails with
// kFailedPrecondition and changes nothing):
//
//   Create ──▶ kAdvertised      send advertisement()                         (round 1)
//   HandleKeysRelay ──▶ kSharesSent   send the returned ShareKeys             (round 2)
//   HandleSharesRelay ──▶ kMasking    MaskChunk / MaskAll, send the chunks    (round 3)
//   FinishMasking ──▶ kCommitted      when the commit for the upload is sent
//   HandleUnmaskRequest ──▶ kRevealed send the returned UnmaskResponse        (round 4)
//
// An input that fails validation is refused with an error and leaves the state unchanged; the
// caller then abandons the round (a participant never has to answer anything it refused).
// Guarantees enforced here, whatever the aggregator asks:
// - it reveals, for each neighbour, the share of the self-mask seed or the share of the mask
//   key, never both (a second UnmaskRequest that would flip one is refused, kPermissionDenied);
// - it answers only an UnmaskRequest whose committed set S holds itself, has at least t
//   members, and lists no neighbour that did not send it shares (views that disagree);
// - it masks only if at least t − 1 neighbours sent it shares (so its masked input carries at
//   least that many pairwise masks).
// Secrets (key pairs, seed, shares, mask seeds) live in guarded memory; the X25519 secret keys
// and the seed are wiped as soon as round 2 ends.
//
// Thread safety: not thread-safe, except that const MaskChunk calls on distinct chunks may run
// concurrently. Move-only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/core/error.h"
#include "common/secagg/messages.h"
#include "common/secagg/params.h"
#include "common/secagg/quantize.h"

namespace cairn::secagg {

struct ParticipantOptions {
  Params params;         // validated by Create (ValidateParams)
  RoundSetup setup;      // validated by Create (ValidateRoundSetup)
  std::uint32_t index = 0;  // this participant's position in the cohort, < setup.cohort_size
  RandomFill random;     // secret randomness; empty = the CSPRNG (tests inject a seeded one)
};

class Participant {
 public:
  enum class State { kAdvertised, kSharesSent, kMasking, kCommitted, kRevealed };

  // Makes the two X25519 key pairs, the self-mask seed and the rounding key.
  static Result<Participant> Create(const ParticipantOptions& options);
  Participant(Participant&&) noexcept;
  Participant& operator=(Participant&&) noexcept;
  ~Participant();

  // Round 1: the message to send (the same every time it is asked for).
  const AdvertiseKeys& advertisement() const;

  // Round 2: checks the relay (round, recipient, members ∋ self, |members| ≥ t, neighbours =
  // exactly N(self) of the graph over members, public keys valid and distinct), then splits
  // the seed and the mask secret key t-of-k and encrypts each neighbour's shares to it.
  Result<ShareKeys> HandleKeysRelay(const KeysRelay& relay);

  // Round 2 → 3: decrypts the shares addressed to this participant (every sender must be a
  // neighbour; a ciphertext that does not open is kUnauthenticated, naming the sender); the
  // senders become its mask partners; derives the pairwise and self mask keys.
  Status HandleSharesRelay(const SharesRelay& relay);

  // Round 3: out[i] = q(values[i]) + PRG(seed)[e] + Σ_partners ±PRG(s_ij)[e] (mod 2^32) for
  // element e = offset + i: + when this index is below the partner's, − above. Chunks may be
  // masked in any order; the result depends only on (values, offset), so a resent chunk is
  // identical. Contract: mask one update per round — masking different values at the same
  // offset would show the aggregator their difference. out.size() == values.size() and
  // offset + size ≤ setup.num_elements.
  Result<QuantizeStats> MaskChunk(std::span<const float> values, std::uint64_t offset,
                                  std::span<std::uint32_t> out) const;
  // The whole update as one MaskedInput (offset 0); values.size() == setup.num_elements.
  Result<MaskedInput> MaskAll(std::span<const float> values) const;
  // Marks the masked input as committed (sent in full). kMasking → kCommitted.
  Status FinishMasking();

  // Round 4: one share per owner in partners ∪ {self}: of the seed when the owner is in S, of
  // the mask key otherwise. Repeating a request that reveals the same kinds returns the same
  // response (a retry); one that would flip a kind is refused (kPermissionDenied). A request
  // whose committed set S is not connected under the masking graph is refused
  // (kFailedPrecondition): it would let the aggregator learn each group's sum.
  Result<UnmaskResponse> HandleUnmaskRequest(const UnmaskRequest& request);

  State state() const;
  std::uint32_t index() const;
  const SessionId& session_id() const;
  // The neighbours whose shares arrived (sorted), known from kMasking on.
  const std::vector<std::uint32_t>& mask_partners() const;
  // Bounds for decoding the messages of this round.
  DecodeLimits decode_limits() const;

  struct Impl;

 private:
  explicit Participant(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

const char* ParticipantStateName(Participant::State state);

}  // namespace cairn::secagg
