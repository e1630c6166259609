#include "common/analytics/release.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "common/dp/gaussian_noise.h"

namespace cairn::analytics {
namespace {

// A ledger that never refuses (budget far above any ε): computes ε of a list of steps with the
// exact arithmetic of the real ledger.
Result<dp::PrivacyLedger> ScratchLedger(const AccountingOptions& a) {
  dp::LedgerOptions o;
  o.epsilon_budget = 1e300;
  o.delta = a.delta;
  o.adjacency = a.adjacency;
  o.orders = a.orders;
  o.conversion = a.conversion;
  return dp::PrivacyLedger::Create(std::move(o));
}

Result<double> EpsilonOfSteps(const AccountingOptions& a, const std::vector<dp::PrivacyStep>& steps) {
  CAIRN_ASSIGN_OR_RETURN(dp::PrivacyLedger ledger, ScratchLedger(a));
  for (const auto& s : steps) CAIRN_RETURN_IF_ERROR(ledger.Charge(s));
  return ledger.epsilon_spent();
}

std::vector<Statistic> StatisticsOf(const QuerySpec& s) {
  std::vector<Statistic> out;
  switch (s.kind) {
    case QueryKind::kCount: out = {Statistic::kRows}; break;
    case QueryKind::kSum:
    case QueryKind::kMean: out = {Statistic::kRows, Statistic::kSum}; break;
    case QueryKind::kVariance: out = {Statistic::kRows, Statistic::kSum, Statistic::kSumSquares}; break;
    case QueryKind::kHistogram:
    case QueryKind::kQuantiles: out = {Statistic::kCells}; break;
  }
  if (s.min_parties >= 2) out.push_back(Statistic::kPartyRows);
  return out;
}

double Sensitivity(Statistic st, const QuerySpec& s, dp::Adjacency adjacency, double r) {
  const bool replace = adjacency == dp::Adjacency::kReplaceOne;
  const double m = s.clamp ? std::max(std::abs(s.clamp->low), std::abs(s.clamp->high)) : 0.0;
  switch (st) {
    case Statistic::kRows:
    case Statistic::kCells: return replace ? r * std::sqrt(2.0) : r;
    case Statistic::kSum:
      return replace ? r * std::max(s.clamp->high - s.clamp->low, std::sqrt(2.0) * m) : r * m;
    case Statistic::kSumSquares: return replace ? r * std::sqrt(2.0) * m * m : r * m * m;
    case Statistic::kPartyRows: return replace ? std::sqrt(2.0 * r) : std::sqrt(r);
  }
  return 0;
}

std::vector<dp::PrivacyStep> StepsFor(const std::vector<StatisticNoise>& stats) {
  std::vector<dp::PrivacyStep> steps;
  for (const auto& n : stats) steps.push_back(dp::PrivacyStep::GaussianRelease(n.l2_sensitivity, n.stddev));
  return steps;
}

// σ_i for a total RDP slope ρ split equally over the statistics.
void SetStddevs(std::vector<StatisticNoise>& stats, double rho) {
  const double share = rho / static_cast<double>(stats.size());
  for (auto& n : stats) n.stddev = n.l2_sensitivity / std::sqrt(2.0 * share);
}

Status CheckLedgerMatches(const dp::PrivacyLedger& ledger, const QueryPlan& plan) {
  const auto& o = ledger.options();
  const auto& a = plan.accounting;
  if (o.delta != a.delta || o.adjacency != a.adjacency || o.orders != a.orders || o.conversion != a.conversion) {
    return Fail(ErrorCode::kInvalidArgument,
                "query '" + plan.spec.name + "': planned under different accounting (delta, adjacency, orders or "
                "conversion) than the ledger's; plan with AccountingOptions::ForLedger(ledger.options(), ...)");
  }
  return Ok();
}

double RoundCount(double x) { return std::max(0.0, std::nearbyint(x)); }

// Released non-integer values keep float32 precision (24-bit mantissa), as the round engine does
// for models: the low-order bits of x + noise are where a double sampler's irregularities live
// (docs/privacy.md, floating-point caveat). Without noise, values stay exact.
double Coarsen(double x, bool noise) {
  if (!noise || !std::isfinite(x)) return x;
  return static_cast<double>(static_cast<float>(x));
}

}  // namespace

AccountingOptions AccountingOptions::ForLedger(const dp::LedgerOptions& ledger, std::uint32_t num_parties) {
  AccountingOptions a;
  a.delta = ledger.delta;
  a.adjacency = ledger.adjacency;
  a.orders = ledger.orders;
  a.conversion = ledger.conversion;
  a.num_parties = num_parties;
  return a;
}

std::string_view StatisticName(Statistic s) {
  switch (s) {
    case Statistic::kRows: return "rows";
    case Statistic::kSum: return "sum";
    case Statistic::kSumSquares: return "sum_squares";
    case Statistic::kCells: return "cells";
    case Statistic::kPartyRows: return "party_rows";
  }
  return "unknown";
}

Result<QueryPlan> PlanQuery(const QuerySpec& spec, const AccountingOptions& accounting) {
  CAIRN_RETURN_IF_ERROR(ValidateQuerySpec(spec));
  CAIRN_RETURN_IF_ERROR(dp::ValidateDelta(accounting.delta));
  CAIRN_RETURN_IF_ERROR(dp::ValidateOrders(accounting.orders));
  if (accounting.num_parties > kMaxParties) {
    return Fail(ErrorCode::kInvalidArgument, "AccountingOptions::num_parties above the limit of 1000");
  }
  QueryPlan plan;
  plan.spec = spec;
  plan.accounting = accounting;
  plan.tables_per_person = spec.max_tables_per_person != 0 ? spec.max_tables_per_person : accounting.num_parties;
  if (plan.tables_per_person == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "query '" + spec.name + "': max_tables_per_person is unset and AccountingOptions::num_parties is 0: "
                "the number of tables one person can appear in is unknown");
  }
  const double r = plan.tables_per_person;
  for (Statistic st : StatisticsOf(spec)) {
    plan.statistics.push_back({st, Sensitivity(st, spec, accounting.adjacency, r), 0.0});
  }
  if (!spec.noise) {
    plan.steps = StepsFor(plan.statistics);
    plan.epsilon = std::numeric_limits<double>::infinity();
    return plan;
  }
  // Largest ρ with ε(ρ) ≤ target; ε is increasing in ρ. Bisection in log space on [lo, hi].
  auto eps_at = [&](double rho) -> Result<double> {
    std::vector<StatisticNoise> stats = plan.statistics;
    SetStddevs(stats, rho);
    return EpsilonOfSteps(accounting, StepsFor(stats));
  };
  double lo = 1e-12, hi = 1e4;
  CAIRN_ASSIGN_OR_RETURN(double eps_lo, eps_at(lo));
  CAIRN_ASSIGN_OR_RETURN(double eps_hi, eps_at(hi));
  if (eps_lo > spec.epsilon || eps_hi <= spec.epsilon) {
    return Fail(ErrorCode::kOutOfRange, "query '" + spec.name + "': epsilon " + FormatNumber(spec.epsilon) +
                                            " cannot be met at delta " + FormatNumber(accounting.delta));
  }
  for (int i = 0; i < 200 && hi - lo > 1e-10 * hi; ++i) {
    const double mid = std::sqrt(lo * hi);
    CAIRN_ASSIGN_OR_RETURN(double e, eps_at(mid));
    (e <= spec.epsilon ? lo : hi) = mid;
  }
  SetStddevs(plan.statistics, lo);
  plan.steps = StepsFor(plan.statistics);
  CAIRN_ASSIGN_OR_RETURN(plan.epsilon, EpsilonOfSteps(accounting, plan.steps));
  // ε(ρ) is continuous while the best order lies inside the grid; below the smallest ε the grid can
  // express (≈ −(ln δ + ln α_max)/(α_max − 1)), it drops to 0 (the KL shortcut for tiny RDP) and
  // the bisection would end there with absurd noise. Refuse instead of releasing garbage.
  if (plan.epsilon < 0.99 * spec.epsilon) {
    return Fail(ErrorCode::kOutOfRange,
                "query '" + spec.name + "': epsilon " + FormatNumber(spec.epsilon) + " at delta " +
                    FormatNumber(accounting.delta) +
                    " is below what the RDP orders grid can account for; raise epsilon or use a grid with larger "
                    "orders (e.g. tfp)");
  }
  return plan;
}

