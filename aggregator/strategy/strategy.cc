#include "aggregator/strategy/strategy.h"

#include <Eigen/Core>
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>

#include "aggregator/strategy/robust_rules.h"
#include "aggregator/strategy/server_optimizer.h"
#include "aggregator/strategy/vector_math.h"

namespace cairn::strategy {
namespace {

constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// Upper bound on f and m: far above any cohort Cairn serves, it keeps 4f + 3 and friends exact.
constexpr double kMaxCount = 100000;
// Robust rules: sorting network (≤ 543 comparators for 64 inputs) and small temporaries.
constexpr std::uint64_t kFixedWorkspaceBytes = 64 * 1024;

std::string FormatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

// ---------------------------------------------------------------------------------------------
// Parameter table.

struct Range {
  double lo;
  double hi;
  bool lo_inclusive;
  bool hi_inclusive;
  bool integer;
  std::string_view text;

  bool Contains(double v) const {
    if (!std::isfinite(v)) return false;
    if (lo_inclusive ? v < lo : v <= lo) return false;
    if (hi_inclusive ? v > hi : v >= hi) return false;
    return !integer || v == std::floor(v);
  }
};

constexpr Range kPositive{0, kInf, false, false, false, "(0, inf), finite"};
constexpr Range kNonNegative{0, kInf, true, false, false, "[0, inf), finite"};
constexpr Range kUnitOpen{0, 1, true, false, false, "[0, 1)"};
constexpr Range kTrimFraction{0, 0.5, true, false, false, "[0, 0.5)"};
constexpr Range kCount{0, kMaxCount, true, true, true, "an integer in [0, 100000]"};

struct ParamSpec {
  std::string_view key;
  double default_value;  // kUnset: absent unless given
  Range range;
};

enum class Rule { kMean, kMedian, kTrimmedMean, kKrum, kMultiKrum, kBulyan };
enum class Optimizer { kPlain, kMomentum, kAdam, kYogi, kAdagrad };

struct StrategySpec {
  std::string_view name;
  Rule rule;
  Optimizer optimizer;
  std::vector<ParamSpec> params;  // in the order params() reports them
};

// Defaults: see docs/strategies.md for the source of each (Flower 1.x unless stated).
const std::vector<StrategySpec>& Specs() {
  static const std::vector<StrategySpec> specs = [] {
    const ParamSpec eta1{"eta", 1.0, kPositive};
    const ParamSpec norm{"norm_bound", kUnset, kPositive};
    const ParamSpec f{"f", 0, kCount};
    return std::vector<StrategySpec>{
        {"fedavg", Rule::kMean, Optimizer::kPlain, {eta1, norm}},
        {"fedavgm", Rule::kMean, Optimizer::kMomentum, {eta1, {"momentum", 0.9, kUnitOpen}, norm}},
        {"fedadam",
         Rule::kMean,
         Optimizer::kAdam,
         {{"eta", 0.1, kPositive},
          {"beta1", 0.9, kUnitOpen},
          {"beta2", 0.99, kUnitOpen},
          {"tau", 1e-9, kPositive},
          norm}},
        {"fedyogi",
         Rule::kMean,
         Optimizer::kYogi,
         {{"eta", 0.01, kPositive},
          {"beta1", 0.9, kUnitOpen},
          {"beta2", 0.99, kUnitOpen},
          {"tau", 1e-3, kPositive},
          norm}},
        {"fedadagrad",
         Rule::kMean,
         Optimizer::kAdagrad,
         {{"eta", 0.1, kPositive}, {"beta1", 0.0, kUnitOpen}, {"tau", 1e-9, kPositive}, norm}},
        {"fedprox", Rule::kMean, Optimizer::kPlain, {{"mu", 0.01, kNonNegative}, eta1, norm}},
        {"median", Rule::kMedian, Optimizer::kPlain, {eta1, norm}},
        {"trimmed-mean",
         Rule::kTrimmedMean,
         Optimizer::kPlain,
         {{"beta", 0.2, kTrimFraction}, eta1, norm}},
        {"krum", Rule::kKrum, Optimizer::kPlain, {f, eta1, norm}},
        {"multi-krum", Rule::kMultiKrum, Optimizer::kPlain, {f, {"m", 0, kCount}, eta1, norm}},
        {"bulyan", Rule::kBulyan, Optimizer::kPlain, {f, eta1, norm}},
    };
  }();
  return specs;
}

const StrategySpec* FindSpec(std::string_view name) {
  for (const auto& s : Specs()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string JoinNames() {
  std::string out;
  for (const auto& s : Specs()) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

std::string JoinKeys(const StrategySpec& spec) {
  std::string out;
  for (const auto& p : spec.params) {
    if (!out.empty()) out += ", ";
    out += p.key;
  }
  return out;
}

std::uint64_t SatMul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return a * b;
}
std::uint64_t SatAdd(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

// ---------------------------------------------------------------------------------------------
// State encoding (docs/strategies.md, "Checkpoint state"). Integers big-endian as in
// common/core/bytes.h; float32 values little-endian, as the model files.

constexpr std::string_view kStateMagic = "CAIRNSTS";
constexpr std::uint32_t kStateVersion = 1;
// Bounds on untrusted lengths inside a state blob (they protect the parser, not the content).
constexpr std::uint32_t kMaxStateString = 256;
constexpr std::uint32_t kMaxStateEntries = 64;

void AppendFloatsLe(Bytes& out, std::span<const float> values) {
  const std::size_t start = out.size();
  out.resize(start + 4 * values.size());
  std::uint8_t* dst = out.data() + start;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(dst, values.data(), 4 * values.size());
  } else {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto bits = std::bit_cast<std::uint32_t>(values[i]);
      for (int b = 0; b < 4; ++b) dst[4 * i + b] = static_cast<std::uint8_t>(bits >> (8 * b));
    }
  }
}

float FloatLeAt(const std::uint8_t* p) {
  const std::uint32_t bits =
      static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
      (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  return std::bit_cast<float>(bits);
}

class StateReader {
 public:
  explicit StateReader(ByteSpan data) : data_(data) {}

  Result<std::uint64_t> Uint(int bytes, std::string_view field) {
    if (data_.size() - pos_ < static_cast<std::size_t>(bytes)) return Truncated(field);
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | data_[pos_ + static_cast<std::size_t>(i)];
    pos_ += static_cast<std::size_t>(bytes);
    return v;
  }
  Result<std::string> String(std::string_view field) {
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t len, Uint(4, field));
    if (len > kMaxStateString) {
      return Fail(ErrorCode::kDataLoss, "strategy state: " + std::string(field) + " length " +
                                            std::to_string(len) + " at byte offset " +
                                            std::to_string(pos_ - 4) + " exceeds " +
                                            std::to_string(kMaxStateString));
    }
    if (data_.size() - pos_ < len) return Truncated(field);
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), len);
    pos_ += len;
    return s;
  }
  Status Skip(std::size_t count, std::string_view field) {
    if (data_.size() - pos_ < count) return Truncated(field);
    pos_ += count;
    return Ok();
  }
  // Returns the offset of `count` floats and skips them.
  Result<std::size_t> Floats(std::uint64_t count, std::string_view field) {
    if ((data_.size() - pos_) / 4 < count) return Truncated(field);
    const std::size_t at = pos_;
    pos_ += 4 * count;
    return at;
  }
  std::size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  std::unexpected<Error> Truncated(std::string_view field) const {
    return Fail(ErrorCode::kDataLoss, "strategy state: truncated at byte offset " +
                                          std::to_string(pos_) + " reading " + std::string(field));
  }
  ByteSpan data_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------

struct RuleConfig {
  Rule rule = Rule::kMean;
  double trim_beta = 0;  // trimmed-mean β
  std::size_t f = 0;     // krum, multi-krum, bulyan
  std::size_t m = 0;     // multi-krum; 0 = n − f
};

class ComposedStrategy final : public Strategy {
 public:
  ComposedStrategy(std::string name, RuleConfig rule,
                   std::vector<std::pair<std::string, double>> params, std::size_t n_params,
                   double mu, double norm_bound, std::unique_ptr<ServerOptimizer> optimizer)
      : name_(std::move(name)),
        rule_(rule),
        params_(std::move(params)),
        n_params_(n_params),
        mu_(mu),
        norm_bound_(norm_bound),
        optimizer_(std::move(optimizer)) {}

