#include "examples/clean-room/generator.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/analytics/output.h"
#include "common/model/rng.h"

namespace cairn::cleanroom {
namespace {

using Json = nlohmann::json;

// Index drawn with probability weights[i] / Σ weights.
std::size_t Draw(const std::vector<double>& weights, model::DeterministicRng& rng) {
  double total = 0;
  for (double w : weights) total += w;
  double u = rng.UniformDouble() * total;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (u < weights[i]) return i;
    u -= weights[i];
  }
  return weights.size() - 1;
}

// A deterministic stand-in for the RandomSource interface when noise is off (never drawn from).
class NoDraws final : public dp::RandomSource {
 public:
  void Fill(MutableByteSpan out) override {
    for (auto& b : out) b = 0;
  }
  std::string_view name() const override { return "none"; }
};

}  // namespace

const std::vector<Category>& Categories() {
  static const std::vector<Category> kCategories = {
      {"grocery", 0.004, 1.0},   {"fuel", 0.008, 1.3},    {"restaurants", 0.006, 0.8},
      {"travel", 0.025, 4.0},    {"electronics", 0.035, 3.0}, {"online", 0.05, 1.5},
      {"jewelry", 0.07, 5.0},    {"crypto", 0.12, 3.0},   {"gambling", 0.05, 1.0},
  };
  return kCategories;
}

std::vector<BankProfile> DefaultBanks() {
  //                 grocery fuel  rest.  travel elec. online jewel. crypto gambling
  return {
      {"bank-1", 40000, 3.4, 0.9, {0.30, 0.12, 0.18, 0.08, 0.10, 0.17, 0.05, 0.00, 0.0002},
       {0.60, 0.10, 0.10, 0.10, 0.10}, 0.25},
      {"bank-2", 25000, 3.8, 1.0, {0.25, 0.10, 0.20, 0.15, 0.08, 0.15, 0.07, 0.00, 0.0002},
       {0.15, 0.55, 0.05, 0.10, 0.15}, 0.35},
      {"bank-3", 15000, 3.1, 0.8, {0.28, 0.15, 0.15, 0.05, 0.12, 0.20, 0.03, 0.02, 0.0002},
       {0.10, 0.10, 0.40, 0.30, 0.10}, 0.30},
  };
}

std::vector<BankTable> GenerateBanks(const GeneratorOptions& options) {
  std::vector<BankTable> out;
  const auto& categories = Categories();
  const auto banks = DefaultBanks();
  for (std::size_t b = 0; b < banks.size(); ++b) {
    const BankProfile& p = banks[b];
    model::DeterministicRng rng(model::DeterministicRng::DeriveSeed(options.seed, b));
    BankTable t;
    t.name = p.name;
    t.header = {"transaction_id", "merchant_category", "amount", "country", "channel", "is_fraud"};
    const auto rows = static_cast<std::uint64_t>(std::llround(static_cast<double>(p.rows) * options.scale));
    t.rows.reserve(rows);
    for (std::uint64_t r = 0; r < rows; ++r) {
      const Category& c = categories[Draw(p.category_weights, rng)];
      const bool fraud = rng.UniformDouble() < c.fraud_rate;
      double amount = std::exp(p.amount_mu + p.amount_sigma * rng.Normal()) * c.amount_factor * (fraud ? 2.5 : 1.0);
      amount = std::max(0.01, std::round(amount * 100.0) / 100.0);
      const std::string& country = kCountries[Draw(p.country_weights, rng)];
      const bool online = c.name == "online" || rng.UniformDouble() < p.online_share;
      char id[48], amt[48];
      std::snprintf(id, sizeof id, "%s-%07llu", p.name.c_str(), static_cast<unsigned long long>(r + 1));
      std::snprintf(amt, sizeof amt, "%.2f", amount);
      t.rows.push_back({id, c.name, amt, country, online ? "online" : "in_store", fraud ? "1" : "0"});
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string GroundTruthJson(const GeneratorOptions& options, const std::vector<BankTable>& banks,
                            const std::vector<analytics::QueryResult>* exact) {
  Json j = Json::object();
  j["format"] = "cairn-cleanroom-truth/v1";
  j["seed"] = options.seed;
  j["scale"] = options.scale;
  Json rates = Json::object();
  for (const auto& c : Categories()) rates[c.name] = c.fraud_rate;
  Json profiles = Json::array();
  const auto defaults = DefaultBanks();
  for (std::size_t b = 0; b < banks.size() && b < defaults.size(); ++b) {
    profiles.push_back(Json{{"name", banks[b].name},
                            {"rows", banks[b].rows.size()},
                            {"amount_mu", defaults[b].amount_mu},
                            {"amount_sigma", defaults[b].amount_sigma}});
  }
  j["population"] = Json{{"fraud_rate_by_category", rates}, {"banks", profiles}};
  j["exact"] = exact ? Json::parse(analytics::ResultsToJson(*exact)) : Json(nullptr);
  return j.dump(1) + "\n";
}

Result<std::vector<analytics::QueryResult>> ExactResultsFromTruth(std::string_view truth_json) {
  Json j = Json::parse(truth_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Fail(ErrorCode::kInvalidArgument, "truth: not a JSON object");
  if (!j.contains("format") || j["format"] != "cairn-cleanroom-truth/v1") {
    return Fail(ErrorCode::kInvalidArgument, "truth: format must be \"cairn-cleanroom-truth/v1\"");
  }
  if (!j.contains("exact") || j["exact"].is_null()) {
    return Fail(ErrorCode::kNotFound,
                "truth: no exact answers (generate with --config federation.toml to compute them)");
  }
  auto results = analytics::ResultsFromJson(j["exact"].dump());
  if (!results) return Fail(std::move(results.error()).Context("truth: exact"));
  return results;
}

Result<std::vector<analytics::QueryResult>> ExactAnswers(const std::vector<analytics::QuerySpec>& specs,
                                                         const std::vector<analytics::Table>& tables) {
  std::vector<analytics::QueryResult> out;
  NoDraws none;
  for (analytics::QuerySpec spec : specs) {
    spec.noise = false;
    std::vector<analytics::PartyPartial> partials;
    for (std::size_t b = 0; b < tables.size(); ++b) {
      CAIRN_ASSIGN_OR_RETURN(analytics::Partial p, analytics::ComputePartial(spec, tables[b]));
      partials.push_back({"party-" + std::to_string(b + 1), std::move(p)});
    }
    analytics::AccountingOptions accounting;
    accounting.num_parties = static_cast<std::uint32_t>(tables.size());
    CAIRN_ASSIGN_OR_RETURN(analytics::QueryResult r, analytics::CombineAndRelease(spec, partials, accounting, none));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace cairn::cleanroom
