#include "common/analytics/release.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/analytics/output.h"
#include "common/model/rng.h"
#include "tests/analytics/test_util.h"
#include "tests/dp/seeded_random_source.h"

namespace cairn::analytics {
namespace {

using testing::MakeTable;
using testing::ParseOne;

// Three parties' tables drawn from one seeded stream, and the same rows pooled in one table.
struct Federation {
  std::vector<std::vector<std::vector<std::string>>> party_rows;
  std::vector<std::vector<std::string>> pooled_rows;
  std::vector<Table> tables;
  Table pooled = MakeTable("pooled.csv", {"g", "x", "f"}, {});
};

Federation MakeFederation(std::uint64_t seed, std::vector<std::size_t> sizes = {400, 250, 150}) {
  Federation f;
  model::DeterministicRng rng(seed);
  const char* groups[] = {"a", "b", "c", "rare"};
  for (std::size_t p = 0; p < sizes.size(); ++p) {
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < sizes[p]; ++i) {
      // "rare" only at party 0, a few rows.
      std::size_t g = rng.UniformInt(3);
      if (p == 0 && i < 3) g = 3;
      const double x = std::round((rng.Normal() * 30 + 40 + 10.0 * static_cast<double>(p)) * 100) / 100;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", x);
      rows.push_back({groups[g], buf, rng.UniformDouble() < 0.3 ? "1" : "0"});
    }
    f.pooled_rows.insert(f.pooled_rows.end(), rows.begin(), rows.end());
    f.tables.push_back(MakeTable("party-" + std::to_string(p) + ".csv", {"g", "x", "f"}, rows));
    f.party_rows.push_back(std::move(rows));
  }
  f.pooled = MakeTable("pooled.csv", {"g", "x", "f"}, f.pooled_rows);
  return f;
}

std::vector<PartyPartial> Partials(const QuerySpec& s, const std::vector<Table>& tables) {
  std::vector<PartyPartial> out;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    auto p = ComputePartial(s, tables[i]);
    EXPECT_TRUE(p) << (p ? "" : p.error().ToString());
    out.push_back({"party-" + std::to_string(i), std::move(*p)});
  }
  return out;
}

AccountingOptions Accounting(std::uint32_t parties = 3) {
  AccountingOptions a;
  a.num_parties = parties;
  return a;
}

QueryResult Release(const QuerySpec& s, const std::vector<PartyPartial>& partials, std::uint64_t seed = 1,
                    const AccountingOptions& a = Accounting()) {
  dp::testing::SeededRandomSource rng(seed);
  auto r = CombineAndRelease(s, partials, a, rng);
  EXPECT_TRUE(r) << (r ? "" : r.error().ToString());
  return r ? *r : QueryResult{};
}

QuerySpec Spec(const std::string& kind_and_fields, bool noise = false) {
  return ParseOne("[[queries]]\nname = \"q\"\n" + kind_and_fields + (noise ? "\nepsilon = 1\n" : "\nnoise = false\n"));
}

// --- Exact answers ------------------------------------------------------------------------------

// Brute force over the pooled rows: rows with f = 1 and group g, x clamped.
struct Reference {
  double rows = 0, sum = 0, mean = 0, variance = 0;
};
Reference BruteForce(const Federation& f, const std::string& group, double lo, double hi) {
  std::vector<double> xs;
  for (const auto& r : f.pooled_rows) {
    if (r[0] == group && r[2] == "1") xs.push_back(std::clamp(std::stod(r[1]), lo, hi));
  }
  Reference ref;
  ref.rows = static_cast<double>(xs.size());
  ref.sum = std::accumulate(xs.begin(), xs.end(), 0.0);
  ref.mean = ref.sum / ref.rows;
  for (double x : xs) ref.variance += (x - ref.mean) * (x - ref.mean);
  ref.variance /= ref.rows;
  return ref;
}

