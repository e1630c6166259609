#include "aggregator/privacy_command.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/dp/rdp_accountant.h"

namespace cairn::aggregator {
namespace {

std::string Num(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

int Usage(std::ostream& err, const std::string& message) {
  err << "cairn-aggregator privacy: " << message << "\n";
  return kPrivacyUsageError;
}

}  // namespace

int RunPrivacyCommand(const PrivacyArgs& args, std::ostream& out, std::ostream& err) {
  const double q = args.sampling_rate;
  if (!std::isfinite(q) || q <= 0.0 || q > 1.0) {
    return Usage(err, "--sampling-rate " + Num(q) + " is outside (0, 1]");
  }
  if (!std::isfinite(args.delta) || args.delta <= 0.0 || args.delta >= 1.0) {
    return Usage(err, "--delta " + Num(args.delta) + " is outside (0, 1)");
  }
  if (args.rounds < 1) {
    return Usage(err, "--rounds " + std::to_string(args.rounds) + " must be at least 1");
  }
  if (args.noise_multiplier.has_value() == args.target_epsilon.has_value()) {
    return Usage(err, "give exactly one of --noise-multiplier and --target-epsilon");
  }
  if (args.noise_multiplier && (!std::isfinite(*args.noise_multiplier) || *args.noise_multiplier < 0.0)) {
    return Usage(err, "--noise-multiplier " + Num(*args.noise_multiplier) +
                          " must be a finite number ≥ 0");
  }
  if (args.target_epsilon && (!std::isfinite(*args.target_epsilon) || *args.target_epsilon <= 0.0)) {
    return Usage(err, "--target-epsilon " + Num(*args.target_epsilon) +
                          " must be a finite number > 0");
  }
  auto conversion = dp::ParseConversion(args.conversion);
  if (!conversion) return Usage(err, "--conversion: " + conversion.error().message());
  auto orders = dp::ParseOrders(args.orders);
  if (!orders) return Usage(err, "--orders: " + orders.error().message());
  const auto steps = static_cast<std::uint64_t>(args.rounds);

  if (args.noise_multiplier) {
    const double z = *args.noise_multiplier;
    auto result = dp::PoissonSampledGaussianEpsilon(q, z, steps, args.delta, *orders, *conversion);
    if (!result) {
      err << "cairn-aggregator privacy: " << result.error().message() << "\n";
      return kPrivacyFailed;
    }
    const bool finite = std::isfinite(result->epsilon);
    if (args.json) {
      nlohmann::json j = {{"epsilon", finite ? nlohmann::json(result->epsilon) : nlohmann::json()},
                          {"order", finite ? nlohmann::json(result->order) : nlohmann::json()}};
      out << j.dump() << "\n";
    } else if (!finite) {
      out << "ε = ∞ at δ = " << Num(args.delta) << ": noise multiplier " << Num(z)
          << " gives no privacy\n";
    } else {
      out << "ε = " << Num(result->epsilon) << " at δ = " << Num(args.delta)
          << " (Rényi order α = " << Num(result->order) << "; " << dp::ConversionName(*conversion)
          << " conversion over " << orders->size() << " orders; Poisson sampling q = " << Num(q)
          << ", noise multiplier z = " << Num(z) << ", " << steps << " rounds)\n";
    }
    return kPrivacyOk;
  }

  const double target = *args.target_epsilon;
  auto z = dp::NoiseMultiplierForEpsilon(target, q, steps, args.delta, *orders, *conversion);
  if (!z) {
    err << "cairn-aggregator privacy: " << z.error().message() << "\n";
    return z.error().code() == ErrorCode::kInvalidArgument ? kPrivacyUsageError : kPrivacyFailed;
  }
  if (args.json) {
    out << nlohmann::json({{"noise_multiplier", *z}}).dump() << "\n";
    return kPrivacyOk;
  }
  auto reached = dp::PoissonSampledGaussianEpsilon(q, *z, steps, args.delta, *orders, *conversion);
  if (!reached) {
    err << "cairn-aggregator privacy: " << reached.error().message() << "\n";
    return kPrivacyFailed;
  }
  out << "noise multiplier z = " << Num(*z) << " is the smallest (to a relative 1e-6) meeting ε ≤ "
      << Num(target) << " at δ = " << Num(args.delta) << ": it gives ε = " << Num(reached->epsilon)
      << " (Rényi order α = " << Num(reached->order) << "; " << dp::ConversionName(*conversion)
      << " conversion; Poisson sampling q = " << Num(q) << ", " << steps << " rounds)\n";
  return kPrivacyOk;
}

}  // namespace cairn::aggregator
