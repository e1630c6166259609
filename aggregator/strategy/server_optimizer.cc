#include "aggregator/strategy/server_optimizer.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace cairn::strategy {
namespace {

// 1 when a double stored as float32 is not finite (the cast of a value beyond FLT_MAX, after
// rounding, is ±inf; NaN stays NaN): the exponent bits are all ones. Branch-free, so the common
// case, nothing overflows, is one vectorized pass; the index is searched for only when one does.
inline unsigned NotFitting(double v) {
  return (std::bit_cast<std::uint32_t>(static_cast<float>(v)) & 0x7f800000u) == 0x7f800000u;
}
template <typename Fn>
std::optional<std::size_t> FirstNotFitting(std::size_t n, Fn&& values_fit) {
  unsigned bad = 0;
  for (std::size_t j = 0; j < n; ++j) bad |= values_fit(j);
  if (bad == 0) return std::nullopt;
  for (std::size_t j = 0; j < n; ++j) {
    if (values_fit(j)) return j;
  }
  return std::nullopt;
}

// FitsForAnyDeltaWithin's threshold: a bound at or above half of FLT_MAX (or NaN) counts as "could
// overflow". The factor 2 absorbs any difference between the bound's rounding and ApplyBlock's.
constexpr double kSafeMagnitude = 0.5 * static_cast<double>(std::numeric_limits<float>::max());
inline unsigned Unsafe(double bound) { return !(bound < kSafeMagnitude); }
// True when no coordinate's bound is unsafe (one vectorized pass, as FirstNotFitting).
template <typename Fn>
bool AllSafe(std::size_t n, Fn&& unsafe_at) {
  unsigned bad = 0;
  for (std::size_t j = 0; j < n; ++j) bad |= unsafe_at(j);
  return bad == 0;
}

class PlainOptimizer final : public ServerOptimizer {
 public:
  explicit PlainOptimizer(double eta) : eta_(eta) {}

  void ApplyBlock(std::size_t /*offset*/, std::span<float> global,
                  std::span<const double> delta) override {
    // With η = 1 this is x + Δ rounded once to float (multiplying by 1 is exact).
    for (std::size_t j = 0; j < global.size(); ++j) {
      global[j] = static_cast<float>(static_cast<double>(global[j]) + eta_ * delta[j]);
    }
  }
  std::optional<std::size_t> FirstOverflow(std::size_t /*offset*/, std::span<const float> global,
                                           std::span<const double> delta) const override {
    return FirstNotFitting(global.size(), [&](std::size_t j) {
      return NotFitting(static_cast<double>(global[j]) + eta_ * delta[j]);
    });
  }
  bool FitsForAnyDeltaWithin(std::span<const float> global, double delta_bound) const override {
    // |x + η·Δ| <= |x| + η·B.
    const double step = eta_ * delta_bound;
    return !Unsafe(step) && AllSafe(global.size(), [&](std::size_t j) {
      return Unsafe(std::fabs(static_cast<double>(global[j])) + step);
    });
  }
  std::vector<StateVector> State() override { return {}; }
  std::uint64_t StateBytes() const override { return 0; }

 private:
  double eta_;
};

class MomentumOptimizer final : public ServerOptimizer {
 public:
  MomentumOptimizer(std::size_t n_params, double eta, double momentum)
      : eta_(eta), momentum_(momentum), u_(n_params, 0.0f) {}

  void ApplyBlock(std::size_t offset, std::span<float> global,
                  std::span<const double> delta) override {
    float* u = u_.data() + offset;
    for (std::size_t j = 0; j < global.size(); ++j) {
      const double u_new = momentum_ * static_cast<double>(u[j]) + delta[j];
      u[j] = static_cast<float>(u_new);
      global[j] = static_cast<float>(static_cast<double>(global[j]) + eta_ * u_new);
    }
  }
  std::optional<std::size_t> FirstOverflow(std::size_t offset, std::span<const float> global,
                                           std::span<const double> delta) const override {
    const float* u = u_.data() + offset;
    return FirstNotFitting(global.size(), [&](std::size_t j) {
      const double u_new = momentum_ * static_cast<double>(u[j]) + delta[j];
      return NotFitting(u_new) | NotFitting(static_cast<double>(global[j]) + eta_ * u_new);
    });
  }
  bool FitsForAnyDeltaWithin(std::span<const float> global, double delta_bound) const override {
    // |u'| <= μ·|u| + B, |x'| <= |x| + η·|u'|.
    const float* u = u_.data();
    return !Unsafe(delta_bound) && AllSafe(global.size(), [&](std::size_t j) {
      const double u_bound = momentum_ * std::fabs(static_cast<double>(u[j])) + delta_bound;
      return Unsafe(u_bound) |
             Unsafe(std::fabs(static_cast<double>(global[j])) + eta_ * u_bound);
    });
  }
  std::vector<StateVector> State() override { return {{"momentum", u_, false}}; }
  std::uint64_t StateBytes() const override { return 4ull * u_.size(); }