TEST(ReleaseExactTest, NoiseOffEqualsThePooledDataForEveryScalarKind) {
  const Federation f = MakeFederation(11);
  const std::string common = "column = \"x\"\ngroup_by = \"g\"\ngroups = [\"a\", \"b\", \"c\"]\nclamp = [0, 80]\n"
                             "where = [ { column = \"f\", op = \"=\", value = 1 } ]\nmin_rows = 5\nmin_parties = 2";
  for (const char* kind : {"count", "sum", "mean", "variance"}) {
    std::string fields = std::string("kind = \"") + kind + "\"\n" + common;
    if (std::string(kind) == "count") {
      fields = "kind = \"count\"\ngroup_by = \"g\"\ngroups = [\"a\", \"b\", \"c\"]\n"
               "where = [ { column = \"f\", op = \"=\", value = 1 } ]\nmin_rows = 5\nmin_parties = 2";
    }
    const QuerySpec s = Spec(fields);
    QuerySpec one_party = s;  // the pooled table is one party: no parties test
    one_party.min_parties = 1;
    one_party.min_rows_per_party = 0;
    const QueryResult fed = Release(s, Partials(s, f.tables));
    const QueryResult pooled = Release(one_party, Partials(one_party, {f.pooled}), 1, Accounting(1));
    ASSERT_EQ(fed.groups.size(), 3u) << kind;
    for (std::size_t g = 0; g < 3; ++g) {
      const Reference ref = BruteForce(f, fed.groups[g].group, 0, 80);
      const GroupResult& r = fed.groups[g];
      ASSERT_FALSE(r.suppressed) << kind << " " << r.group;
      EXPECT_EQ(r.rows, ref.rows) << kind;
      EXPECT_EQ(r.rows, pooled.groups[g].rows) << kind;
      EXPECT_EQ(r.stddev, 0.0) << kind;
      const double expected = std::string(kind) == "count" ? ref.rows
                              : std::string(kind) == "sum" ? ref.sum
                              : std::string(kind) == "mean" ? ref.mean
                                                             : ref.variance;
      // Equal up to summation order (parties summed separately, then added).
      EXPECT_NEAR(r.value, expected, 1e-9 * std::max(1.0, std::abs(expected))) << kind << " " << r.group;
      EXPECT_NEAR(r.value, pooled.groups[g].value, 1e-9 * std::max(1.0, std::abs(expected))) << kind;
    }
  }
}

TEST(ReleaseExactTest, HistogramAndQuantilesEqualThePooledData) {
  const Federation f = MakeFederation(12);
  const QuerySpec h = Spec("kind = \"histogram\"\ncolumn = \"x\"\nbins = [0, 20, 40, 60, 80]");
  const QueryResult hr = Release(h, Partials(h, f.tables));
  std::vector<double> expect(6, 0.0);
  for (const auto& r : f.pooled_rows) {
    const double x = std::stod(r[1]);
    const std::size_t cell = x < 0 ? 0 : x > 80 ? 5 : x == 80 ? 4 : static_cast<std::size_t>(x / 20) + 1;
    expect[cell] += 1;
  }
  ASSERT_EQ(hr.groups.size(), 1u);
  EXPECT_EQ(hr.groups[0].group, "");
  EXPECT_EQ(hr.groups[0].values, expect);
  EXPECT_EQ(hr.groups[0].rows, 800.0);
  EXPECT_EQ(hr.labels, (std::vector<std::string>{"<0", "[0,20)", "[20,40)", "[40,60)", "[60,80]", ">80"}));

  const QuerySpec q = Spec("kind = \"quantiles\"\ncolumn = \"x\"\nclamp = [-50, 150]\ngrid_bins = 200\nquantiles = [0.1, 0.5, 0.9]");
  const QueryResult qr = Release(q, Partials(q, f.tables));
  const QueryResult qp = Release(q, Partials(q, {f.pooled}), 1, Accounting(1));
  ASSERT_EQ(qr.groups[0].values.size(), 3u);
  EXPECT_EQ(qr.groups[0].values, qp.groups[0].values);  // integer cell counts: bit-identical
  // And within one cell width (1.0) of the empirical quantile of the pooled values.
  std::vector<double> xs;
  for (const auto& r : f.pooled_rows) xs.push_back(std::clamp(std::stod(r[1]), -50.0, 150.0));
  std::sort(xs.begin(), xs.end());
  for (std::size_t k = 0; k < 3; ++k) {
    const double level = q.quantiles[k];
    const double empirical = xs[static_cast<std::size_t>(std::ceil(level * static_cast<double>(xs.size()))) - 1];
    EXPECT_NEAR(qr.groups[0].values[k], empirical, 1.0) << level;
  }
  EXPECT_EQ(qr.labels, (std::vector<std::string>{"p10", "p50", "p90"}));
}

