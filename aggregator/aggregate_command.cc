#include "aggregator/aggregate_command.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "aggregator/strategy/strategy.h"
#include "aggregator/strategy/vector_math.h"
#include "common/core/error.h"
#include "common/core/file.h"

namespace cairn::aggregator {
namespace {

using strategy::Strategy;

// Bound on --state-in: optimizer state is at most two float32 vectors plus a small header.
constexpr std::uint64_t kStateOverheadBytes = 1 << 20;

std::string FormatDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

// A whole-string decimal number, or nothing.
std::optional<double> ParseNumber(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<std::map<std::string, double>> ParseParams(const std::vector<std::string>& params) {
  std::map<std::string, double> out;
  for (const auto& p : params) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--param \"" + p + "\": expected KEY=VALUE, e.g. --param eta=0.01");
    }
    const std::string key = p.substr(0, eq);
    const auto value = ParseNumber(std::string_view(p).substr(eq + 1));
    if (!value) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--param \"" + p + "\": value \"" + p.substr(eq + 1) + "\" is not a number");
    }
    if (!out.emplace(key, *value).second) {
      return Fail(ErrorCode::kInvalidArgument, "--param " + key + " is given more than once");
    }
  }
  return out;
}

struct UpdateArg {
  std::filesystem::path file;
  double weight = 1.0;
};

Result<UpdateArg> ParseUpdateArg(const std::string& arg) {
  UpdateArg u;
  u.file = arg;
  const auto colon = arg.rfind(':');
  if (colon != std::string::npos) {
    if (const auto w = ParseNumber(std::string_view(arg).substr(colon + 1))) {
      if (!std::isfinite(*w) || !(*w > 0)) {
        return Fail(ErrorCode::kInvalidArgument,
                    "--update \"" + arg + "\": weight must be a positive finite number");
      }
      u.file = arg.substr(0, colon);
      u.weight = *w;
    }
  }
  if (u.file.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--update \"" + arg + "\": missing file name");
  }
  return u;
}

// Reads a raw little-endian float32 file whose values must all be finite.
Result<std::vector<float>> ReadVector(const std::filesystem::path& path, std::uint64_t max_bytes,
                                      std::string_view role) {
  auto bytes = ReadFileBytes(path, max_bytes);
  if (!bytes) {
    return Fail(std::move(bytes).error().Context(std::string(role) + " " + path.string()));
  }
  if (bytes->size() % 4 != 0 || bytes->empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(role) + " " + path.string() + ": size " +
                    std::to_string(bytes->size()) +
                    " bytes is not a positive multiple of 4 (raw float32 expected)");
  }
  std::vector<float> v(bytes->size() / 4);
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(v.data(), bytes->data(), bytes->size());
  } else {
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::uint8_t* p = bytes->data() + 4 * i;
      v[i] = std::bit_cast<float>(
          static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
          (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24));
    }
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return Fail(ErrorCode::kInvalidArgument, std::string(role) + " " + path.string() +
                                                   ": non-finite value at index " +
                                                   std::to_string(i));
    }
  }
  return v;
}

Bytes ToLittleEndianBytes(std::span<const float> v) {
  Bytes out(4 * v.size());
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out.data(), v.data(), out.size());
  } else {
    for (std::size_t i = 0; i < v.size(); ++i) {
      const auto bits = std::bit_cast<std::uint32_t>(v[i]);
      for (int b = 0; b < 4; ++b) out[4 * i + b] = static_cast<std::uint8_t>(bits >> (8 * b));
    }
  }
  return out;
}

// Reads update `u`, checks its size against the global model, and returns Δ = update − global
// (float32 arithmetic, as the participant computes its update).
Result<std::vector<float>> ReadDelta(const UpdateArg& u, std::span<const float> global,
                                     const AggregateArgs& args) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<float> delta,
                         ReadVector(u.file, args.max_file_bytes, "update"));
  if (delta.size() != global.size()) {
    return Fail(ErrorCode::kInvalidArgument, "update " + u.file.string() + " has " +
                                                 std::to_string(delta.size()) +
                                                 " float32 values, global " + args.global.string() +
                                                 " has " + std::to_string(global.size()));
  }
  for (std::size_t j = 0; j < delta.size(); ++j) delta[j] -= global[j];
  if (!std::isfinite(strategy::SquaredNorm(delta))) {
    return Fail(ErrorCode::kInvalidArgument,
                "update " + u.file.string() + ": update minus global overflows float32");
  }
  return delta;
}