  std::string name() const override { return name_; }
  std::vector<std::pair<std::string, double>> params() const override { return params_; }
  bool needs_all_updates() const override { return rule_.rule != Rule::kMean; }
  std::size_t n_params() const override { return n_params_; }
  double proximal_mu() const override { return mu_; }
  double norm_bound() const override { return norm_bound_; }
  std::uint64_t rounds_applied() const override { return rounds_; }

  Status CheckCohort(std::size_t n) const override {
    if (n == 0) {
      return Fail(ErrorCode::kFailedPrecondition, name_ + ": a round needs at least one update");
    }
    const std::size_t f = rule_.f;
    switch (rule_.rule) {
      case Rule::kMean:
      case Rule::kMedian:
      case Rule::kTrimmedMean:
        return Ok();
      case Rule::kKrum:
      case Rule::kMultiKrum:
        if (n < f + 2) {
          return Fail(ErrorCode::kFailedPrecondition,
                      name_ + " with f = " + std::to_string(f) + " needs n >= f + 2 = " +
                          std::to_string(f + 2) + " updates, got n = " + std::to_string(n));
        }
        if (rule_.rule == Rule::kMultiKrum && rule_.m > n - f) {
          return Fail(ErrorCode::kFailedPrecondition,
                      name_ + " with m = " + std::to_string(rule_.m) +
                          " needs m <= n - f = " + std::to_string(n - f) +
                          " (n = " + std::to_string(n) + ", f = " + std::to_string(f) + ")");
        }
        return Ok();
      case Rule::kBulyan:
        if (n < 4 * f + 3) {
          return Fail(ErrorCode::kFailedPrecondition,
                      name_ + " with f = " + std::to_string(f) + " needs n >= 4f + 3 = " +
                          std::to_string(4 * f + 3) + " updates, got n = " + std::to_string(n));
        }
        return Ok();
    }
    return Ok();
  }