TEST(ReleaseExactTest, ResultDoesNotDependOnArrivalOrder) {
  const Federation f = MakeFederation(13);
  const QuerySpec s = Spec("kind = \"variance\"\ncolumn = \"x\"\nclamp = [0, 100]", /*noise=*/true);
  auto partials = Partials(s, f.tables);
  const std::string a = ResultsToJson({Release(s, partials, 5)});
  std::reverse(partials.begin(), partials.end());
  EXPECT_EQ(ResultsToJson({Release(s, partials, 5)}), a);
}

TEST(ReleaseNoiseTest, NoisyAnswersKeepFloat32PrecisionOnly) {
  const Federation f = MakeFederation(16);
  for (const char* fields : {"kind = \"mean\"\ncolumn = \"x\"\nclamp = [0, 100]",
                             "kind = \"variance\"\ncolumn = \"x\"\nclamp = [0, 100]",
                             "kind = \"quantiles\"\ncolumn = \"x\"\nclamp = [0, 100]\nquantiles = [0.5]"}) {
    const QuerySpec s = Spec(fields, /*noise=*/true);
    const QueryResult r = Release(s, Partials(s, f.tables), 3);
    const GroupResult& g = r.groups[0];
    ASSERT_FALSE(g.suppressed);
    const double v = s.kind == QueryKind::kQuantiles ? g.values[0] : g.value;
    EXPECT_EQ(v, static_cast<double>(static_cast<float>(v))) << fields;
    EXPECT_EQ(g.rows, std::nearbyint(g.rows));
  }
}

TEST(QuantilesFromCellsTest, InterpolatesInsideTheCell) {
  const std::vector<double> edges = {0, 10, 20, 30};
  EXPECT_EQ(QuantilesFromCells({10, 0, 10}, edges, {0.0, 0.25, 0.5, 0.75, 1.0}),
            (std::vector<double>{0, 5, 10, 25, 30}));
  // Negative (noisy) counts stay in the running sum: total 1, rank 0.5 reached in cell 1 at
  // (0.5 + 3) / 4 of its width.
  EXPECT_EQ(QuantilesFromCells({-3, 4, 0}, edges, {0.5}), (std::vector<double>{18.75}));
  EXPECT_TRUE(std::isnan(QuantilesFromCells({0, -1, 0}, edges, {0.5})[0]));
  EXPECT_TRUE(std::isnan(QuantilesFromCells({1, 1}, edges, {0.5})[0]));  // wrong shape
}

// --- Suppression --------------------------------------------------------------------------------

TEST(SuppressionTest, SmallGroupsAreSuppressedWithoutNoise) {
  const Federation f = MakeFederation(14);
  // "rare" has 3 rows, all at party 0; "a" has hundreds over three parties.
  const QuerySpec s = Spec("kind = \"count\"\ngroup_by = \"g\"\ngroups = [\"a\", \"rare\", \"absent\"]\nmin_rows = 5\nmin_parties = 2\nmin_rows_per_party = 1");
  const QueryResult r = Release(s, Partials(s, f.tables));
  EXPECT_FALSE(r.groups[0].suppressed);
  EXPECT_TRUE(r.groups[1].suppressed);
  EXPECT_EQ(r.groups[1].suppressed_by, "rows,parties");
  EXPECT_TRUE(std::isnan(r.groups[1].value));
  EXPECT_EQ(r.groups[1].rows, 0.0);
  EXPECT_TRUE(r.groups[2].suppressed);

  // Enough rows but one party: parties only.
  const QuerySpec one = Spec("kind = \"count\"\ngroup_by = \"g\"\ngroups = [\"rare\"]\nmin_rows = 2\nmin_parties = 2\nmin_rows_per_party = 1");
  const QueryResult r1 = Release(one, Partials(one, f.tables));
  EXPECT_TRUE(r1.groups[0].suppressed);
  EXPECT_EQ(r1.groups[0].suppressed_by, "parties");
  // With min_parties = 1 the same group is released.
  const QuerySpec any = Spec("kind = \"count\"\ngroup_by = \"g\"\ngroups = [\"rare\"]\nmin_rows = 2");
  const QueryResult r2 = Release(any, Partials(any, f.tables));
  EXPECT_FALSE(r2.groups[0].suppressed);
  EXPECT_EQ(r2.groups[0].value, 3.0);
}

