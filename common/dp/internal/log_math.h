// Log-space arithmetic for the accountant. Internal to common/dp (exposed for its tests).
// Pure functions and small value types; thread-safe (no lgamma: glibc's writes a global).
#pragma once

#include <cstdint>
#include <limits>
#include <span>

namespace cairn::dp::internal {

// log(e^a + e^b), exact for −∞ operands.
double LogAdd(double a, double b);

// log Σ e^(x_i) with the largest term factored out (no overflow for any finite inputs).
double LogSumExp(std::span<const double> xs);

// Online log-sum-exp for series whose length is not known in advance.
class LogAccumulator {
 public:
  void Add(double log_x);
  double Value() const;  // −∞ while empty

 private:
  double max_ = -std::numeric_limits<double>::infinity();
  double scaled_sum_ = 0.0;  // Σ e^(x − max_)
  bool infinite_ = false;
};

// log |C(n, i)| for real n, by the recurrence C(n, i) = C(n, i−1) (n − i + 1) / i.
// Call Next(0), Next(1), ... in order.
class LogBinomial {
 public:
  explicit LogBinomial(double n) : n_(n) {}
  double Next(int i);

 private:
  double n_;
  double value_ = 0.0;
};

// log(erfc(x)), accurate where erfc(x) underflows (asymptotic series for x ≥ 25).
double LogErfc(double x);

// log(e^x − 1) for x > 0, accurate for small and large x.
double LogExpm1(double x);

// RDP of `steps` compositions of a step with RDP r (0 steps cost nothing, even at r = ∞).
inline double Compose(double r, std::uint64_t steps) {
  return steps == 0 ? 0.0 : static_cast<double>(steps) * r;
}

}  // namespace cairn::dp::internal