  std::uint64_t MemoryBytes(std::size_t n_participants) const override {
    const std::uint64_t n = n_participants;
    const std::uint64_t p = n_params_;
    const std::uint64_t t = std::min<std::uint64_t>(p, kTileCoords);
    const std::uint64_t state = optimizer_->StateBytes();
    if (rule_.rule == Rule::kMean) return SatAdd(SatMul(8, p), state);
    // Held updates, the tile, two blocks (output, centring), per-update bookkeeping (scales,
    // indices, scores: at most 16 doubles each) and a fixed allowance for the sorting network
    // and small temporaries.
    std::uint64_t total = SatMul(SatMul(4, n), p);
    total = SatAdd(total, SatMul(SatMul(8, n), t));
    total = SatAdd(total, SatMul(16, t));
    total = SatAdd(total, SatMul(128, n));
    total = SatAdd(total, kFixedWorkspaceBytes);
    if (rule_.rule == Rule::kKrum || rule_.rule == Rule::kMultiKrum ||
        rule_.rule == Rule::kBulyan) {
      total = SatAdd(total, SatMul(SatMul(16, n), n));  // Gram matrix + distance matrix
    }
    return SatAdd(total, state);
  }

  Status ApplyMean(std::span<float> global, std::span<const double> mean_delta) override {
    if (needs_all_updates()) {
      return Fail(ErrorCode::kFailedPrecondition,
                  name_ + " needs every update of the round: call ApplyRobust, not ApplyMean");
    }
    CAIRN_RETURN_IF_ERROR(CheckModelSize(global));
    if (mean_delta.size() != n_params_) {
      return Fail(ErrorCode::kInvalidArgument,
                  name_ + ": mean update has " + std::to_string(mean_delta.size()) +
                      " values, the model has " + std::to_string(n_params_));
    }
    Eigen::Map<const Eigen::ArrayXd> mean(mean_delta.data(),
                                          static_cast<Eigen::Index>(mean_delta.size()));
    if (!mean.allFinite()) {
      const auto it = std::find_if(mean_delta.begin(), mean_delta.end(),
                                   [](double v) { return !std::isfinite(v); });
      return Fail(ErrorCode::kInvalidArgument,
                  name_ + ": mean update has a non-finite value at index " +
                      std::to_string(it - mean_delta.begin()));
    }
    // A finite mean can still overflow float32 in the model or the state (Δ² in v): checked
    // before anything is written, so the round fails with the model and state unchanged (a
    // non-finite state would be checkpointed and refused by LoadState on every restart).
    if (auto j = optimizer_->FirstOverflow(0, global, mean_delta)) return OverflowError(*j);
    optimizer_->ApplyBlock(0, global, mean_delta);
    ++rounds_;
    return Ok();
  }