TEST(SuppressionTest, SuppressionUsesNoisyCountsAndStillCatchesOnePartyGroups) {
  // 1000 rows of "solo" at one party, none elsewhere; 1000 of "shared" at each: with noise, over
  // many seeds "solo" is always suppressed (parties) and "shared" always released.
  std::vector<Table> tables;
  for (int p = 0; p < 3; ++p) {
    std::vector<std::vector<std::string>> rows;
    for (int i = 0; i < 1000; ++i) {
      rows.push_back({"shared", "1"});
      if (p == 0) rows.push_back({"solo", "1"});
    }
    tables.push_back(MakeTable("p.csv", {"g", "x"}, rows));
  }
  const QuerySpec s = ParseOne(R"([[queries]]
name = "q"
kind = "count"
group_by = "g"
groups = ["shared", "solo"]
epsilon = 1
min_rows = 50
min_parties = 2
max_tables_per_person = 1
)");
  const auto partials = Partials(s, tables);
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    const QueryResult r = Release(s, partials, seed);
    EXPECT_FALSE(r.groups[0].suppressed) << seed;
    EXPECT_TRUE(r.groups[1].suppressed) << seed;
    EXPECT_EQ(r.groups[1].suppressed_by, "parties") << seed;
  }
}

TEST(SuppressionTest, GroupsNearTheThresholdAreDecidedByTheNoisyCount) {
  // 50 rows against min_rows = 50: released about half the time, never deterministically.
  std::vector<std::vector<std::string>> rows(50, {"1"});
  const std::vector<Table> tables = {MakeTable("p.csv", {"x"}, rows)};
  const QuerySpec s = ParseOne("[[queries]]\nname = \"q\"\nkind = \"count\"\nepsilon = 1\nmin_rows = 50\n");
  int released = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) released += !Release(s, Partials(s, tables), seed, Accounting(1)).groups[0].suppressed;
  EXPECT_GT(released, 60);
  EXPECT_LT(released, 140);
}

// --- Noise calibration and accounting -----------------------------------------------------------

TEST(PlanTest, SensitivitiesFollowTheAdjacencyAndTablesPerPerson) {
  const QuerySpec s = ParseOne(R"([[queries]]
name = "v"
kind = "variance"
column = "x"
clamp = [-2, 10]
epsilon = 1
min_parties = 2
)");
  auto add = PlanQuery(s, Accounting(3));
  ASSERT_TRUE(add) << add.error().ToString();
  EXPECT_EQ(add->tables_per_person, 3u);
  ASSERT_EQ(add->statistics.size(), 4u);
  EXPECT_EQ(add->statistics[0].statistic, Statistic::kRows);
  EXPECT_DOUBLE_EQ(add->statistics[0].l2_sensitivity, 3.0);
  EXPECT_DOUBLE_EQ(add->statistics[1].l2_sensitivity, 30.0);    // R·M, M = 10
  EXPECT_DOUBLE_EQ(add->statistics[2].l2_sensitivity, 300.0);   // R·M²
  EXPECT_DOUBLE_EQ(add->statistics[3].l2_sensitivity, std::sqrt(3.0));
  AccountingOptions replace = Accounting(3);
  replace.adjacency = dp::Adjacency::kReplaceOne;
  auto rep = PlanQuery(s, replace);
  ASSERT_TRUE(rep);
  EXPECT_DOUBLE_EQ(rep->statistics[0].l2_sensitivity, 3.0 * std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(rep->statistics[1].l2_sensitivity, 3.0 * std::max(12.0, std::sqrt(2.0) * 10));
  EXPECT_DOUBLE_EQ(rep->statistics[2].l2_sensitivity, 3.0 * std::sqrt(2.0) * 100);
  EXPECT_DOUBLE_EQ(rep->statistics[3].l2_sensitivity, std::sqrt(6.0));
  // Equal shares: every statistic gets the same noise multiplier σ/Δ.
  for (const auto& n : add->statistics) {
    EXPECT_NEAR(n.stddev / n.l2_sensitivity, add->statistics[0].stddev / add->statistics[0].l2_sensitivity, 1e-12);
  }
  // An explicit R overrides num_parties; unset R with num_parties = 0 is an error.
  QuerySpec one = s;
  one.max_tables_per_person = 1;
  EXPECT_DOUBLE_EQ(PlanQuery(one, Accounting(3))->statistics[0].l2_sensitivity, 1.0);
  auto unknown = PlanQuery(s, Accounting(0));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("max_tables_per_person"), std::string::npos);
}