Result<double> EpsilonIfQueryAdded(const dp::PrivacyLedger& ledger, const QueryPlan& plan) {
  CAIRN_RETURN_IF_ERROR(CheckLedgerMatches(ledger, plan));
  CAIRN_ASSIGN_OR_RETURN(dp::PrivacyLedger scratch, ScratchLedger(plan.accounting));
  for (const auto& s : ledger.history()) CAIRN_RETURN_IF_ERROR(scratch.Charge(s));
  for (const auto& s : plan.steps) CAIRN_RETURN_IF_ERROR(scratch.Charge(s));
  return scratch.epsilon_spent();
}

Status ChargeQuery(dp::PrivacyLedger& ledger, const QueryPlan& plan) {
  CAIRN_RETURN_IF_ERROR(CheckLedgerMatches(ledger, plan));
  dp::PrivacyLedger copy = ledger;
  for (const auto& s : plan.steps) {
    if (auto st = copy.Charge(s); !st) {
      return Fail(std::move(st.error()).Context("query '" + plan.spec.name + "'"));
    }
  }
  ledger = std::move(copy);
  return Ok();
}

std::vector<double> QuantilesFromCells(const std::vector<double>& cells, const std::vector<double>& edges,
                                       const std::vector<double>& levels) {
  std::vector<double> out(levels.size(), kNotAvailable);
  if (cells.empty() || edges.size() != cells.size() + 1) return out;
  // Raw (possibly negative) noisy counts: their running sum is an unbiased estimate of the
  // cumulative count. Flooring each cell at 0 first would add about 0.4σ phantom rows per empty
  // cell and drag the upper quantiles of a wide grid far to the right.
  const double total = std::accumulate(cells.begin(), cells.end(), 0.0);
  if (!(total > 0.0)) return out;
  for (std::size_t k = 0; k < levels.size(); ++k) {
    const double t = levels[k] * total;
    double before = 0;
    out[k] = edges.back();
    for (std::size_t j = 0; j < cells.size(); ++j) {
      const double after = before + cells[j];
      if (cells[j] > 0.0 && after >= t) {
        const double frac = std::clamp((t - before) / cells[j], 0.0, 1.0);
        out[k] = edges[j] + (edges[j + 1] - edges[j]) * frac;
        break;
      }
      before = after;
    }
  }
  return out;
}