  Status ApplyRobust(std::span<float> global, const std::vector<std::span<const float>>& deltas,
                     std::span<const double> weights) override {
    CAIRN_RETURN_IF_ERROR(CheckModelSize(global));
    const std::size_t n = deltas.size();
    if (weights.size() != n) {
      return Fail(ErrorCode::kInvalidArgument, name_ + ": " + std::to_string(n) + " updates but " +
                                                   std::to_string(weights.size()) + " weights");
    }
    CAIRN_RETURN_IF_ERROR(CheckCohort(n));
    std::vector<double> scales(n, 1.0);
    double total_weight = 0;
    double largest_norm = 0;  // of the clipped updates: a bound on every coordinate of the output
    for (std::size_t i = 0; i < n; ++i) {
      if (deltas[i].size() != n_params_) {
        return Fail(ErrorCode::kInvalidArgument,
                    name_ + ": participant " + std::to_string(i) + " update has " +
                        std::to_string(deltas[i].size()) + " values, the model has " +
                        std::to_string(n_params_));
      }
      if (!std::isfinite(weights[i]) || !(weights[i] > 0)) {
        return Fail(ErrorCode::kInvalidArgument, name_ + ": participant " + std::to_string(i) +
                                                     " weight " + FormatDouble(weights[i]) +
                                                     " is not a positive finite number");
      }
      total_weight += weights[i];
      const double sq = SquaredNorm(deltas[i]);
      if (!std::isfinite(sq)) {
        const auto it = std::find_if(deltas[i].begin(), deltas[i].end(),
                                     [](float v) { return !std::isfinite(v); });
        return Fail(ErrorCode::kInvalidArgument, name_ + ": participant " + std::to_string(i) +
                                                     " update has a non-finite value at index " +
                                                     std::to_string(it - deltas[i].begin()));
      }
      scales[i] = ClipScale(std::sqrt(sq), norm_bound_);
      largest_norm = std::max(largest_norm, scales[i] * std::sqrt(sq));
    }

    // Applying the rule's output must keep the model and the state finite (float32 overflow),
    // and a round that would not must fail before touching either. Every rule's output
    // coordinate is a mean or a median of some clipped updates' values at that coordinate (the
    // trimmed mean always keeps one value: TrimCount), so its magnitude is at most the largest
    // clipped update's largest value, itself at most that update's L2 norm. Twice that bounds Δ
    // up to rounding in the rule and in the norm; rounding near subnormal values can exceed the
    // factor 2 for |Δ| of about 1 or less, which the optimizer check's FLT_MAX / 2 threshold
    // absorbs. When the optimizer can take any Δ within the bound, the rule runs once. Otherwise
    // (or when the weighted sum itself could overflow a double: weights are the caller's) it runs
    // twice: a dry run that checks each block of the real output, then the real one. The rules
    // are deterministic, so both see the same blocks; this costs a second pass instead of a
    // P-sized buffer.
    const bool weights_fit = std::isfinite(total_weight) &&
                             total_weight * largest_norm < std::numeric_limits<double>::max() / 4;
    const bool needs_dry_run = !weights_fit || !optimizer_->FitsForAnyDeltaWithin(global, 2.0 * largest_norm);
    std::optional<std::size_t> overflow;
    const BlockSink check = [&](std::size_t offset, std::span<const double> block) {
      if (overflow) return;
      if (auto j = optimizer_->FirstOverflow(offset, global.subspan(offset, block.size()), block)) {
        overflow = offset + *j;
      }
    };
    const BlockSink apply = [&](std::size_t offset, std::span<const double> block) {
      optimizer_->ApplyBlock(offset, global.subspan(offset, block.size()), block);
    };
    // Selections (Krum's ranking, Bulyan's set) depend only on the updates: computed once.
    std::vector<std::size_t> ranking;
    std::vector<std::size_t> selected;
    if (rule_.rule == Rule::kKrum || rule_.rule == Rule::kMultiKrum) {
      const auto dist = PairwiseSquaredDistances(deltas, scales);
      std::vector<std::size_t> all(n);
      std::iota(all.begin(), all.end(), std::size_t{0});
      ranking = KrumRanking(dist, n, all, rule_.f);
    } else if (rule_.rule == Rule::kBulyan) {
      const auto dist = PairwiseSquaredDistances(deltas, scales);
      selected = BulyanSelection(dist, n, rule_.f);
    }
    if (needs_dry_run) {
      RunRule(deltas, weights, scales, total_weight, ranking, selected, check);
      if (overflow) return OverflowError(*overflow);
    }
    RunRule(deltas, weights, scales, total_weight, ranking, selected, apply);
    ++rounds_;
    return Ok();
  }

