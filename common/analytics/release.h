// Enclave side: combine the parties' partials, suppress small groups, add calibrated Gaussian
// noise, derive the answers; and the privacy steps a query charges (docs/analytics.md has the
// long form).
//
// Adjacency (the unit of privacy). Two federations are neighbours when they differ in one person,
// where a person owns at most ONE row in each party's table and appears in at most R tables
// (R = spec.max_tables_per_person, default: every party, AccountingOptions::num_parties). Under
// the ledger's add-or-remove relation the person's rows are added or removed; under replace-one
// they are replaced by other rows. Sensitivities follow (M = max |clamp|, L2 over all groups and
// cells; a row lands in at most one group and one cell):
//                       add-or-remove      replace-one
//   rows per group      R                  R·√2
//   Σ clamp(x)          R·M                R·max(high − low, √2·M)
//   Σ clamp(x)²         R·M²               R·√2·M²
//   histogram cells     R                  R·√2
//   per-party rows      √R                 √(2R)
//
// Mechanism. Each released statistic vector gets independent Gaussian noise N(0, σ_i²). A query's
// ε is met by one RDP budget: Gaussian releases compose to RDP α·ρ with ρ = Σ Δ_i² / (2σ_i²); ρ is
// the largest value whose ε at δ (the ledger's orders and conversion) is ≤ spec.epsilon (found by
// bisection on the exact ledger arithmetic), split equally over the k statistics (σ_i =
// Δ_i / √(2ρ/k)). The query charges one dp::PrivacyStep::GaussianRelease(Δ_i, σ_i) per statistic.
//
// Statistics released per kind:
//   count: rows · sum and mean: rows, sum · variance: rows, sum, sum of squares ·
//   histogram and quantiles: cells (rows = Σ noisy cells)
//   plus per-party rows when min_parties ≥ 2 (used only for the parties test, never output).
//
// Suppression (post-processing of noisy statistics only, so it costs nothing beyond the charged
// ε and reveals nothing else): a group is released when its noisy rows ≥ min_rows AND, with
// min_parties ≥ 2, at least min_parties parties have noisy own rows ≥ min_rows_per_party. Noise
// is drawn for every listed group, suppressed or not, in a fixed order. The list of groups is
// public (from the config), so no group's existence is revealed by the data.
//
// Answers: rows and counts are rounded to integers and floored at 0; mean = noisy sum / noisy
// rows clamped to [low, high]; variance (population, divisor rows) = Σx²/n − (Σx/n)² from the
// noisy sums, clamped to [0, (high − low)²/4]; histogram cells rounded and floored at 0;
// quantiles read off the running sum of the raw noisy cells, interpolating linearly inside the
// cell (QuantilesFromCells). With noise, non-integer answers are rounded to float32 precision
// (the floating-point caveat of docs/privacy.md: the low-order bits of x + noise are dropped).
// With spec.noise = false (tests) nothing is drawn and every answer equals the pooled-data answer
// up to floating-point summation order; such a plan's steps have σ = 0 (ε = ∞), so a real ledger
// refuses to charge them and the engine cannot release exact answers.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/analytics/partial.h"
#include "common/analytics/query_spec.h"
#include "common/core/error.h"
#include "common/dp/privacy_ledger.h"
#include "common/dp/random_source.h"
#include "common/dp/rdp_accountant.h"

namespace cairn::analytics {

// How ε is accounted: must match the ledger the engine charges (ChargeQuery checks).
struct AccountingOptions {
  double delta = 1e-5;                                  // the federation's δ
  dp::Adjacency adjacency = dp::Adjacency::kAddOrRemove;
  std::vector<double> orders = dp::OpacusOrders();      // RDP orders grid
  dp::Conversion conversion = dp::Conversion::kImproved;
  // Parties in the federation (the roster): the default of max_tables_per_person. 0 = unset
  // (then every query must set max_tables_per_person).
  std::uint32_t num_parties = 0;