Result<QueryResult> CombineAndRelease(const QueryPlan& plan, const std::vector<PartyPartial>& partials,
                                      dp::RandomSource& rng) {
  const QuerySpec& spec = plan.spec;
  CAIRN_RETURN_IF_ERROR(ValidateQuerySpec(spec));
  const std::string q = "query '" + spec.name + "': ";
  if (partials.empty() || partials.size() > kMaxParties) {
    return Fail(ErrorCode::kInvalidArgument, q + "needs 1 to 1000 partials, got " + std::to_string(partials.size()));
  }
  if (spec.max_tables_per_person == 0 && partials.size() > plan.accounting.num_parties) {
    return Fail(ErrorCode::kFailedPrecondition,
                q + std::to_string(partials.size()) + " partials but the plan assumed at most " +
                    std::to_string(plan.accounting.num_parties) + " parties (max_tables_per_person)");
  }
  std::vector<std::size_t> order(partials.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return partials[a].party_id < partials[b].party_id; });
  for (std::size_t i = 0; i < order.size(); ++i) {
    const PartyPartial& pp = partials[order[i]];
    if (pp.party_id.empty()) return Fail(ErrorCode::kInvalidArgument, q + "a partial has no party id");
    if (i > 0 && pp.party_id == partials[order[i - 1]].party_id) {
      return Fail(ErrorCode::kInvalidArgument, q + "two partials from party '" + pp.party_id + "'");
    }
    if (auto st = ValidatePartial(pp.partial, spec); !st) {
      return Fail(std::move(st.error()).Context("party '" + pp.party_id + "'"));
    }
  }

  const std::size_t groups = spec.num_groups();
  const std::size_t cells = spec.num_cells();
  const std::size_t parties = partials.size();
  // Exact pooled statistics, summed in party-id order.
  std::vector<double> rows(groups, 0.0), sum(groups, 0.0), squares(groups, 0.0), cell(groups * cells, 0.0);
  std::vector<double> party_rows(parties * groups, 0.0);
  for (std::size_t i = 0; i < parties; ++i) {
    const Partial& p = partials[order[i]].partial;
    for (std::size_t g = 0; g < groups; ++g) {
      const GroupPartial& gp = p.groups[g];
      rows[g] += static_cast<double>(gp.rows);
      sum[g] += gp.sum;
      squares[g] += gp.sum_squares;
      for (std::size_t c = 0; c < cells; ++c) cell[g * cells + c] += static_cast<double>(gp.cells[c]);
      party_rows[i * groups + g] = static_cast<double>(gp.rows);
    }
  }

  // Noise, in the plan's order, over every group (suppressed or not).
  double sd_rows = 0, sd_sum = 0, sd_squares = 0, sd_cells = 0;
  bool have_rows = false;
  for (const StatisticNoise& n : plan.statistics) {
    std::vector<double>* target = nullptr;
    switch (n.statistic) {
      case Statistic::kRows: target = &rows; sd_rows = n.stddev; have_rows = true; break;
      case Statistic::kSum: target = &sum; sd_sum = n.stddev; break;
      case Statistic::kSumSquares: target = &squares; sd_squares = n.stddev; break;
      case Statistic::kCells: target = &cell; sd_cells = n.stddev; break;
      case Statistic::kPartyRows: target = &party_rows; break;
    }
    if (spec.noise) CAIRN_RETURN_IF_ERROR(dp::AddGaussianNoise(*target, n.stddev, rng));
  }

  QueryResult out;
  out.query = spec.name;
  out.kind = spec.kind;
  out.column = spec.column;
  out.group_by = spec.group_by;
  if (spec.kind == QueryKind::kHistogram) out.labels = CellLabels(spec);
  if (spec.kind == QueryKind::kQuantiles) out.labels = QuantileLabels(spec);
  out.noise = spec.noise;
  out.epsilon = plan.epsilon;
  out.delta = plan.accounting.delta;
  out.parties = static_cast<std::uint32_t>(parties);
  out.tables_per_person = plan.tables_per_person;
  out.statistics = plan.statistics;
  out.spec_json = QuerySpecToJson(spec);
  const std::vector<double> edges = spec.CellEdges();

  for (std::size_t g = 0; g < groups; ++g) {
    GroupResult r;
    r.group = spec.group_by.empty() ? "" : spec.groups[g];
    std::vector<double> gc(cell.begin() + static_cast<std::ptrdiff_t>(g * cells),
                           cell.begin() + static_cast<std::ptrdiff_t>((g + 1) * cells));
    const double noisy_rows = have_rows ? rows[g] : std::accumulate(gc.begin(), gc.end(), 0.0);
    const bool rows_ok = noisy_rows >= static_cast<double>(spec.min_rows);
    bool parties_ok = true;
    if (spec.min_parties >= 2) {
      std::uint32_t contributing = 0;
      for (std::size_t i = 0; i < parties; ++i) {
        if (party_rows[i * groups + g] >= static_cast<double>(spec.min_rows_per_party)) ++contributing;
      }
      parties_ok = contributing >= spec.min_parties;
    }
    if (!rows_ok || !parties_ok) {
      r.suppressed = true;
      r.suppressed_by = !rows_ok && !parties_ok ? "rows,parties" : (!rows_ok ? "rows" : "parties");
      out.groups.push_back(std::move(r));
      continue;
    }
    r.rows = RoundCount(noisy_rows);
    const double n = noisy_rows;  // ≥ min_rows ≥ 1
    switch (spec.kind) {
      case QueryKind::kCount:
        r.value = r.rows;
        r.stddev = sd_rows;
        break;
      case QueryKind::kSum:
        r.value = sum[g];
        r.stddev = sd_sum;
        break;
      case QueryKind::kMean: {
        const double mean = sum[g] / n;
        r.value = std::clamp(mean, spec.clamp->low, spec.clamp->high);
        r.stddev = std::sqrt(sd_sum * sd_sum + mean * mean * sd_rows * sd_rows) / n;
        break;
      }
      case QueryKind::kVariance: {
        const double mean = sum[g] / n;
        const double var = squares[g] / n - mean * mean;
        const double half = (spec.clamp->high - spec.clamp->low) / 2.0;
        r.value = std::clamp(var, 0.0, half * half);
        // Delta method on v(S2, S, n) = S2/n − S²/n².
        const double d_s2 = 1.0 / n, d_s = -2.0 * sum[g] / (n * n);
        const double d_n = -squares[g] / (n * n) + 2.0 * sum[g] * sum[g] / (n * n * n);
        r.stddev = std::sqrt(d_s2 * d_s2 * sd_squares * sd_squares + d_s * d_s * sd_sum * sd_sum +
                             d_n * d_n * sd_rows * sd_rows);
        break;
      }
      case QueryKind::kHistogram:
        for (double c : gc) r.values.push_back(RoundCount(c));
        r.stddev = sd_cells;
        break;
      case QueryKind::kQuantiles:
        r.values = QuantilesFromCells(gc, edges, spec.quantiles);
        break;
    }
    r.value = Coarsen(r.value, spec.noise);
    // Count, sum and cell stddevs are the plan's public σ; mean and variance ones derive from noisy values.
    if (spec.kind == QueryKind::kMean || spec.kind == QueryKind::kVariance) r.stddev = Coarsen(r.stddev, spec.noise);
    for (double& v : r.values) v = Coarsen(v, spec.noise);
    out.groups.push_back(std::move(r));
  }
  return out;
}

Result<QueryResult> CombineAndRelease(const QuerySpec& spec, const std::vector<PartyPartial>& partials,
                                      const AccountingOptions& accounting, dp::RandomSource& rng) {
  CAIRN_ASSIGN_OR_RETURN(QueryPlan plan, PlanQuery(spec, accounting));
  return CombineAndRelease(plan, partials, rng);
}

}  // namespace cairn::analytics