  Status OverflowError(std::size_t index) const {
    return Fail(ErrorCode::kOutOfRange,
                name_ + ": applying this round's update would overflow float32 in the model or the "
                        "optimizer state at index " + std::to_string(index) +
                    "; the model and the state are unchanged");
  }

  // The rule's output, block by block, into `sink` (ranking: Krum's, selected: Bulyan's).
  void RunRule(const std::vector<std::span<const float>>& deltas, std::span<const double> weights,
               const std::vector<double>& scales, double total_weight, const std::vector<std::size_t>& ranking,
               const std::vector<std::size_t>& selected, const BlockSink& sink) const {
    const std::size_t n = deltas.size();
    switch (rule_.rule) {
      case Rule::kMean: {
        std::vector<double> coefficients(n);
        for (std::size_t i = 0; i < n; ++i) coefficients[i] = weights[i] * scales[i];
        WeightedSum(deltas, coefficients, total_weight, sink);
        break;
      }
      case Rule::kMedian:
        CoordinateMedian(deltas, scales, sink);
        break;
      case Rule::kTrimmedMean:
        CoordinateTrimmedMean(deltas, scales, TrimCount(n), sink);
        break;
      case Rule::kKrum:
      case Rule::kMultiKrum: {
        std::size_t keep = 1;
        if (rule_.rule == Rule::kMultiKrum) keep = rule_.m == 0 ? n - rule_.f : rule_.m;
        Deltas chosen;
        std::vector<double> coefficients;
        for (std::size_t t = 0; t < keep; ++t) {
          chosen.push_back(deltas[ranking[t]]);
          coefficients.push_back(scales[ranking[t]]);
        }
        WeightedSum(chosen, coefficients, static_cast<double>(keep), sink);
        break;
      }
      case Rule::kBulyan:
        BulyanCoordinates(deltas, scales, selected, rule_.f, sink);
        break;
    }
  }

  Bytes SaveState() const override {
    Bytes out;
    AppendBytes(out, AsBytes(kStateMagic));
    AppendU32(out, kStateVersion);
    AppendLengthPrefixed(out, name_);
    AppendU64(out, n_params_);
    AppendU32(out, static_cast<std::uint32_t>(params_.size()));
    for (const auto& [key, value] : params_) {
      AppendLengthPrefixed(out, key);
      AppendU64(out, std::bit_cast<std::uint64_t>(value));
    }
    AppendU64(out, rounds_);
    const auto state = optimizer_->State();
    AppendU32(out, static_cast<std::uint32_t>(state.size()));
    for (const auto& vec : state) {
      AppendLengthPrefixed(out, vec.name);
      AppendU64(out, vec.values.size());
      AppendFloatsLe(out, vec.values);
    }
    return out;
  }