  // The ledger's δ, adjacency, orders and conversion.
  static AccountingOptions ForLedger(const dp::LedgerOptions& ledger, std::uint32_t num_parties);
};

enum class Statistic : std::uint8_t { kRows, kSum, kSumSquares, kCells, kPartyRows };
std::string_view StatisticName(Statistic s);  // "rows", "sum", "sum_squares", "cells", "party_rows"

struct StatisticNoise {
  Statistic statistic = Statistic::kRows;
  double l2_sensitivity = 0;  // Δ under the accounting's adjacency, for R tables per person
  double stddev = 0;          // σ added to each coordinate; 0 when noise is off
  bool operator==(const StatisticNoise&) const = default;
};

// Everything about a query's noise and cost that is known before any data: the engine checks the
// budget with it, runs CombineAndRelease with it, then charges it.
struct QueryPlan {
  QuerySpec spec;
  AccountingOptions accounting;
  std::uint32_t tables_per_person = 1;     // R, resolved
  std::vector<StatisticNoise> statistics;  // in the order noise is drawn
  std::vector<dp::PrivacyStep> steps;      // GaussianRelease(Δ_i, σ_i), one per statistic
  double epsilon = 0;                      // ε at δ of `steps` alone (≤ spec.epsilon); ∞ without noise
};

// Pure function of its arguments (deterministic). Errors: an invalid spec or accounting, or R
// unresolvable (num_parties = 0 and max_tables_per_person unset).
Result<QueryPlan> PlanQuery(const QuerySpec& spec, const AccountingOptions& accounting);

// ε the ledger would report after charging the plan (ledger unchanged; may exceed its budget).
// kInvalidArgument when the plan's accounting differs from the ledger's options.
Result<double> EpsilonIfQueryAdded(const dp::PrivacyLedger& ledger, const QueryPlan& plan);
// Charges all of the plan's steps or none: kResourceExhausted (ledger unchanged) when the budget
// would be exceeded, which always happens for a noise = false plan.
Status ChargeQuery(dp::PrivacyLedger& ledger, const QueryPlan& plan);

inline constexpr double kNotAvailable = std::numeric_limits<double>::quiet_NaN();

struct GroupResult {
  std::string group;           // the group value; "" for an ungrouped query
  bool suppressed = false;
  std::string suppressed_by;   // "", "rows", "parties" or "rows,parties"
  double rows = 0;             // noisy contributing rows, rounded, ≥ 0; 0 when suppressed
  double value = kNotAvailable;   // count, sum, mean, variance; NaN when suppressed or a vector kind
  std::vector<double> values;     // histogram cells or quantiles; empty when suppressed or scalar
  // Noise stddev of `value` (or of each histogram cell): exact for count, sum and cells, a
  // delta-method estimate from the noisy values for mean and variance; NaN for quantiles,
  // suppressed groups, and 0 without noise.
  double stddev = kNotAvailable;
};

struct QueryResult {
  std::string query;
  QueryKind kind = QueryKind::kCount;
  std::string column;
  std::string group_by;
  std::vector<std::string> labels;  // histogram cell labels or quantile labels ("p50"); else empty
  bool noise = true;
  double epsilon = 0;               // the query's own ε (QueryPlan::epsilon); ∞ without noise
  double delta = 0;
  std::uint32_t parties = 0;        // partials combined
  std::uint32_t tables_per_person = 1;
  std::vector<StatisticNoise> statistics;
  std::string spec_json;            // QuerySpecToJson(spec)
  std::vector<GroupResult> groups;  // in the spec's group order
};

// Combines 1..kMaxParties partials (distinct party ids, each passing ValidatePartial), in
// party-id order (so the answer does not depend on arrival order). Draws noise from `rng` (the
// CSPRNG in production). kFailedPrecondition when more partials than accounting.num_parties
// arrive for a query whose R defaulted to num_parties (its sensitivity would be understated).
Result<QueryResult> CombineAndRelease(const QueryPlan& plan, const std::vector<PartyPartial>& partials,
                                      dp::RandomSource& rng);
// PlanQuery then CombineAndRelease.
Result<QueryResult> CombineAndRelease(const QuerySpec& spec, const std::vector<PartyPartial>& partials,
                                      const AccountingOptions& accounting, dp::RandomSource& rng);

// Quantiles read off cell counts over `edges` (cells.size() + 1 edges): for level q, the target
// rank t = q · Σ cells; the first cell j with a positive count whose running sum reaches t; the
// answer e_j + (e_{j+1} − e_j) · (t − before_j) / cells_j. Noisy counts are used as they are,
// negative ones included (an unbiased running sum; flooring at 0 biases upper quantiles). NaN
// when Σ cells ≤ 0. Exposed for tests and for the exact reference on pooled data.
std::vector<double> QuantilesFromCells(const std::vector<double>& cells, const std::vector<double>& edges,
                                       const std::vector<double>& levels);

}  // namespace cairn::analytics
