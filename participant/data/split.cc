#include "participant/data/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/model/model_spec.h"
#include "common/model/rng.h"

namespace cairn::data {
namespace {

using model::DeterministicRng;

Status CheckSites(int sites) {
  if (sites < 1 || sites > kMaxSites) {
    return Fail(ErrorCode::kInvalidArgument, "the number of sites must be in [1, " +
                                                 std::to_string(kMaxSites) + "], got " + std::to_string(sites));
  }
  return Ok();
}

// Rows of each class, in row order.
Result<std::vector<std::vector<std::int64_t>>> ByClass(std::span<const std::int64_t> labels,
                                                       std::int64_t num_classes) {
  if (num_classes < 1 || num_classes > model::kMaxClasses) {
    return Fail(ErrorCode::kInvalidArgument, "the number of classes must be in [1, " +
                                                 std::to_string(model::kMaxClasses) + "], got " +
                                                 std::to_string(num_classes));
  }
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(num_classes));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return Fail(ErrorCode::kInvalidArgument, "row " + std::to_string(i) + " has label " + std::to_string(labels[i]) +
                                                   ", outside [0, " + std::to_string(num_classes) + ")");
    }
    by_class[static_cast<std::size_t>(labels[i])].push_back(static_cast<std::int64_t>(i));
  }
  return by_class;
}

// Deals `items` round-robin to `targets`, starting at a random target.
void Deal(std::span<const std::int64_t> items, const std::vector<int>& targets, Partition& out, DeterministicRng& rng) {
  if (targets.empty()) return;
  std::size_t t = static_cast<std::size_t>(rng.UniformInt(targets.size()));
  for (std::int64_t item : items) {
    out[static_cast<std::size_t>(targets[t])].push_back(item);
    t = (t + 1) % targets.size();
  }
}

void SortAll(Partition& p) {
  for (auto& site : p) std::sort(site.begin(), site.end());
}

}  // namespace

Result<Partition> IidSplit(std::int64_t rows, int sites, std::uint64_t seed) {
  CAIRN_RETURN_IF_ERROR(CheckSites(sites));
  if (rows < 0) return Fail(ErrorCode::kInvalidArgument, "negative row count");
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  std::iota(order.begin(), order.end(), 0);
  DeterministicRng rng(seed);
  rng.Shuffle(std::span<std::int64_t>(order));
  Partition p(static_cast<std::size_t>(sites));
  for (std::size_t i = 0; i < order.size(); ++i) p[i % static_cast<std::size_t>(sites)].push_back(order[i]);
  SortAll(p);
  return p;
}

Result<Partition> LabelSkewSplit(std::span<const std::int64_t> labels, std::int64_t num_classes, int sites,
                                 double dominant_fraction, std::uint64_t seed) {
  CAIRN_RETURN_IF_ERROR(CheckSites(sites));
  if (!(dominant_fraction >= 0.0 && dominant_fraction <= 1.0)) {
    return Fail(ErrorCode::kInvalidArgument, "the dominant fraction must be in [0, 1]");
  }
  CAIRN_ASSIGN_OR_RETURN(auto by_class, ByClass(labels, num_classes));
  DeterministicRng rng(seed);
  Partition p(static_cast<std::size_t>(sites));
  std::vector<int> all(static_cast<std::size_t>(sites));
  std::iota(all.begin(), all.end(), 0);
  for (std::int64_t c = 0; c < num_classes; ++c) {
    std::vector<int> home;
    for (int k = 0; k < sites; ++k) {
      if (c % sites == k % num_classes) home.push_back(k);
    }
    auto& rows = by_class[static_cast<std::size_t>(c)];
    rng.Shuffle(std::span<std::int64_t>(rows));
    const auto n_home = static_cast<std::size_t>(std::llround(dominant_fraction * static_cast<double>(rows.size())));
    Deal(std::span<const std::int64_t>(rows).first(n_home), home, p, rng);
    Deal(std::span<const std::int64_t>(rows).subspan(n_home), all, p, rng);
  }
  SortAll(p);
  return p;
}