  Status LoadState(ByteSpan data) override {
    // Pass 1 validates everything and records where each vector starts; pass 2 copies. A bad
    // blob leaves the current state untouched.
    StateReader r(data);
    if (data.size() < kStateMagic.size() ||
        AsChars(data.first(kStateMagic.size())) != kStateMagic) {
      return Fail(ErrorCode::kDataLoss, "strategy state: missing the CAIRNSTS header");
    }
    CAIRN_RETURN_IF_ERROR(r.Skip(kStateMagic.size(), "magic"));
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t version, r.Uint(4, "version"));
    if (version != kStateVersion) {
      return Fail(ErrorCode::kDataLoss, "strategy state: version " + std::to_string(version) +
                                            " is not supported (expected " +
                                            std::to_string(kStateVersion) + ")");
    }
    CAIRN_ASSIGN_OR_RETURN(std::string name, r.String("strategy name"));
    if (name != name_) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "strategy state is for strategy " + name + ", this federation uses " + name_);
    }
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t n_params, r.Uint(8, "n_params"));
    if (n_params != n_params_) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "strategy state is for a model of " + std::to_string(n_params) +
                      " parameters, this model has " + std::to_string(n_params_));
    }
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t n_keys, r.Uint(4, "parameter count"));
    if (n_keys > kMaxStateEntries) {
      return Fail(ErrorCode::kDataLoss,
                  "strategy state: " + std::to_string(n_keys) + " parameters exceed the bound");
    }
    std::vector<std::pair<std::string, double>> stored;
    for (std::uint64_t k = 0; k < n_keys; ++k) {
      CAIRN_ASSIGN_OR_RETURN(std::string key, r.String("parameter name"));
      CAIRN_ASSIGN_OR_RETURN(std::uint64_t bits, r.Uint(8, "parameter value"));
      stored.emplace_back(std::move(key), std::bit_cast<double>(bits));
    }
    if (stored != params_) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "strategy state was saved with " + name_ + " parameters " + FormatParams(stored) +
                      ", the configuration has " + FormatParams(params_));
    }
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t rounds, r.Uint(8, "rounds applied"));
    CAIRN_ASSIGN_OR_RETURN(std::uint64_t n_vectors, r.Uint(4, "state vector count"));
    auto state = optimizer_->State();
    if (n_vectors != state.size()) {
      return Fail(ErrorCode::kDataLoss, "strategy state: " + std::to_string(n_vectors) +
                                            " state vectors, " + name_ + " keeps " +
                                            std::to_string(state.size()));
    }
    std::vector<std::size_t> starts;
    for (const auto& vec : state) {
      CAIRN_ASSIGN_OR_RETURN(std::string vname, r.String("state vector name"));
      if (vname != vec.name) {
        return Fail(ErrorCode::kDataLoss, "strategy state: vector \"" + vname + "\" where \"" +
                                              vec.name + "\" was expected");
      }
      CAIRN_ASSIGN_OR_RETURN(std::uint64_t len, r.Uint(8, "state vector length"));
      if (len != n_params_) {
        return Fail(ErrorCode::kDataLoss, "strategy state: vector " + vec.name + " has " +
                                              std::to_string(len) + " values, expected " +
                                              std::to_string(n_params_));
      }
      CAIRN_ASSIGN_OR_RETURN(std::size_t at, r.Floats(len, "state vector " + vec.name));
      for (std::size_t j = 0; j < len; ++j) {
        const float v = FloatLeAt(data.data() + at + 4 * j);
        if (!std::isfinite(v) || (vec.non_negative && v < 0)) {
          return Fail(ErrorCode::kDataLoss,
                      "strategy state: vector " + vec.name + " has an invalid value at index " +
                          std::to_string(j) + " (byte offset " + std::to_string(at + 4 * j) + ")");
        }
      }
      starts.push_back(at);
    }
    if (!r.AtEnd()) {
      return Fail(ErrorCode::kDataLoss, "strategy state: " + std::to_string(data.size() - r.pos()) +
                                            " trailing bytes at byte offset " +
                                            std::to_string(r.pos()));
    }
    for (std::size_t v = 0; v < state.size(); ++v) {
      float* dst = state[v].values.data();
      const std::uint8_t* src = data.data() + starts[v];
      for (std::size_t j = 0; j < n_params_; ++j) dst[j] = FloatLeAt(src + 4 * j);
    }
    rounds_ = rounds;
    return Ok();
  }

 private:
  Status CheckModelSize(std::span<float> global) const {
    if (global.size() != n_params_) {
      return Fail(ErrorCode::kInvalidArgument,
                  name_ + ": model has " + std::to_string(global.size()) +
                      " parameters, the strategy was built for " + std::to_string(n_params_));
    }
    return Ok();
  }

  // ⌊β·n⌋ values dropped per side; the small slack keeps e.g. 0.29·100 from flooring to 28.
  // ⌊β·n⌋ per side, but always leaving at least one value: β < 0.5 keeps one in exact arithmetic,
  // and the 1e-9 (which makes β = 0.25 with n = 4 cut exactly one) must not cut n/2 per side of
  // an even n for a β just below 0.5 (the mean of nothing would be 0/0).
  std::size_t TrimCount(std::size_t n) const {
    const auto cut = static_cast<std::size_t>(std::floor(rule_.trim_beta * static_cast<double>(n) + 1e-9));
    return n == 0 ? 0 : std::min(cut, (n - 1) / 2);
  }

  static std::string FormatParams(const std::vector<std::pair<std::string, double>>& params) {
    std::string out;
    for (const auto& [k, v] : params) {
      if (!out.empty()) out += " ";
      out += k + "=" + FormatDouble(v);
    }
    return "(" + out + ")";
  }

  std::string name_;
  RuleConfig rule_;
  std::vector<std::pair<std::string, double>> params_;
  std::size_t n_params_;
  double mu_;
  double norm_bound_;
  std::unique_ptr<ServerOptimizer> optimizer_;
  std::uint64_t rounds_ = 0;
};

}  // namespace

