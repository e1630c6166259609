// The masking graph: which participants hold shares of whose secrets and share pairwise masks.
//
// Built over the members M (the cohort indices that advertised keys, U1), m = |M|, with
// k_eff = min(k, m):
// 1. A permutation π of M, public and deterministic: a Fisher–Yates shuffle of M (ascending)
//    driven by the ChaCha20 keystream of HKDF-SHA256(salt "cairn/secagg/v1/graph", ikm =
//    graph_seed), each swap index drawn by rejection sampling from 32-bit words (no modulo
//    bias). Position p holds participant π[p].
// 2. A ring over the positions. If k_eff < m (then k is odd and k < m), the closed
//    neighbourhood of the participant at position p is the positions p + d mod m for
//    d ∈ [−h, h], h = (k − 1)/2: the circulant (Harary) graph C_m(1..h), k-regular including
//    the node itself. If k ≥ m the graph is complete (every member holds a share of every
//    secret).
// 3. Share x-coordinates: the holder at offset d from the owner gets x = d + h + 1 ∈ [1, k]
//    (ring case) or x = (d mod m) + 1 ∈ [1, m] (complete case); the owner's own slot is
//    x = h + 1, resp. 1.
// Why a seeded permutation rather than roster order: participants cannot know or arrange in
// advance who their neighbours will be (a coalition of consecutive roster entries would
// otherwise surround the same victim every round), and the neighbourhoods change each round.
// The aggregator draws the seed per round (RoundSetup::graph_seed); it could grind it only if
// its code were replaced, a threat docs/masking.md discusses.
//
// Immutable after Build; thread-safe for concurrent const use. O(n) memory.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::secagg {

class Graph {
 public:
  // members: distinct cohort indices < cohort_size, any order; at least 1. k: odd ≥ 1.
  static Result<Graph> Build(std::uint32_t cohort_size, std::vector<std::uint32_t> members,
                             std::uint32_t k, ByteSpan graph_seed);

  std::uint32_t cohort_size() const { return static_cast<std::uint32_t>(position_.size()); }
  std::uint32_t num_members() const { return static_cast<std::uint32_t>(members_.size()); }
  // k_eff = min(k, m): the size of every closed neighbourhood.
  std::uint32_t neighborhood_size() const { return k_eff_; }
  bool IsMember(std::uint32_t index) const {
    return index < position_.size() && position_[index] != kNone;
  }
  // Members in ascending index order.
  const std::vector<std::uint32_t>& members() const { return sorted_members_; }

  // N[i] (i included), in ascending index order. i must be a member.
  std::vector<std::uint32_t> ClosedNeighborhood(std::uint32_t i) const;
  // N(i) = N[i] without i, ascending.
  std::vector<std::uint32_t> Neighbors(std::uint32_t i) const;
  // True when holder ∈ N[owner] (symmetric; true for owner == holder). Both must be members.
  bool InNeighborhood(std::uint32_t owner, std::uint32_t holder) const;
  // The x-coordinate of holder's share of owner's secrets; 0 when holder ∉ N[owner].
  std::uint8_t ShareX(std::uint32_t owner, std::uint32_t holder) const;

  // The connected components of the graph restricted to `subset` (distinct cohort indices):
  // each component ascending, the components ordered by their smallest index. An index that is
  // not a member is a component of its own (it shares no mask with anyone). Pairwise masks
  // cancel within each component separately, so with every self-mask seed and every dropped
  // member's mask key rebuilt, each component's sum is recoverable on its own: unmasking S is
  // safe only when S is one component (docs/masking.md, "Dropouts and aborts").
  // O(m + |subset|·k) time (plus sorting the result), O(m) memory; m = the number of members.
  std::vector<std::vector<std::uint32_t>> Components(std::span<const std::uint32_t> subset) const;

 private:
  static constexpr std::uint32_t kNone = 0xffffffffu;
  // Offset of holder from owner on the ring, in [−h, h] (ring) or [0, m) (complete); false when
  // not neighbours.
  bool Offset(std::uint32_t owner, std::uint32_t holder, std::int64_t* d) const;

  std::vector<std::uint32_t> members_;         // members_[p]: participant at position p
  std::vector<std::uint32_t> sorted_members_;  // ascending
  std::vector<std::uint32_t> position_;        // position_[index] or kNone
  std::uint32_t k_eff_ = 0;
  bool complete_ = false;
};

}  // namespace cairn::secagg
