#include "participant/attack_workload.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/model/rng.h"

namespace cairn::participant {

namespace {

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

Error SpecError(std::string_view text, const std::string& what) {
  return Error(ErrorCode::kInvalidArgument,
               "attack spec '" + std::string(text) + "': " + what +
                   " (expected scale:K, sign-flip, sign-flip:K or noise:S)");
}

// The number after "kind:"; the whole remainder must be one finite number.
Result<double> ParseValue(std::string_view text, std::string_view value) {
  if (value.empty()) return Fail(SpecError(text, "the value after ':' is missing"));
  double v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size()) {
    return Fail(SpecError(text, "'" + std::string(value) + "' is not a number"));
  }
  if (!std::isfinite(v) || std::fabs(v) > kMaxAttackMagnitude) {
    return Fail(SpecError(text, "the value must be finite and at most " + FormatNumber(kMaxAttackMagnitude) +
                                    " in magnitude"));
  }
  return v;
}

}  // namespace

std::string AttackSpec::ToString() const {
  switch (kind) {
    case Kind::kScale: return "scale:" + FormatNumber(value);
    case Kind::kSignFlip: return value == 1.0 ? "sign-flip" : "sign-flip:" + FormatNumber(value);
    case Kind::kNoise: return "noise:" + FormatNumber(value);
  }
  return "?";
}

std::string AttackSpec::Describe() const {
  switch (kind) {
    case Kind::kScale: return "multiplies each model update by " + FormatNumber(value);
    case Kind::kSignFlip:
      return value == 1.0 ? "negates each model update" : "negates each model update and multiplies it by " +
                                                             FormatNumber(value);
    case Kind::kNoise:
      return "replaces each model update with Gaussian noise of standard deviation " + FormatNumber(value);
  }
  return "?";
}

Result<AttackSpec> ParseAttackSpec(std::string_view text) {
  auto colon = text.find(':');
  std::string_view kind = text.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  AttackSpec spec;
  if (kind == "scale") {
    if (colon == std::string_view::npos) return Fail(SpecError(text, "scale needs a factor, e.g. scale:10"));
    spec.kind = AttackSpec::Kind::kScale;
    CAIRN_ASSIGN_OR_RETURN(spec.value, ParseValue(text, value));
    return spec;
  }
  if (kind == "sign-flip") {
    spec.kind = AttackSpec::Kind::kSignFlip;
    spec.value = 1.0;
    if (colon == std::string_view::npos) return spec;
    CAIRN_ASSIGN_OR_RETURN(spec.value, ParseValue(text, value));
    if (!(spec.value > 0)) return Fail(SpecError(text, "the sign-flip magnitude must be > 0"));
    return spec;
  }
  if (kind == "noise") {
    if (colon == std::string_view::npos) return Fail(SpecError(text, "noise needs a standard deviation, e.g. noise:0.1"));
    spec.kind = AttackSpec::Kind::kNoise;
    CAIRN_ASSIGN_OR_RETURN(spec.value, ParseValue(text, value));
    if (!(spec.value > 0)) return Fail(SpecError(text, "the noise standard deviation must be > 0"));
    return spec;
  }
  return Fail(SpecError(text, "unknown attack '" + std::string(kind) + "'"));
}

AttackWorkload::AttackWorkload(std::unique_ptr<Workload> inner, AttackSpec spec, std::uint64_t seed)
    : inner_(std::move(inner)), spec_(spec), seed_(seed) {}

Result<LocalResult> AttackWorkload::Train(std::span<const float> global, const protocol::Task& task,
                                          std::span<float> delta) {
  CAIRN_ASSIGN_OR_RETURN(LocalResult result, inner_->Train(global, task, delta));
  switch (spec_.kind) {
    case AttackSpec::Kind::kScale:
    case AttackSpec::Kind::kSignFlip: {
      const double factor = spec_.kind == AttackSpec::Kind::kScale ? spec_.value : -spec_.value;
      for (float& d : delta) d = static_cast<float>(factor * static_cast<double>(d));
      break;
    }
    case AttackSpec::Kind::kNoise: {
      // One stream per round (the task seed changes every round).
      model::DeterministicRng rng(model::DeterministicRng::DeriveSeed(seed_, task.seed));
      for (float& d : delta) d = static_cast<float>(spec_.value * rng.Normal());
      break;
    }
  }
  return result;
}

}  // namespace cairn::participant