 private:
  double eta_;
  double momentum_;
  std::vector<float> u_;
};

class AdaptiveOptimizer final : public ServerOptimizer {
 public:
  AdaptiveOptimizer(AdaptiveKind kind, std::size_t n_params, double eta, double beta1, double beta2,
                    double tau)
      : kind_(kind),
        eta_(eta),
        beta1_(beta1),
        beta2_(beta2),
        tau_(tau),
        m_(n_params, 0.0f),
        v_(n_params, 0.0f) {}

  void ApplyBlock(std::size_t offset, std::span<float> global,
                  std::span<const double> delta) override {
    float* m = m_.data() + offset;
    float* v = v_.data() + offset;
    for (std::size_t j = 0; j < global.size(); ++j) {
      const Step s = StepAt(m[j], v[j], global[j], delta[j]);
      m[j] = static_cast<float>(s.m);
      v[j] = static_cast<float>(s.v);
      global[j] = static_cast<float>(s.x);
    }
  }
  std::optional<std::size_t> FirstOverflow(std::size_t offset, std::span<const float> global,
                                           std::span<const double> delta) const override {
    const float* m = m_.data() + offset;
    const float* v = v_.data() + offset;
    return FirstNotFitting(global.size(), [&](std::size_t j) {
      const Step s = StepAt(m[j], v[j], global[j], delta[j]);
      return NotFitting(s.m) | NotFitting(s.v) | NotFitting(s.x);
    });
  }
  bool FitsForAnyDeltaWithin(std::span<const float> global, double delta_bound) const override {
    // With |Δ| <= B, Δ² <= B²:
    //   |m'| <= β₁|m| + (1−β₁)B
    //   v' <= v + B² (Adagrad), β₂v + (1−β₂)B² (Adam), v + (1−β₂)B² (Yogi: it moves v towards
    //   Δ² by at most (1−β₂)Δ²)
    //   √v' + τ >= τ, so |x'| <= |x| + η|m'|/τ.
    // A negative v (never stored: LoadState refuses it) or τ = 0 gives no bound: false.
    if (!(tau_ > 0)) return false;
    const double b2 = delta_bound * delta_bound;
    const double v_add = (kind_ == AdaptiveKind::kAdagrad ? 1.0 : 1.0 - beta2_) * b2;
    const double v_keep = kind_ == AdaptiveKind::kAdam ? beta2_ : 1.0;
    const double m_add = (1.0 - beta1_) * delta_bound;
    if (Unsafe(v_add) || Unsafe(m_add)) return false;
    const float* m = m_.data();
    const float* v = v_.data();
    return AllSafe(global.size(), [&](std::size_t j) {
      const double m_bound = beta1_ * std::fabs(static_cast<double>(m[j])) + m_add;
      const double v_bound = v_keep * static_cast<double>(v[j]) + v_add;
      const double x_bound =
          std::fabs(static_cast<double>(global[j])) + eta_ * m_bound / tau_;
      return Unsafe(m_bound) | Unsafe(v_bound) | Unsafe(x_bound) |
             static_cast<unsigned>(v[j] < 0.0f);
    });
  }
  std::vector<StateVector> State() override { return {{"m", m_, false}, {"v", v_, true}}; }
  std::uint64_t StateBytes() const override { return 4ull * (m_.size() + v_.size()); }

 private:
  // One coordinate's new m, v and model value, in double (ApplyBlock and FirstOverflow share it,
  // so the dry run sees exactly what the update stores).
  struct Step {
    double m, v, x;
  };
  Step StepAt(float m, float v, float x, double d) const {
    const double d2 = d * d;
    const double m_new = beta1_ * static_cast<double>(m) + (1.0 - beta1_) * d;
    const double v_old = static_cast<double>(v);
    double v_new = 0;
    switch (kind_) {
      case AdaptiveKind::kAdagrad:
        v_new = v_old + d2;
        break;
      case AdaptiveKind::kAdam:
        v_new = beta2_ * v_old + (1.0 - beta2_) * d2;
        break;
      case AdaptiveKind::kYogi: {
        const double diff = v_old - d2;
        const double sign = diff > 0 ? 1.0 : (diff < 0 ? -1.0 : 0.0);
        v_new = v_old - (1.0 - beta2_) * d2 * sign;
        break;
      }
    }
    return {m_new, v_new, static_cast<double>(x) + eta_ * m_new / (std::sqrt(v_new) + tau_)};
  }

  AdaptiveKind kind_;
  double eta_;
  double beta1_;
  double beta2_;
  double tau_;
  std::vector<float> m_;
  std::vector<float> v_;
};

}  // namespace

std::unique_ptr<ServerOptimizer> MakePlainOptimizer(double eta) {
  return std::make_unique<PlainOptimizer>(eta);
}

std::unique_ptr<ServerOptimizer> MakeMomentumOptimizer(std::size_t n_params, double eta,
                                                       double momentum) {
  return std::make_unique<MomentumOptimizer>(n_params, eta, momentum);
}

std::unique_ptr<ServerOptimizer> MakeAdaptiveOptimizer(AdaptiveKind kind, std::size_t n_params,
                                                       double eta, double beta1, double beta2,
                                                       double tau) {
  return std::make_unique<AdaptiveOptimizer>(kind, n_params, eta, beta1, beta2, tau);
}

}  // namespace cairn::strategy