TEST(PlanTest, TheStatisticsOfEachKind) {
  auto stats = [](const std::string& fields) {
    std::vector<Statistic> out;
    auto plan = PlanQuery(ParseOne("[[queries]]\nname = \"q\"\nepsilon = 1\nmax_tables_per_person = 1\n" + fields), Accounting());
    EXPECT_TRUE(plan) << (plan ? "" : plan.error().ToString());
    if (plan) {
      for (const auto& n : plan->statistics) out.push_back(n.statistic);
    }
    return out;
  };
  using S = Statistic;
  EXPECT_EQ(stats("kind = \"count\""), (std::vector<S>{S::kRows}));
  EXPECT_EQ(stats("kind = \"sum\"\ncolumn = \"x\"\nclamp = [0, 1]"), (std::vector<S>{S::kRows, S::kSum}));
  EXPECT_EQ(stats("kind = \"mean\"\ncolumn = \"x\"\nclamp = [0, 1]\nmin_parties = 3"),
            (std::vector<S>{S::kRows, S::kSum, S::kPartyRows}));
  EXPECT_EQ(stats("kind = \"histogram\"\ncolumn = \"x\"\nbins = [0, 1]"), (std::vector<S>{S::kCells}));
  EXPECT_EQ(stats("kind = \"quantiles\"\ncolumn = \"x\"\nbins = [0, 1]\nquantiles = [0.5]"), (std::vector<S>{S::kCells}));
}

TEST(PlanTest, TheEpsilonAQueryChargesIsTheLedgersAccounting) {
  const QuerySpec s = ParseOne(R"([[queries]]
name = "m"
kind = "mean"
column = "x"
clamp = [0, 1]
epsilon = 0.5
min_parties = 2
)");
  dp::LedgerOptions lo;
  lo.epsilon_budget = 2.0;
  lo.delta = 1e-6;
  auto ledger = dp::PrivacyLedger::Create(lo);
  ASSERT_TRUE(ledger);
  auto plan = PlanQuery(s, AccountingOptions::ForLedger(lo, 3));
  ASSERT_TRUE(plan) << plan.error().ToString();
  ASSERT_EQ(plan->steps.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plan->steps[i].mechanism, dp::Mechanism::kGaussian);
    EXPECT_DOUBLE_EQ(plan->steps[i].noise_multiplier, plan->statistics[i].stddev / plan->statistics[i].l2_sensitivity);
  }
  EXPECT_LE(plan->epsilon, 0.5);
  EXPECT_GT(plan->epsilon, 0.5 * (1 - 1e-6));

  // Charged on a fresh ledger: the ledger reports exactly the plan's ε.
  auto before = EpsilonIfQueryAdded(*ledger, *plan);
  ASSERT_TRUE(before);
  ASSERT_TRUE(ChargeQuery(*ledger, *plan));
  EXPECT_EQ(ledger->epsilon_spent(), plan->epsilon);
  EXPECT_EQ(*before, plan->epsilon);
  // Three Gaussian releases with one noise multiplier (equal shares).
  std::uint64_t releases = 0;
  for (const auto& step : ledger->history()) {
    releases += step.count;
    EXPECT_NEAR(step.noise_multiplier, plan->steps[0].noise_multiplier, 1e-12);
  }
  EXPECT_EQ(releases, 3u);

  // A second charge: EpsilonIfQueryAdded predicts the ledger exactly; RDP composes sub-additively.
  auto predicted = EpsilonIfQueryAdded(*ledger, *plan);
  ASSERT_TRUE(predicted);
  ASSERT_TRUE(ChargeQuery(*ledger, *plan));
  EXPECT_EQ(ledger->epsilon_spent(), *predicted);
  EXPECT_LT(ledger->epsilon_spent(), 2 * plan->epsilon);

  // Charging until the budget is exceeded: refused, ledger unchanged.
  for (int i = 0; i < 100 && ChargeQuery(*ledger, *plan); ++i) {
  }
  const double spent = ledger->epsilon_spent();
  const auto entries = ledger->history();
  auto refused = ChargeQuery(*ledger, *plan);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.error().message().find("query 'm'"), std::string::npos);
  EXPECT_EQ(ledger->epsilon_spent(), spent);
  EXPECT_EQ(ledger->history().size(), entries.size());
  EXPECT_EQ(ledger->history().back().count, entries.back().count);
  EXPECT_LE(spent, 2.0);
}

