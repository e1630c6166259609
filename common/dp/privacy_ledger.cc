#include "common/dp/privacy_ledger.h"

#include <cmath>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "common/dp/internal/log_math.h"
#include "common/dp/internal/num.h"

namespace cairn::dp {

using internal::Num;

namespace {

constexpr std::string_view kFormat = "cairn-privacy-ledger/1";

Status ValidateStep(const PrivacyStep& step) {
  if (step.count == 0) {
    return Fail(ErrorCode::kInvalidArgument, "privacy step " + step.ToString() + ": count is 0");
  }
  CAIRN_RETURN_IF_ERROR(ValidateSamplingRate(step.sampling_rate));
  CAIRN_RETURN_IF_ERROR(ValidateNoiseMultiplier(step.noise_multiplier));
  if (step.mechanism == Mechanism::kGaussian && step.sampling_rate != 1.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "privacy step " + step.ToString() + ": a Gaussian release has sampling rate 1");
  }
  return Ok();
}

Result<Adjacency> ParseAdjacency(std::string_view s) {
  if (s == "add-or-remove") return Adjacency::kAddOrRemove;
  if (s == "replace-one") return Adjacency::kReplaceOne;
  return Fail(ErrorCode::kDataLoss, "adjacency '" + std::string(s) + "' is unknown");
}

Result<Mechanism> ParseMechanism(std::string_view s) {
  for (Mechanism m : {Mechanism::kPoissonSampledGaussian,
                      Mechanism::kSampledWithoutReplacementGaussian, Mechanism::kGaussian}) {
    if (s == MechanismName(m)) return m;
  }
  return Fail(ErrorCode::kDataLoss, "mechanism '" + std::string(s) + "' is unknown");
}

// Strict JSON field access: every error names the field and is kDataLoss (a corrupt checkpoint).
using Json = nlohmann::json;

Status ExpectKeys(const Json& object, std::string_view where,
                  std::initializer_list<std::string_view> keys) {
  if (!object.is_object()) return Fail(ErrorCode::kDataLoss, std::string(where) + " is not an object");
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view k : keys) known = known || key == k;
    if (!known) return Fail(ErrorCode::kDataLoss, std::string(where) + ": unknown key '" + key + "'");
  }
  for (std::string_view k : keys) {
    if (!object.contains(std::string(k))) {
      return Fail(ErrorCode::kDataLoss, std::string(where) + ": missing key '" + std::string(k) + "'");
    }
  }
  return Ok();
}

Result<double> GetNumber(const Json& object, const std::string& key, std::string_view where) {
  const Json& v = object.at(key);
  if (!v.is_number()) {
    return Fail(ErrorCode::kDataLoss, std::string(where) + "." + key + " is not a number");
  }
  return v.get<double>();
}

Result<std::string> GetString(const Json& object, const std::string& key, std::string_view where) {
  const Json& v = object.at(key);
  if (!v.is_string()) {
    return Fail(ErrorCode::kDataLoss, std::string(where) + "." + key + " is not a string");
  }
  return v.get<std::string>();
}

Error AsDataLoss(Error e, std::string_view where) {
  return Error(ErrorCode::kDataLoss, std::string(where) + ": " + e.message());
}

}  // namespace

std::string_view AdjacencyName(Adjacency adjacency) {
  switch (adjacency) {
    case Adjacency::kAddOrRemove: return "add-or-remove";
    case Adjacency::kReplaceOne: return "replace-one";
  }
  return "unknown";
}

std::string_view MechanismName(Mechanism mechanism) {
  switch (mechanism) {
    case Mechanism::kPoissonSampledGaussian: return "poisson-sampled-gaussian";
    case Mechanism::kSampledWithoutReplacementGaussian: return "sampled-without-replacement-gaussian";
    case Mechanism::kGaussian: return "gaussian";
  }
  return "unknown";
}

PrivacyStep PrivacyStep::PoissonRound(double q, double z, std::uint64_t rounds) {
  return {Mechanism::kPoissonSampledGaussian, q, z, rounds};
}

PrivacyStep PrivacyStep::FixedSizeRound(std::size_t m, std::size_t n, double z,
                                        std::uint64_t rounds) {
  // n = 0 gives q = NaN, which validation refuses.
  const double q = n == 0 ? std::nan("") : static_cast<double>(m) / static_cast<double>(n);
  return {Mechanism::kSampledWithoutReplacementGaussian, q, z / 2.0, rounds};
}

