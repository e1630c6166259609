#include "common/secagg/graph.h"

#include <algorithm>
#include <string>

#include "common/crypto/crypto.h"
#include "common/secagg/keystream.h"
#include "common/secagg/params.h"

namespace cairn::secagg {
namespace {

// Uniform 32-bit words from a keystream, consumed in order.
class WordStream {
 public:
  explicit WordStream(ByteSpan key) : key_(key) {}
  std::uint32_t Next() {
    if (pos_ == buf_.size()) {
      KeystreamWords(key_, base_, buf_);
      base_ += buf_.size();
      pos_ = 0;
    }
    return buf_[pos_++];
  }

 private:
  ByteSpan key_;
  std::array<std::uint32_t, 64> buf_{};
  std::size_t pos_ = 64;
  std::uint64_t base_ = 0;
};

// Uniform in [0, bound), bound ≥ 1: rejection of the top partial range.
std::uint32_t UniformBelow(std::uint32_t bound, WordStream& words) {
  const std::uint32_t limit = static_cast<std::uint32_t>((std::uint64_t{1} << 32) / bound * bound - 1);
  for (;;) {
    const std::uint32_t w = words.Next();
    if (w <= limit) return w % bound;
  }
}

}  // namespace

Result<Graph> Graph::Build(std::uint32_t cohort_size, std::vector<std::uint32_t> members,
                           std::uint32_t k, ByteSpan graph_seed) {
  if (members.empty()) return Fail(ErrorCode::kInvalidArgument, "graph: no members");
  if (k == 0 || k % 2 == 0) {
    return Fail(ErrorCode::kInvalidArgument, "graph: k = " + std::to_string(k) + " must be odd");
  }
  if (k > kMaxNeighborhood) {
    return Fail(ErrorCode::kInvalidArgument, "graph: k = " + std::to_string(k) + " is above 255");
  }
  if (graph_seed.size() != kSeedBytes) {
    return Fail(ErrorCode::kInvalidArgument, "graph: seed must be 32 bytes");
  }
  Graph g;
  g.position_.assign(cohort_size, kNone);
  std::sort(members.begin(), members.end());
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (members[i] >= cohort_size) {
      return Fail(ErrorCode::kInvalidArgument, "graph: member " + std::to_string(members[i]) +
                                                   " is outside the cohort of " +
                                                   std::to_string(cohort_size));
    }
    if (i > 0 && members[i] == members[i - 1]) {
      return Fail(ErrorCode::kInvalidArgument, "graph: member " + std::to_string(members[i]) + " repeated");
    }
  }
  g.sorted_members_ = members;
  // Fisher–Yates from the last position down.
  const auto prk = crypto::HkdfSha256Extract(AsBytes("cairn/secagg/v1/graph"), graph_seed);
  CAIRN_ASSIGN_OR_RETURN(auto key, crypto::HkdfSha256Expand(prk, AsBytes("permutation"), kSeedBytes));
  WordStream words(key.span());
  for (std::size_t i = members.size(); i > 1; --i) {
    const std::uint32_t j = UniformBelow(static_cast<std::uint32_t>(i), words);
    std::swap(members[i - 1], members[j]);
  }
  g.members_ = std::move(members);
  for (std::uint32_t p = 0; p < g.members_.size(); ++p) g.position_[g.members_[p]] = p;
  const auto m = static_cast<std::uint32_t>(g.members_.size());
  g.complete_ = k >= m;
  g.k_eff_ = std::min(k, m);
  return g;
}

bool Graph::Offset(std::uint32_t owner, std::uint32_t holder, std::int64_t* d) const {
  if (!IsMember(owner) || !IsMember(holder)) return false;
  const std::int64_t m = members_.size();
  std::int64_t diff = (static_cast<std::int64_t>(position_[holder]) - position_[owner]) % m;
  if (diff < 0) diff += m;
  if (complete_) {
    *d = diff;
    return true;
  }
  const std::int64_t h = (k_eff_ - 1) / 2;
  if (diff <= h) {
    *d = diff;
    return true;
  }
  if (diff >= m - h) {
    *d = diff - m;
    return true;
  }
  return false;
}

bool Graph::InNeighborhood(std::uint32_t owner, std::uint32_t holder) const {
  std::int64_t d;
  return Offset(owner, holder, &d);
}

std::uint8_t Graph::ShareX(std::uint32_t owner, std::uint32_t holder) const {
  std::int64_t d;
  if (!Offset(owner, holder, &d)) return 0;
  if (complete_) return static_cast<std::uint8_t>(d + 1);
  const std::int64_t h = (k_eff_ - 1) / 2;
  return static_cast<std::uint8_t>(d + h + 1);
}

std::vector<std::uint32_t> Graph::ClosedNeighborhood(std::uint32_t i) const {
  std::vector<std::uint32_t> out;
  if (!IsMember(i)) return out;
  const std::int64_t m = members_.size();
  const std::int64_t p = position_[i];
  if (complete_) {
    out = sorted_members_;
    return out;
  }
  const std::int64_t h = (k_eff_ - 1) / 2;
  out.reserve(k_eff_);
  for (std::int64_t d = -h; d <= h; ++d) out.push_back(members_[((p + d) % m + m) % m]);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::uint32_t> Graph::Neighbors(std::uint32_t i) const {
  auto out = ClosedNeighborhood(i);
  out.erase(std::remove(out.begin(), out.end(), i), out.end());
  return out;
}

std::vector<std::vector<std::uint32_t>> Graph::Components(std::span<const std::uint32_t> subset) const {
  std::vector<std::vector<std::uint32_t>> out;
  const auto m = static_cast<std::uint32_t>(members_.size());
  // By position: 0 = not in the subset, 1 = in it and not reached yet, 2 = reached.
  std::vector<std::uint8_t> mark(m, 0);
  for (std::uint32_t i : subset) {
    if (IsMember(i)) {
      mark[position_[i]] = 1;
    } else {
      out.push_back({i});
    }
  }
  const std::int64_t mm = m;
  const std::int64_t h = (static_cast<std::int64_t>(k_eff_) - 1) / 2;  // ring case
  std::vector<std::uint32_t> queue;  // positions
  for (std::uint32_t i : subset) {
    if (!IsMember(i) || mark[position_[i]] != 1) continue;
    std::vector<std::uint32_t> component;
    if (complete_) {
      // Every two members are neighbours: the subset's members are one component.
      for (std::uint32_t j : subset) {
        if (IsMember(j) && mark[position_[j]] == 1) {
          mark[position_[j]] = 2;
          component.push_back(j);
        }
      }
    } else {
      queue.assign(1, position_[i]);
      mark[position_[i]] = 2;
      for (std::size_t head = 0; head < queue.size(); ++head) {
        const std::int64_t p = queue[head];
        component.push_back(members_[p]);
        for (std::int64_t d = -h; d <= h; ++d) {
          if (d == 0) continue;
          const auto q = static_cast<std::uint32_t>(((p + d) % mm + mm) % mm);
          if (mark[q] == 1) {
            mark[q] = 2;
            queue.push_back(q);
          }
        }
      }
    }
    std::sort(component.begin(), component.end());
    out.push_back(std::move(component));
  }
  std::sort(out.begin(), out.end(),
            [](const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) { return a.front() < b.front(); });
  return out;
}

}  // namespace cairn::secagg