TEST(PlanTest, ExactPlansCannotBeCharged) {
  QuerySpec s = ParseOne("[[queries]]\nname = \"c\"\nkind = \"count\"\nnoise = false\n");
  auto plan = PlanQuery(s, Accounting());
  ASSERT_TRUE(plan);
  EXPECT_TRUE(std::isinf(plan->epsilon));
  dp::LedgerOptions lo;
  lo.epsilon_budget = 1000;
  lo.delta = 1e-5;
  auto ledger = dp::PrivacyLedger::Create(lo);
  ASSERT_TRUE(ledger);
  auto st = ChargeQuery(*ledger, *plan);
  ASSERT_FALSE(st);
  EXPECT_EQ(ledger->epsilon_spent(), 0.0);
}

TEST(PlanTest, AccountingMustMatchTheLedger) {
  const QuerySpec s = ParseOne("[[queries]]\nname = \"c\"\nkind = \"count\"\nepsilon = 1\n");
  dp::LedgerOptions lo;
  lo.epsilon_budget = 10;
  lo.delta = 1e-5;
  auto ledger = dp::PrivacyLedger::Create(lo);
  ASSERT_TRUE(ledger);
  AccountingOptions other = AccountingOptions::ForLedger(lo, 3);
  other.delta = 1e-6;
  auto plan = PlanQuery(s, other);
  ASSERT_TRUE(plan);
  auto st = ChargeQuery(*ledger, *plan);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(EpsilonIfQueryAdded(*ledger, *plan));
}

TEST(PlanTest, EpsilonBelowWhatTheOrdersGridCanExpressIsRefused) {
  // With orders up to 63 and δ = 1e-5, ε below about 0.103 is not expressible; up to 512, 0.0084.
  const QuerySpec s = ParseOne("[[queries]]\nname = \"tiny\"\nkind = \"count\"\nepsilon = 0.05\n");
  auto plan = PlanQuery(s, Accounting());
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code(), ErrorCode::kOutOfRange);
  EXPECT_NE(plan.error().message().find("orders grid"), std::string::npos) << plan.error().message();
  AccountingOptions big = Accounting();
  big.orders = dp::TfPrivacyOrders();  // up to 512
  EXPECT_TRUE(PlanQuery(s, big));
}

TEST(NoiseTest, ReleasedCountsHaveThePlannedStddev) {
  std::vector<std::vector<std::string>> rows(1000, {"1"});
  const std::vector<Table> tables = {MakeTable("p.csv", {"x"}, rows)};
  const QuerySpec s = ParseOne("[[queries]]\nname = \"q\"\nkind = \"sum\"\ncolumn = \"x\"\nclamp = [0, 1]\nepsilon = 1\n");
  auto plan = PlanQuery(s, Accounting(1));
  ASSERT_TRUE(plan);
  const double sd = plan->statistics[1].stddev;
  const auto partials = Partials(s, tables);
  dp::testing::SeededRandomSource rng(99);
  double m1 = 0, m2 = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    auto r = CombineAndRelease(*plan, partials, rng);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->groups[0].stddev, sd);
    const double e = r->groups[0].value - 1000.0;
    m1 += e;
    m2 += e * e;
  }
  m1 /= n;
  const double sample_sd = std::sqrt(m2 / n - m1 * m1);
  EXPECT_NEAR(m1, 0.0, 4 * sd / std::sqrt(n));
  EXPECT_NEAR(sample_sd, sd, 0.06 * sd);
}

// --- Input checks -------------------------------------------------------------------------------

TEST(CombineTest, RejectsBadPartialSets) {
  const Federation f = MakeFederation(15);
  const QuerySpec s = Spec("kind = \"count\"");
  auto partials = Partials(s, f.tables);
  dp::testing::SeededRandomSource rng(1);

  auto none = CombineAndRelease(s, {}, Accounting(), rng);
  ASSERT_FALSE(none);

  auto dup = partials;
  dup[1].party_id = dup[0].party_id;
  auto d = CombineAndRelease(s, dup, Accounting(), rng);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("two partials from party 'party-0'"), std::string::npos) << d.error().message();

  auto bad = partials;
  bad[2].partial.groups[0].rows = kMaxPartialRows + 1;
  auto b = CombineAndRelease(s, bad, Accounting(), rng);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("party 'party-2'"), std::string::npos) << b.error().message();

  // More partials than the federation's parties while R defaults to num_parties.
  auto over = CombineAndRelease(s, partials, Accounting(2), rng);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cairn::analytics
