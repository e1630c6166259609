// Synthetic transaction tables for the clean-room example: three banks with known ground truth.
//
// Every bank draws rows independently from the same per-category fraud rates (so the pooled
// fraud rate of a category estimates its population rate), with its own category mix, country
// mix, online share and amount distribution (log-normal, different per bank). Two categories
// exist to show suppression: "crypto" only at bank-3 (fails min_parties), "gambling" a handful of
// rows at every bank (fails min_rows). Each row is a separate synthetic person (tables are
// disjoint: max_tables_per_person = 1 is true of this data).
//
// Deterministic: one seed gives the same tables with every compiler (model::DeterministicRng).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/analytics/release.h"
#include "common/analytics/table.h"
#include "common/core/error.h"

namespace cairn::cleanroom {

struct Category {
  std::string name;
  double fraud_rate = 0;     // population P(is_fraud = 1)
  double amount_factor = 1;  // multiplies the bank's log-normal amount
};
// grocery, fuel, restaurants, travel, electronics, online, jewelry, crypto, gambling.
const std::vector<Category>& Categories();
inline const std::vector<std::string> kCountries = {"DE", "FR", "NL", "ES", "IT"};

struct BankProfile {
  std::string name;                      // "bank-1"
  std::uint64_t rows = 0;                // at scale 1
  double amount_mu = 0;                  // log-normal parameters of the base amount (EUR)
  double amount_sigma = 1;
  std::vector<double> category_weights;  // one per Categories() entry (normalized when drawn)
  std::vector<double> country_weights;   // one per kCountries entry
  double online_share = 0.3;             // P(channel = online) outside the "online" category
};
std::vector<BankProfile> DefaultBanks();

struct GeneratorOptions {
  std::uint64_t seed = 1;
  double scale = 1.0;  // multiplies every bank's row count (tests use a fraction)
};

struct BankTable {
  std::string name;
  std::vector<std::string> header;  // transaction_id, merchant_category, amount, country, channel, is_fraud
  std::vector<std::vector<std::string>> rows;
};

// Fraud amounts are 2.5× the drawn amount; amounts are rounded to cents (at least 0.01).
std::vector<BankTable> GenerateBanks(const GeneratorOptions& options);

// The ground truth file: {"format": "cairn-cleanroom-truth/v1", "seed", "scale",
// "population": {"fraud_rate_by_category": {...}, "banks": [{name, rows, amount_mu, amount_sigma}]},
// "exact": <analytics results JSON object, noise off, on the pooled tables> or null}.
std::string GroundTruthJson(const GeneratorOptions& options, const std::vector<BankTable>& banks,
                            const std::vector<analytics::QueryResult>* exact);
// The "exact" results of a ground-truth file (kNotFound when it has none).
Result<std::vector<analytics::QueryResult>> ExactResultsFromTruth(std::string_view truth_json);

// Noise-off answers of `specs` over the banks' pooled rows: each bank's partial, combined (what
// the federation computes, without noise). Tables must hold the columns the queries read.
Result<std::vector<analytics::QueryResult>> ExactAnswers(const std::vector<analytics::QuerySpec>& specs,
                                                         const std::vector<analytics::Table>& tables);

}  // namespace cairn::cleanroom
