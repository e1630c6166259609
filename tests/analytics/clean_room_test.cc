// The clean-room example in process: three generated banks, the example's federation.toml, each
// bank's policy check and partial (through the wire form), the enclave's release and the ledger,
// compared with the exact pooled answers and the generator's population truth. Stands in for the
// multi-process run (examples/clean-room/run.sh) until the protocol carries analytics.
#include <gtest/gtest.h>

#include <cmath>

#include "common/analytics/output.h"
#include "common/analytics/party_policy.h"
#include "common/analytics/release.h"
#include "examples/clean-room/evaluate.h"
#include "examples/clean-room/generator.h"
#include "tests/analytics/test_util.h"
#include "tests/dp/seeded_random_source.h"

namespace cairn::cleanroom {
namespace {

using namespace cairn::analytics;

std::vector<Table> Tables(const std::vector<BankTable>& banks) {
  std::vector<Table> out;
  for (const auto& b : banks) out.push_back(testing::MakeTable(b.name + ".csv", b.header, b.rows));
  return out;
}

const GroupResult* Group(const QueryResult& r, const std::string& g) {
  for (const auto& x : r.groups) {
    if (x.group == g) return &x;
  }
  return nullptr;
}

TEST(CleanRoomGeneratorTest, IsDeterministicAndShaped) {
  GeneratorOptions o;
  o.seed = 3;
  o.scale = 0.05;
  const auto a = GenerateBanks(o);
  const auto b = GenerateBanks(o);
  ASSERT_EQ(a.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a[i].rows, b[i].rows);
    EXPECT_EQ(a[i].header, (std::vector<std::string>{"transaction_id", "merchant_category", "amount", "country",
                                                      "channel", "is_fraud"}));
  }
  EXPECT_EQ(a[0].rows.size(), 2000u);
  EXPECT_EQ(a[1].rows.size(), 1250u);
  EXPECT_EQ(a[2].rows.size(), 750u);
  o.seed = 4;
  EXPECT_NE(GenerateBanks(o)[0].rows, a[0].rows);
  // crypto only at bank-3.
  for (std::size_t i = 0; i < 2; ++i) {
    for (const auto& r : a[i].rows) EXPECT_NE(r[1], "crypto");
  }
}

TEST(CleanRoomGeneratorTest, TruthFileCarriesExactAnswers) {
  GeneratorOptions o;
  o.scale = 0.02;
  const auto banks = GenerateBanks(o);
  const QuerySpec s = testing::ParseOne("[[queries]]\nname = \"n\"\nkind = \"count\"\nepsilon = 1\n");
  auto exact = ExactAnswers({s}, Tables(banks));
  ASSERT_TRUE(exact) << exact.error().ToString();
  const double total = static_cast<double>(banks[0].rows.size() + banks[1].rows.size() + banks[2].rows.size());
  EXPECT_EQ((*exact)[0].groups[0].value, total);
  EXPECT_FALSE((*exact)[0].noise);
  const std::string truth = GroundTruthJson(o, banks, &*exact);
  auto back = ExactResultsFromTruth(truth);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(ResultsToJson(*back), ResultsToJson(*exact));
  auto none = ExactResultsFromTruth(GroundTruthJson(o, banks, nullptr));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
}

TEST(CleanRoomTest, ThreeBanksEndToEndAgainstGroundTruth) {
  const auto config = testing::SourceDir() / "examples/clean-room/federation.toml";
  auto root = TomlReader::ParseFile(config);
  ASSERT_TRUE(root) << root.error().ToString();
  auto specs = ParseQueries(*root);
  ASSERT_TRUE(specs) << specs.error().ToString();
  ASSERT_EQ(specs->size(), 6u);
  auto privacy = root->Table("privacy");
  ASSERT_TRUE(privacy && *privacy);
  dp::LedgerOptions lo;
  ASSERT_TRUE((*privacy)->Require("epsilon_budget", lo.epsilon_budget));
  ASSERT_TRUE((*privacy)->Require("delta", lo.delta));
  auto ledger = dp::PrivacyLedger::Create(lo);
  ASSERT_TRUE(ledger);
  const AccountingOptions accounting = AccountingOptions::ForLedger(lo, 3);

  GeneratorOptions o;
  o.seed = 7;
  o.scale = 0.5;
  const auto banks = GenerateBanks(o);
  const auto tables = Tables(banks);
  auto exact = ExactAnswers(*specs, tables);
  ASSERT_TRUE(exact) << exact.error().ToString();

  PartyPolicy policy;
  policy.allowed_columns = {"merchant_category", "amount", "country", "channel", "is_fraud"};
  policy.allowed_kinds = {QueryKind::kCount, QueryKind::kMean, QueryKind::kVariance, QueryKind::kHistogram,
                          QueryKind::kQuantiles};
  policy.min_rows_at_least = 50;
  policy.min_parties_at_least = 2;

  dp::testing::SeededRandomSource rng(2024);
  std::vector<QueryResult> released;
  for (const QuerySpec& spec : *specs) {
    // Participant side: policy, partial, wire bytes.
    std::vector<PartyPartial> partials;
    for (std::size_t b = 0; b < tables.size(); ++b) {
      ASSERT_TRUE(CheckQueryAllowed(spec, policy)) << spec.name;
      auto partial = ComputePartial(spec, tables[b]);
      ASSERT_TRUE(partial) << partial.error().ToString();
      auto bytes = EncodePartial(*partial);
      ASSERT_TRUE(bytes) << bytes.error().ToString();
      EXPECT_LE(bytes->size(), kMaxPartialBytes);
      // Enclave side: decode, validate, combine.
      auto decoded = DecodePartial(*bytes);
      ASSERT_TRUE(decoded) << decoded.error().ToString();
      ASSERT_TRUE(ValidatePartial(*decoded, spec));
      partials.push_back({banks[b].name, std::move(*decoded)});
    }
    auto plan = PlanQuery(spec, accounting);
    ASSERT_TRUE(plan) << plan.error().ToString();
    auto would = EpsilonIfQueryAdded(*ledger, *plan);
    ASSERT_TRUE(would);
    ASSERT_LE(*would, lo.epsilon_budget) << spec.name;
    auto result = CombineAndRelease(*plan, partials, rng);
    ASSERT_TRUE(result) << result.error().ToString();
    ASSERT_TRUE(ChargeQuery(*ledger, *plan)) << spec.name;
    EXPECT_EQ(ledger->epsilon_spent(), *would);
    released.push_back(std::move(*result));
  }
  ASSERT_EQ(released.size(), exact->size());

  // Every unsuppressed answer lies within 6 noise stddevs of the exact pooled answer.
  for (std::size_t q = 0; q < released.size(); ++q) {
    const QueryResult& dp = released[q];
    const QueryResult& ex = (*exact)[q];
    ASSERT_EQ(dp.query, ex.query);
    for (std::size_t g = 0; g < dp.groups.size(); ++g) {
      const GroupResult& d = dp.groups[g];
      const GroupResult& e = ex.groups[g];
      if (d.suppressed || e.suppressed) continue;
      SCOPED_TRACE(dp.query + " / " + d.group);
      if (dp.kind == QueryKind::kHistogram) {
        for (std::size_t c = 0; c < d.values.size(); ++c) EXPECT_NEAR(d.values[c], e.values[c], 6 * d.stddev + 0.5);
      } else if (dp.kind == QueryKind::kQuantiles) {
        for (std::size_t k = 0; k < d.values.size(); ++k) EXPECT_NEAR(d.values[k], e.values[k], 0.1 * e.values[k]);
      } else {
        EXPECT_GT(d.stddev, 0.0);
        EXPECT_NEAR(d.value, e.value, 6 * d.stddev + 0.5 * (dp.kind == QueryKind::kCount));
      }
      // Histogram kinds: rows = Σ noisy cells, noise √cells · σ.
      const double cells = static_cast<double>(std::max<std::size_t>(1, (*specs)[q].num_cells()));
      EXPECT_NEAR(d.rows, e.rows, 6 * dp.statistics[0].stddev * std::sqrt(cells) + 1);
    }
  }

  // Suppression: crypto exists at one bank only (parties), gambling has a handful of rows (rows),
  // nobody has US transactions.
  const QueryResult& fraud = released[0];
  ASSERT_EQ(fraud.query, "fraud_rate_by_category");
  ASSERT_TRUE(Group(fraud, "crypto") && Group(fraud, "gambling"));
  EXPECT_TRUE(Group(fraud, "crypto")->suppressed);
  EXPECT_EQ(Group(fraud, "crypto")->suppressed_by, "parties");
  EXPECT_TRUE(Group(fraud, "gambling")->suppressed);
  EXPECT_NE(Group(fraud, "gambling")->suppressed_by.find("rows"), std::string::npos);
  ASSERT_TRUE(Group(released[5], "US"));
  EXPECT_TRUE(Group(released[5], "US")->suppressed);

  // The fraud rates estimate the generator's population rates: sampling error plus noise.
  for (const auto& c : Categories()) {
    const GroupResult* g = Group(fraud, c.name);
    ASSERT_TRUE(g) << c.name;
    if (g->suppressed) continue;
    const double sampling = std::sqrt(c.fraud_rate * (1 - c.fraud_rate) / g->rows);
    EXPECT_NEAR(g->value, c.fraud_rate, 5 * sampling + 6 * g->stddev) << c.name;
  }

  // The evaluator's summary over the same answers.
  auto ev = Evaluate(released, *exact);
  ASSERT_TRUE(ev) << ev.error().ToString();
  EXPECT_EQ(ev->queries, 6u);
  EXPECT_GT(ev->answers.size(), 20u);
  EXPECT_LT(ev->max_relative_error, 1.0);
  const std::string text = FormatEvaluation(*ev, released);
  EXPECT_NE(text.find("\nanalytics: 6 queries, max relative error "), std::string::npos) << text;
  EXPECT_LE(ledger->epsilon_spent(), lo.epsilon_budget);
  EXPECT_GT(ledger->epsilon_spent(), 1.0);
}

TEST(CleanRoomEvaluateTest, ComparesMatchingAnswersAndRefusesMismatches) {
  QueryResult dp;
  dp.query = "c";
  dp.kind = QueryKind::kCount;
  GroupResult a;
  a.group = "a";
  a.value = 12;
  GroupResult z;
  z.group = "z";
  z.value = 3;
  dp.groups = {a, z};
  QueryResult exact = dp;
  exact.groups[0].value = 10;
  exact.groups[1].value = 0;  // a true zero has no relative error
  auto ev = Evaluate({dp}, {exact});
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->answers.size(), 2u);
  EXPECT_DOUBLE_EQ(ev->answers[0].relative_error, 0.2);
  EXPECT_TRUE(std::isnan(ev->answers[1].relative_error));
  EXPECT_EQ(ev->zero_exact, 1u);
  EXPECT_DOUBLE_EQ(ev->max_relative_error, 0.2);
  const std::string text = FormatEvaluation(*ev, {dp});
  EXPECT_NE(text.find("(true 0)"), std::string::npos) << text;
  EXPECT_NE(text.find("analytics: 1 queries, max relative error 0.2\n"), std::string::npos) << text;

  exact.groups[1].suppressed = true;
  ev = Evaluate({dp}, {exact});
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->answers.size(), 1u);
  EXPECT_EQ(ev->suppression_differs, 1u);
  EXPECT_EQ(ev->zero_exact, 0u);

  QueryResult other = exact;
  other.query = "other";
  EXPECT_FALSE(Evaluate({dp}, {other}));
  other = exact;
  other.groups[0].group = "b";
  EXPECT_FALSE(Evaluate({dp}, {other}));
}

}  // namespace
}  // namespace cairn::cleanroom