struct Aggregated {
  std::vector<float> model;
  std::unique_ptr<Strategy> strategy;  // holds the optimizer state after the round
};

// Everything up to the new model in memory; every error here is the user's input (exit 2).
Result<Aggregated> Aggregate(const AggregateArgs& args, std::ostream& out) {
  if (args.strategy.empty()) return Fail(ErrorCode::kInvalidArgument, "--strategy is required");
  if (args.global.empty()) return Fail(ErrorCode::kInvalidArgument, "--global is required");
  if (args.out.empty()) return Fail(ErrorCode::kInvalidArgument, "--out is required");
  if (args.updates.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "at least one --update FILE[:WEIGHT] is required");
  }
  CAIRN_ASSIGN_OR_RETURN(auto params, ParseParams(args.params));
  std::vector<UpdateArg> updates;
  for (const auto& a : args.updates) {
    CAIRN_ASSIGN_OR_RETURN(UpdateArg u, ParseUpdateArg(a));
    updates.push_back(std::move(u));
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<float> global,
                         ReadVector(args.global, args.max_file_bytes, "global"));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Strategy> holder,
                         strategy::MakeStrategy(args.strategy, params, global.size()));
  Strategy& s = *holder;
  CAIRN_RETURN_IF_ERROR(s.CheckCohort(updates.size()));
  if (!args.state_in.empty()) {
    auto state = ReadFileBytes(args.state_in, 8ull * global.size() + kStateOverheadBytes);
    if (!state)
      return Fail(std::move(state).error().Context("--state-in " + args.state_in.string()));
    auto loaded = s.LoadState(*state);
    if (!loaded) {
      return Fail(std::move(loaded).error().Context("--state-in " + args.state_in.string()));
    }
  }

  out << "strategy: " << s.name() << "\n";
  out << "params:";
  for (const auto& [k, v] : s.params()) out << " " << k << "=" << FormatDouble(v);
  out << "\n";

  double total_weight = 0;
  for (const auto& u : updates) total_weight += u.weight;
  if (!s.needs_all_updates()) {
    // Streaming, as the round engine does: one update in memory at a time, folded into a double
    // running sum after norm bounding.
    std::vector<double> sum(global.size(), 0.0);
    for (const auto& u : updates) {
      CAIRN_ASSIGN_OR_RETURN(std::vector<float> delta, ReadDelta(u, global, args));
      const double scale =
          strategy::ClipScale(std::sqrt(strategy::SquaredNorm(delta)), s.norm_bound());
      strategy::AccumulateWeighted(sum, delta, u.weight * scale);
    }
    strategy::DivideInPlace(sum, total_weight);
    CAIRN_RETURN_IF_ERROR(s.ApplyMean(global, sum));
  } else {
    std::vector<std::vector<float>> deltas;
    std::vector<std::span<const float>> spans;
    std::vector<double> weights;
    for (const auto& u : updates) {
      CAIRN_ASSIGN_OR_RETURN(std::vector<float> delta, ReadDelta(u, global, args));
      deltas.push_back(std::move(delta));
      weights.push_back(u.weight);
    }
    for (const auto& d : deltas) spans.emplace_back(d);
    CAIRN_RETURN_IF_ERROR(s.ApplyRobust(global, spans, weights));
  }
  out << "participants: " << updates.size() << " (total weight " << FormatDouble(total_weight)
      << ")\n";
  out << "parameters: " << global.size() << "\n";
  return Aggregated{std::move(global), std::move(holder)};
}

}  // namespace

int RunAggregateCommand(const AggregateArgs& args, std::ostream& out, std::ostream& err) {
  auto result = Aggregate(args, out);
  if (!result) {
    err << "aggregate: " << result.error().ToString() << "\n";
    return kAggregateUsageError;
  }
  if (auto w = WriteFileAtomic(args.out, ToLittleEndianBytes(result->model)); !w) {
    err << "aggregate: writing --out " << args.out.string() << ": " << w.error().ToString() << "\n";
    return kAggregateFailed;
  }
  out << "wrote: " << args.out.string() << "\n";
  if (!args.state_out.empty()) {
    if (auto w = WriteFileAtomic(args.state_out, result->strategy->SaveState()); !w) {
      err << "aggregate: writing --state-out " << args.state_out.string() << ": "
          << w.error().ToString() << "\n";
      return kAggregateFailed;
    }
    out << "state: " << args.state_out.string() << "\n";
  }
  return kAggregateOk;
}

}  // namespace cairn::aggregator