Result<std::unique_ptr<Strategy>> MakeStrategy(std::string_view name,
                                               const std::map<std::string, double>& params,
                                               std::size_t n_params) {
  const StrategySpec* spec = FindSpec(name);
  if (spec == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "unknown strategy \"" + std::string(name) + "\"; known: " + JoinNames());
  }
  if (n_params == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "strategy " + std::string(name) + ": the model must have at least one parameter");
  }
  for (const auto& [key, value] : params) {
    const auto it = std::find_if(spec->params.begin(), spec->params.end(),
                                 [&](const ParamSpec& p) { return p.key == key; });
    if (it == spec->params.end()) {
      return Fail(ErrorCode::kInvalidArgument, "unknown parameter \"" + key + "\" for strategy " +
                                                   std::string(name) +
                                                   "; allowed: " + JoinKeys(*spec));
    }
    if (!it->range.Contains(value)) {
      return Fail(ErrorCode::kInvalidArgument, "parameter " + key + " = " + FormatDouble(value) +
                                                   " for strategy " + std::string(name) +
                                                   " is out of range: must be " +
                                                   std::string(it->range.text));
    }
  }
  // Effective values, in the spec's order.
  std::map<std::string_view, double> value;
  std::vector<std::pair<std::string, double>> recorded;
  for (const auto& p : spec->params) {
    const auto given = params.find(std::string(p.key));
    const double v = given != params.end() ? given->second : p.default_value;
    if (std::isnan(v)) continue;  // optional and unset (norm_bound)
    value[p.key] = v;
    recorded.emplace_back(std::string(p.key), v);
  }
  auto get = [&](std::string_view key, double fallback) {
    const auto it = value.find(key);
    return it == value.end() ? fallback : it->second;
  };

  RuleConfig rule;
  rule.rule = spec->rule;
  rule.trim_beta = get("beta", 0);
  rule.f = static_cast<std::size_t>(get("f", 0));
  rule.m = static_cast<std::size_t>(get("m", 0));

  const double eta = get("eta", 1.0);
  std::unique_ptr<ServerOptimizer> optimizer;
  try {
    switch (spec->optimizer) {
      case Optimizer::kPlain:
        optimizer = MakePlainOptimizer(eta);
        break;
      case Optimizer::kMomentum:
        optimizer = MakeMomentumOptimizer(n_params, eta, get("momentum", 0));
        break;
      case Optimizer::kAdam:
        optimizer = MakeAdaptiveOptimizer(AdaptiveKind::kAdam, n_params, eta, get("beta1", 0),
                                          get("beta2", 0), get("tau", 0));
        break;
      case Optimizer::kYogi:
        optimizer = MakeAdaptiveOptimizer(AdaptiveKind::kYogi, n_params, eta, get("beta1", 0),
                                          get("beta2", 0), get("tau", 0));
        break;
      case Optimizer::kAdagrad:
        optimizer = MakeAdaptiveOptimizer(AdaptiveKind::kAdagrad, n_params, eta, get("beta1", 0),
                                          0.0, get("tau", 0));
        break;
    }
  } catch (const std::bad_alloc&) {
    return Fail(ErrorCode::kResourceExhausted, "strategy " + std::string(name) +
                                                   ": cannot allocate the optimizer state for " +
                                                   std::to_string(n_params) + " parameters");
  }
  return std::make_unique<ComposedStrategy>(std::string(name), rule, std::move(recorded), n_params,
                                            get("mu", 0), get("norm_bound", 0),
                                            std::move(optimizer));
}

const std::vector<std::string_view>& StrategyNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& s : Specs()) out.push_back(s.name);
    return out;
  }();
  return names;
}

Result<std::vector<ParamInfo>> StrategyParamInfo(std::string_view name) {
  const StrategySpec* spec = FindSpec(name);
  if (spec == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "unknown strategy \"" + std::string(name) + "\"; known: " + JoinNames());
  }
  std::vector<ParamInfo> out;
  for (const auto& p : spec->params) out.push_back({p.key, p.default_value, p.range.text});
  return out;
}

}  // namespace cairn::strategy