Result<Partition> DirichletSplit(std::span<const std::int64_t> labels, std::int64_t num_classes, int sites,
                                 double alpha, std::uint64_t seed, std::int64_t min_per_site) {
  CAIRN_RETURN_IF_ERROR(CheckSites(sites));
  if (!(alpha > 0.0 && alpha <= 1e6)) return Fail(ErrorCode::kInvalidArgument, "Dirichlet alpha must be in (0, 1e6]");
  if (min_per_site < 0) return Fail(ErrorCode::kInvalidArgument, "the minimum rows per site must be >= 0");
  if (static_cast<std::int64_t>(labels.size()) < min_per_site * sites) {
    return Fail(ErrorCode::kInvalidArgument, std::to_string(labels.size()) + " rows cannot give " +
                                                 std::to_string(sites) + " sites " + std::to_string(min_per_site) +
                                                 " rows each");
  }
  CAIRN_ASSIGN_OR_RETURN(auto by_class, ByClass(labels, num_classes));
  DeterministicRng rng(seed);
  constexpr int kAttempts = 1000;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Partition p(static_cast<std::size_t>(sites));
    for (auto& rows : by_class) {
      rng.Shuffle(std::span<std::int64_t>(rows));
      std::vector<double> g(static_cast<std::size_t>(sites));
      double sum = 0;
      for (auto& v : g) sum += (v = rng.Gamma(alpha));
      if (!(sum > 0)) {  // every draw underflowed (tiny alpha): give the class to one site
        g.assign(g.size(), 0.0);
        g[rng.UniformInt(g.size())] = 1.0;
        sum = 1.0;
      }
      const double n = static_cast<double>(rows.size());
      double cumulative = 0;
      std::size_t begin = 0;
      for (std::size_t k = 0; k < g.size(); ++k) {
        cumulative += g[k] / sum;
        std::size_t end = k + 1 == g.size() ? rows.size()
                                            : std::min(rows.size(), static_cast<std::size_t>(std::llround(n * cumulative)));
        end = std::max(end, begin);
        p[k].insert(p[k].end(), rows.begin() + static_cast<std::ptrdiff_t>(begin),
                    rows.begin() + static_cast<std::ptrdiff_t>(end));
        begin = end;
      }
    }
    if (std::all_of(p.begin(), p.end(), [&](const auto& s) { return static_cast<std::int64_t>(s.size()) >= min_per_site; })) {
      SortAll(p);
      return p;
    }
  }
  return Fail(ErrorCode::kFailedPrecondition,
              "no Dirichlet(" + std::to_string(alpha) + ") draw in " + std::to_string(kAttempts) +
                  " gave every site at least " + std::to_string(min_per_site) +
                  " rows: lower the minimum or raise alpha");
}

Result<TrainTestIndices> TrainTestSplit(std::span<const std::int64_t> labels, std::int64_t num_classes,
                                        double test_fraction, std::uint64_t seed) {
  if (!(test_fraction >= 0.0 && test_fraction < 1.0)) {
    return Fail(ErrorCode::kInvalidArgument, "the test fraction must be in [0, 1)");
  }
  CAIRN_ASSIGN_OR_RETURN(auto by_class, ByClass(labels, num_classes));
  DeterministicRng rng(seed);
  TrainTestIndices out;
  for (auto& rows : by_class) {
    rng.Shuffle(std::span<std::int64_t>(rows));
    const auto n_test = static_cast<std::size_t>(std::llround(test_fraction * static_cast<double>(rows.size())));
    out.test.insert(out.test.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n_test));
    out.train.insert(out.train.end(), rows.begin() + static_cast<std::ptrdiff_t>(n_test), rows.end());
  }
  std::sort(out.train.begin(), out.train.end());
  std::sort(out.test.begin(), out.test.end());
  return out;
}

}  // namespace cairn::data