PrivacyStep PrivacyStep::GaussianRelease(double l2_sensitivity, double stddev,
                                         std::uint64_t count) {
  // Δ ≤ 0 or non-finite gives a non-finite or negative multiplier, which validation refuses.
  const double z = l2_sensitivity > 0.0 ? stddev / l2_sensitivity : std::nan("");
  return {Mechanism::kGaussian, 1.0, z, count};
}

bool PrivacyStep::SameReleaseAs(const PrivacyStep& other) const {
  return mechanism == other.mechanism && sampling_rate == other.sampling_rate &&
         noise_multiplier == other.noise_multiplier;
}

std::string PrivacyStep::ToString() const {
  std::string s(MechanismName(mechanism));
  s += "(";
  if (mechanism != Mechanism::kGaussian) s += "q=" + Num(sampling_rate) + ", ";
  s += "z=" + Num(noise_multiplier) + ")×" + std::to_string(count);
  return s;
}

Result<std::vector<double>> StepRdp(const PrivacyStep& step, std::span<const double> orders) {
  CAIRN_RETURN_IF_ERROR(ValidateStep(step));
  CAIRN_RETURN_IF_ERROR(ValidateOrders(orders));
  std::vector<double> rdp;
  rdp.reserve(orders.size());
  for (double a : orders) {
    double r = 0;
    switch (step.mechanism) {
      case Mechanism::kPoissonSampledGaussian: {
        CAIRN_ASSIGN_OR_RETURN(r, PoissonSampledGaussianRdp(step.sampling_rate,
                                                            step.noise_multiplier, a));
        break;
      }
      case Mechanism::kSampledWithoutReplacementGaussian: {
        CAIRN_ASSIGN_OR_RETURN(r, SampledWithoutReplacementGaussianRdp(
                                      step.sampling_rate, step.noise_multiplier, a));
        break;
      }
      case Mechanism::kGaussian: {
        CAIRN_ASSIGN_OR_RETURN(r, GaussianRdp(step.noise_multiplier, a));
        break;
      }
    }
    rdp.push_back(r);
  }
  return rdp;
}

Result<PrivacyLedger> PrivacyLedger::Create(LedgerOptions options) {
  if (!std::isfinite(options.epsilon_budget) || options.epsilon_budget <= 0.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "privacy budget ε = " + Num(options.epsilon_budget) + " is not finite and > 0");
  }
  CAIRN_RETURN_IF_ERROR(ValidateDelta(options.delta));
  CAIRN_RETURN_IF_ERROR(ValidateOrders(options.orders));
  return PrivacyLedger(std::move(options));
}

std::vector<PrivacyStep> PrivacyLedger::history() const {
  std::vector<PrivacyStep> steps;
  steps.reserve(entries_.size());
  for (const Entry& e : entries_) steps.push_back(e.step);
  return steps;
}

Result<PrivacyLedger::Entry> PrivacyLedger::MakeEntry(const PrivacyStep& step) const {
  CAIRN_RETURN_IF_ERROR(ValidateStep(step));
  const bool needs_add_remove = step.mechanism == Mechanism::kPoissonSampledGaussian;
  const bool needs_replace_one = step.mechanism == Mechanism::kSampledWithoutReplacementGaussian;
  if ((needs_add_remove && options_.adjacency != Adjacency::kAddOrRemove) ||
      (needs_replace_one && options_.adjacency != Adjacency::kReplaceOne)) {
    return Fail(ErrorCode::kInvalidArgument,
                "privacy step " + step.ToString() + " is analysed under " +
                    std::string(needs_add_remove ? "add-or-remove" : "replace-one") +
                    " adjacency but this ledger uses " +
                    std::string(AdjacencyName(options_.adjacency)));
  }
  // A round like the last one (the common case) reuses its curve: same inputs, same values.
  if (!entries_.empty() && entries_.back().step.SameReleaseAs(step)) {
    return Entry{step, entries_.back().rdp};
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<double> rdp, StepRdp(step, options_.orders));
  return Entry{step, std::move(rdp)};
}

Result<EpsilonAndOrder> PrivacyLedger::EpsilonWith(const Entry* extra) const {
  const std::size_t n_orders = options_.orders.size();
  std::vector<double> total(n_orders, 0.0);
  const bool merge = extra != nullptr && !entries_.empty() &&
                     entries_.back().step.SameReleaseAs(extra->step);
  for (std::size_t e = 0; e < entries_.size(); ++e) {
    std::uint64_t count = entries_[e].step.count;
    if (merge && e + 1 == entries_.size()) count += extra->step.count;
    for (std::size_t k = 0; k < n_orders; ++k) total[k] += internal::Compose(entries_[e].rdp[k], count);
  }
  if (extra != nullptr && !merge) {
    for (std::size_t k = 0; k < n_orders; ++k) {
      total[k] += internal::Compose(extra->rdp[k], extra->step.count);
    }
  }
  if (entries_.empty() && extra == nullptr) return EpsilonAndOrder{0.0, 0.0};
  return EpsilonFromRdp(options_.orders, total, options_.delta, options_.conversion);
}

Result<double> PrivacyLedger::EpsilonIfAdded(const PrivacyStep& step) const {
  CAIRN_ASSIGN_OR_RETURN(Entry entry, MakeEntry(step));
  CAIRN_ASSIGN_OR_RETURN(EpsilonAndOrder e, EpsilonWith(&entry));
  return e.epsilon;
}

Status PrivacyLedger::Charge(const PrivacyStep& step) {
  CAIRN_ASSIGN_OR_RETURN(Entry entry, MakeEntry(step));
  CAIRN_ASSIGN_OR_RETURN(EpsilonAndOrder e, EpsilonWith(&entry));
  if (!(e.epsilon <= options_.epsilon_budget)) {
    return Fail(ErrorCode::kResourceExhausted,
                "privacy budget exceeded: " + step.ToString() + " would bring ε to " +
                    Num(e.epsilon) + " at δ = " + Num(options_.delta) + ", over the budget ε = " +
                    Num(options_.epsilon_budget) + " (spent so far: ε = " + Num(spent_.epsilon) +
                    ")");
  }
  const bool merge = !entries_.empty() && entries_.back().step.SameReleaseAs(step);
  if (merge) {
    entries_.back().step.count += step.count;
  } else {
    if (entries_.size() >= kMaxLedgerEntries) {
      return Fail(ErrorCode::kResourceExhausted,
                  "privacy ledger holds " + std::to_string(entries_.size()) +
                      " distinct entries, the limit");
    }
    entries_.push_back(std::move(entry));
  }
  spent_ = e;
  return Ok();
}

std::string PrivacyLedger::ToJson() const {
  Json history = Json::array();
  for (const Entry& e : entries_) {
    history.push_back({{"mechanism", std::string(MechanismName(e.step.mechanism))},
                       {"sampling_rate", e.step.sampling_rate},
                       {"noise_multiplier", e.step.noise_multiplier},
                       {"count", e.step.count}});
  }
  Json doc = {{"format", std::string(kFormat)},
              {"epsilon_budget", options_.epsilon_budget},
              {"delta", options_.delta},
              {"adjacency", std::string(AdjacencyName(options_.adjacency))},
              {"conversion", std::string(ConversionName(options_.conversion))},
              {"orders", options_.orders},
              {"history", std::move(history)},
              {"epsilon_spent", spent_.epsilon},
              {"order", spent_.order}};
  return doc.dump();
}

Result<PrivacyLedger> PrivacyLedger::FromJson(std::string_view json) {
  constexpr std::string_view kWhere = "privacy ledger";
  if (json.size() > kMaxLedgerJsonBytes) {
    return Fail(ErrorCode::kDataLoss, "privacy ledger JSON is " + std::to_string(json.size()) +
                                          " bytes, over the limit " +
                                          std::to_string(kMaxLedgerJsonBytes));
  }
  Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Fail(ErrorCode::kDataLoss, "privacy ledger: not valid JSON");
  CAIRN_RETURN_IF_ERROR(ExpectKeys(doc, kWhere,
                                   {"format", "epsilon_budget", "delta", "adjacency", "conversion",
                                    "orders", "history", "epsilon_spent", "order"}));
  CAIRN_ASSIGN_OR_RETURN(std::string format, GetString(doc, "format", kWhere));
  if (format != kFormat) {
    return Fail(ErrorCode::kDataLoss, "privacy ledger: format '" + format + "' is not '" +
                                          std::string(kFormat) + "'");
  }
  LedgerOptions options;
  CAIRN_ASSIGN_OR_RETURN(options.epsilon_budget, GetNumber(doc, "epsilon_budget", kWhere));
  CAIRN_ASSIGN_OR_RETURN(options.delta, GetNumber(doc, "delta", kWhere));
  CAIRN_ASSIGN_OR_RETURN(std::string adjacency, GetString(doc, "adjacency", kWhere));
  auto parsed_adjacency = ParseAdjacency(adjacency);
  if (!parsed_adjacency) return Fail(AsDataLoss(std::move(parsed_adjacency).error(), kWhere));
  options.adjacency = *parsed_adjacency;
  CAIRN_ASSIGN_OR_RETURN(std::string conversion, GetString(doc, "conversion", kWhere));
  auto parsed_conversion = ParseConversion(conversion);
  if (!parsed_conversion) return Fail(AsDataLoss(std::move(parsed_conversion).error(), kWhere));
  options.conversion = *parsed_conversion;
  const Json& orders = doc.at("orders");
  if (!orders.is_array() || orders.size() > kMaxOrders) {
    return Fail(ErrorCode::kDataLoss, "privacy ledger: orders is not an array of ≤ " +
                                          std::to_string(kMaxOrders) + " numbers");
  }
  options.orders.clear();
  for (const Json& o : orders) {
    if (!o.is_number()) return Fail(ErrorCode::kDataLoss, "privacy ledger: an order is not a number");
    options.orders.push_back(o.get<double>());
  }
  auto created = Create(std::move(options));
  if (!created) return Fail(AsDataLoss(std::move(created).error(), kWhere));
  PrivacyLedger ledger = std::move(*created);

  const Json& history = doc.at("history");
  if (!history.is_array() || history.size() > kMaxLedgerEntries) {
    return Fail(ErrorCode::kDataLoss, "privacy ledger: history is not an array of ≤ " +
                                          std::to_string(kMaxLedgerEntries) + " entries");
  }
  for (std::size_t i = 0; i < history.size(); ++i) {
    const std::string where = "privacy ledger history[" + std::to_string(i) + "]";
    const Json& item = history[i];
    CAIRN_RETURN_IF_ERROR(
        ExpectKeys(item, where, {"mechanism", "sampling_rate", "noise_multiplier", "count"}));
    PrivacyStep step;
    CAIRN_ASSIGN_OR_RETURN(std::string mechanism, GetString(item, "mechanism", where));
    auto parsed_mechanism = ParseMechanism(mechanism);
    if (!parsed_mechanism) return Fail(AsDataLoss(std::move(parsed_mechanism).error(), where));
    step.mechanism = *parsed_mechanism;
    CAIRN_ASSIGN_OR_RETURN(step.sampling_rate, GetNumber(item, "sampling_rate", where));
    CAIRN_ASSIGN_OR_RETURN(step.noise_multiplier, GetNumber(item, "noise_multiplier", where));
    const Json& count = item.at("count");
    if (!count.is_number_unsigned()) {
      return Fail(ErrorCode::kDataLoss, where + ".count is not an unsigned integer");
    }
    step.count = count.get<std::uint64_t>();
    if (!ledger.entries_.empty() && ledger.entries_.back().step.SameReleaseAs(step)) {
      return Fail(ErrorCode::kDataLoss, where + " repeats the previous entry (not merged)");
    }
    auto entry = ledger.MakeEntry(step);
    if (!entry) return Fail(AsDataLoss(std::move(entry).error(), where));
    ledger.entries_.push_back(std::move(*entry));
  }
  auto spent = ledger.EpsilonWith(nullptr);
  if (!spent) return Fail(AsDataLoss(std::move(spent).error(), kWhere));
  ledger.spent_ = *spent;
  if (!(ledger.spent_.epsilon <= ledger.options_.epsilon_budget)) {
    return Fail(ErrorCode::kDataLoss, "privacy ledger: its history spends ε = " +
                                          Num(ledger.spent_.epsilon) + ", over its budget " +
                                          Num(ledger.options_.epsilon_budget));
  }
  CAIRN_ASSIGN_OR_RETURN(double stored, GetNumber(doc, "epsilon_spent", kWhere));
  // Bit-equal on the same build; a different libm may move the last digits, hence a tolerance.
  if (!(std::fabs(stored - ledger.spent_.epsilon) <= 1e-9 * std::max(1.0, stored))) {
    return Fail(ErrorCode::kDataLoss, "privacy ledger: stored ε_spent = " + Num(stored) +
                                          " disagrees with its history (ε = " +
                                          Num(ledger.spent_.epsilon) + ")");
  }
  return ledger;
}

}  // namespace cairn::dp
