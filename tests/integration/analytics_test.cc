// Clean-room analytics end to end (issue 9): the federation's [[queries]] run over the parties'
// tables through attestation, the Curve channel, the enclave's ledger and a signed result.
//   - real binaries (aggregator + 3 participants on loopback, readiness lines, no sleeps), noise
//     off: every released answer equals the answer on the pooled rows; small groups are
//     suppressed (rows and parties); a query one party's policy forbids is refused by it, with
//     its reason, and runs over the others; every party receives the same answers, checked
//     against the enclave's signed digest;
//   - with noise: ε charged to the ledger (equal to the plans' composition), a query the budget
//     cannot pay for is skipped, the answers lie near the exact ones;
//   - a malformed partial and a partial for a query that was not asked are rejected with a
//     reason, and the job goes on with the others;
//   - malformed query specs are rejected at load, naming file, query and field.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "common/analytics/output.h"
#include "common/analytics/partial.h"
#include "common/analytics/release.h"
#include "common/analytics/table.h"
#include "common/core/toml_reader.h"
#include "common/crypto/crypto.h"
#include "common/dp/random_source.h"
#include "participant/keys.h"
#include "participant/synthetic_workload.h"
#include "participant/analytics_session.h"
#include "protocol/analytics_message.h"
#include "protocol/federation_config.h"
#include "protocol/round_result.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BinDir;
using testing::ReadFile;
using testing::Subprocess;

const std::vector<std::string> kHeader = {"region", "branch", "amount", "flag", "secret"};

// Party i's rows: deterministic, different sizes and mixes per party. "tiny" has 2 rows (below
// min_rows = 5); branch "solo" exists only at party 0 (below min_parties = 2).
std::vector<std::vector<std::string>> PartyRows(int party) {
  std::vector<std::vector<std::string>> rows;
  int n = 40 + 15 * party;
  for (int r = 0; r < n; ++r) {
    std::string region = (r + party) % 3 == 0 ? "south" : "north";
    std::string branch = party == 0 && r % 4 == 0 ? "solo" : "shared";
    double amount = std::fmod(3.5 * r + 11.25 * party + 0.5, 120.0);  // some above the clamp
    std::string flag = (r + 2 * party) % 5 == 0 ? "1" : "0";
    rows.push_back({region, branch, analytics::FormatNumber(amount), flag, std::to_string(1000 + r)});
  }
  if (party == 0) {
    rows.push_back({"tiny", "shared", "5", "0", "1"});
    rows.push_back({"tiny", "shared", "7", "1", "2"});
  }
  return rows;
}

std::string Csv(const std::vector<std::vector<std::string>>& rows) {
  std::string out = "region,branch,amount,flag,secret\n";
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + r[i];
    out += "\n";
  }
  return out;
}

const char* kExactQueries = R"(
[[queries]]
name = "count_by_region"
kind = "count"
group_by = "region"
groups = ["north", "south", "tiny"]
noise = false
min_rows = 5

[[queries]]
name = "sum_amount"
kind = "sum"
column = "amount"
clamp = [0.0, 100.0]
noise = false

[[queries]]
name = "mean_amount_by_region"
kind = "mean"
column = "amount"
group_by = "region"
groups = ["north", "south", "tiny"]
where = [ { column = "amount", op = ">=", value = 10.0 } ]
clamp = [0.0, 100.0]
noise = false
min_rows = 5

[[queries]]
name = "amount_variance"
kind = "variance"
column = "amount"
clamp = [0.0, 100.0]
noise = false

[[queries]]
name = "amount_histogram"
kind = "histogram"
column = "amount"
bins = [0, 25, 50, 75, 100]
noise = false

[[queries]]
name = "amount_quantiles"
kind = "quantiles"
column = "amount"
quantiles = [0.5, 0.9]
bins = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]
noise = false

[[queries]]
name = "flag_rate"
kind = "mean"
column = "flag"
clamp = [0.0, 1.0]
noise = false

[[queries]]
name = "count_by_branch"
kind = "count"
group_by = "branch"
groups = ["shared", "solo"]
min_parties = 2
noise = false
)";

std::string PartyPolicy(int party, bool exact) {
  // Party 2 does not let the federation read its 'flag' column.
  std::string columns = party == 2 ? R"(["region", "branch", "amount"])" : R"(["region", "branch", "amount", "flag"])";
  return "allowed_columns = " + columns +
         "\nallowed_kinds = [\"count\", \"sum\", \"mean\", \"variance\", \"histogram\", \"quantiles\"]\n"
         "min_rows_at_least = 1\nmax_epsilon_per_query = 1.0\nallow_exact = " + (exact ? "true" : "false") + "\n";
}

class AnalyticsTest : public ::testing::Test {
 protected:
  std::unique_ptr<testing::TestFederation> MakeFederation(const std::string& name, const std::string& extra_federation,
                                                          const std::string& queries) {
    testing::FederationSpec spec;
    spec.body = "[federation]\nmode = \"analytics\"\nmin_participants = 3\nround_timeout_s = 60\ncohort_wait_s = 60\n" +
                extra_federation + "[privacy]\nepsilon_budget = 4.0\ndelta = 1e-5\n" + queries;
    auto fed = testing::TestFederation::Create(name, spec);
    if (!fed) return nullptr;
    for (int i = 0; i < 3; ++i) {
      std::ofstream(fed->dir() / ("p" + std::to_string(i) + ".csv")) << Csv(PartyRows(i));
    }
    return fed;
  }

  // Runs the three parties against an aggregator that cannot write the state file `blocked`: each
  // is told why and fails, the aggregator withholds the release, and no answers are anywhere.
  void ExpectReleaseWithheld(testing::TestFederation& fed, const std::string& blocked) {
    ASSERT_TRUE(fed.StartAggregator([&](aggregator::RoundEngine&) {
      // A non-empty directory where the file goes defeats its write, even for root.
      std::filesystem::create_directories(fed.state_dir() / blocked / "blocker");
    }));
    std::vector<participant::AnalyticsOnlyWorkload> workloads(3);
    std::vector<std::future<Status>> runs;
    for (int i = 0; i < 3; ++i) runs.push_back(fed.RunParticipant(i, workloads[i], Options(fed, i, /*exact=*/false)));
    for (auto& r : runs) {
      auto s = r.get();
      ASSERT_FALSE(s);
      EXPECT_NE(s.error().message().find("could not be written"), std::string::npos) << s.error().message();
    }
    auto outcome = fed.JoinAggregator();
    ASSERT_FALSE(outcome);
    EXPECT_NE(outcome.error().message().find("its result is withheld"), std::string::npos) << outcome.error().message();
    EXPECT_FALSE(std::filesystem::exists(fed.state_dir() / "analytics.json"));
    EXPECT_FALSE(std::filesystem::exists(fed.state_dir() / "analytics.csv"));
    for (int i = 0; i < 3; ++i) {
      EXPECT_FALSE(std::filesystem::exists(fed.dir() / ("state-p" + std::to_string(i)) / "analytics.json")) << i;
    }
  }

  // A federation whose release was withheld (results.jsonl could not be written), restarted once
  // the disk is fixed: the aggregator is serving, in the delivery phase. Null on a failure.
  std::unique_ptr<testing::TestFederation> WithheldReleaseRestarted(const std::string& name,
                                                                    const std::string& queries) {
    auto fed = MakeFederation(name, "", queries);
    if (!fed) return nullptr;
    ExpectReleaseWithheld(*fed, "results.jsonl");
    if (HasFatalFailure()) return nullptr;
    std::filesystem::remove_all(fed->state_dir() / "results.jsonl");
    if (!fed->StartAggregator()) return nullptr;
    return fed;
  }

  participant::ClientOptions Options(testing::TestFederation& fed, int i, bool exact) {
    auto o = fed.ClientOptions(i);
    participant::AnalyticsConfig a;
    a.table = fed.dir() / ("p" + std::to_string(i) + ".csv");
    auto reader = TomlReader::ParseString(PartyPolicy(i, exact), "policy");
    EXPECT_TRUE(reader);
    auto policy = analytics::ParsePartyPolicy(*reader);
    EXPECT_TRUE(policy) << policy.error().message();
    a.policy = *policy;
    o.config.analytics = a;
    return o;
  }
};

// The answer on the pooled rows of `parties`, as one party holding them all would get it.
analytics::QueryResult Pooled(const analytics::QuerySpec& spec, const std::vector<int>& parties) {
  std::vector<std::vector<std::string>> rows;
  for (int p : parties) {
    auto r = PartyRows(p);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  auto table = analytics::Table::FromRows("pooled", kHeader, rows);
  EXPECT_TRUE(table);
  auto partial = analytics::ComputePartial(spec, *table);
  EXPECT_TRUE(partial) << partial.error().message();
  analytics::AccountingOptions acc;
  acc.num_parties = 3;
  auto rng = dp::SodiumRandomSource::Create();
  EXPECT_TRUE(rng);
  auto result = analytics::CombineAndRelease(spec, {{"pooled", *partial}}, acc, *rng);
  EXPECT_TRUE(result) << result.error().message();
  return *result;
}

void ExpectNear(double actual, double expected, const std::string& what) {
  EXPECT_NEAR(actual, expected, 1e-9 * std::max(1.0, std::fabs(expected))) << what;
}

const analytics::QueryResult* Find(const std::vector<analytics::QueryResult>& results, const std::string& name) {
  for (const auto& r : results) {
    if (r.query == name) return &r;
  }
  return nullptr;
}

TEST_F(AnalyticsTest, RealBinariesExactAnswersEqualPooledDataWithSuppressionAndRefusal) {
  if (!std::filesystem::exists(BinDir() / "cairn-participant")) GTEST_SKIP() << "no cairn-participant binary";
  auto fed = MakeFederation("analytics-bin", "", kExactQueries);
  ASSERT_TRUE(fed);
  const auto& dir = fed->dir();
  auto agg = Subprocess::Start({(BinDir() / "cairn-aggregator").string(), "run", "--config",
                                fed->federation_file().string(), "--attestation", "sim"},
                               dir / "aggregator.stderr", dir);
  auto ready = agg->WaitForLine("cairn-aggregator: ready", seconds(60));
  ASSERT_TRUE(ready) << ReadFile(dir / "aggregator.stderr");
  std::smatch m;
  std::regex re("attestation=(\\S+)");
  ASSERT_TRUE(std::regex_search(*ready, m, re));
  std::string endpoint = m[1];

  std::vector<std::unique_ptr<Subprocess>> parties;
  for (int i = 0; i < 3; ++i) {
    std::string id = "p" + std::to_string(i);
    std::ofstream(dir / (id + ".toml")) << "id = \"" << id << "\"\naggregator = \"tcp://127.0.0.1:1\"\nkey_file = \""
                                        << fed->key_file(i).string() << "\"\npolicy = \"" << fed->policy_file().string()
                                        << "\"\nstate_dir = \"state-" << id << "\"\n\n[analytics]\ntable = \"" << id
                                        << ".csv\"\n" << PartyPolicy(i, true);
    parties.push_back(Subprocess::Start({(BinDir() / "cairn-participant").string(), "run", "--config",
                                         (dir / (id + ".toml")).string(), "--aggregator", endpoint},
                                        dir / (id + ".stderr"), dir));
  }
  for (int i = 0; i < 3; ++i) {
    auto st = parties[i]->Wait(seconds(120));
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 0) << ReadFile(dir / ("p" + std::to_string(i) + ".stderr"));
  }
  auto st = agg->Wait(seconds(60));
  ASSERT_TRUE(st);
  ASSERT_EQ(*st, 0) << ReadFile(dir / "aggregator.stderr");

  // The aggregator printed the table and wrote JSON and CSV.
  EXPECT_NE(agg->output().find("count_by_region"), std::string::npos) << agg->output();
  EXPECT_NE(agg->output().find("8 of 8 queries released"), std::string::npos) << agg->output();
  auto state = fed->state_dir();
  std::string json = ReadFile(state / "analytics.json");
  auto results = analytics::ResultsFromJson(json);
  ASSERT_TRUE(results) << results.error().message();
  ASSERT_EQ(results->size(), 8u);
  EXPECT_NE(ReadFile(state / "analytics.csv").find("query,kind,group,statistic"), std::string::npos);

  // The signed result: detail carries SHA-256 of the JSON bytes; contributors are all three.
  auto chain = testing::ReadResults(state);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].detail, protocol::AnalyticsDigestDetail(json));
  EXPECT_TRUE(chain[0].final);
  EXPECT_EQ(chain[0].contributors, (std::vector<std::string>{"p0", "p1", "p2"}));

  // Every party received the same verified bytes; party 2 refused flag_rate with its reason.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ReadFile(dir / ("state-p" + std::to_string(i)) / "analytics.json"), json) << "party " << i;
  }
  EXPECT_NE(parties[2]->output().find("declined query 'flag_rate': column 'flag' is not in this party's allowed_columns"),
            std::string::npos)
      << parties[2]->output();
  EXPECT_EQ(parties[0]->output().find("declined"), std::string::npos) << parties[0]->output();
  EXPECT_NE(ReadFile(dir / "aggregator.stderr").find("analytics_declined"), std::string::npos);

  auto loaded = protocol::LoadFederationFile(fed->federation_file());
  ASSERT_TRUE(loaded);
  for (const auto& spec : loaded->federation.queries) {
    SCOPED_TRACE(spec.name);
    const analytics::QueryResult* got = Find(*results, spec.name);
    ASSERT_NE(got, nullptr);
    if (spec.name == "count_by_branch") {
      // min_parties = 2: "solo" (party 0 only) is suppressed; "shared" is the exact count.
      ASSERT_EQ(got->groups.size(), 2u);
      std::size_t shared = 0;
      for (int p = 0; p < 3; ++p)
        for (const auto& r : PartyRows(p)) shared += r[1] == "shared";
      EXPECT_FALSE(got->groups[0].suppressed);
      EXPECT_EQ(got->groups[0].value, static_cast<double>(shared));
      EXPECT_TRUE(got->groups[1].suppressed);
      EXPECT_EQ(got->groups[1].suppressed_by, "parties");
      EXPECT_TRUE(std::isnan(got->groups[1].value));
      continue;
    }
    bool refused_by_2 = spec.name == "flag_rate";
    EXPECT_EQ(got->parties, refused_by_2 ? 2u : 3u);
    analytics::QueryResult want = Pooled(spec, refused_by_2 ? std::vector<int>{0, 1} : std::vector<int>{0, 1, 2});
    ASSERT_EQ(got->groups.size(), want.groups.size());
    for (std::size_t g = 0; g < want.groups.size(); ++g) {
      const auto& a = got->groups[g];
      const auto& b = want.groups[g];
      std::string where = spec.name + " group " + b.group;
      EXPECT_EQ(a.suppressed, b.suppressed) << where;
      EXPECT_EQ(a.suppressed_by, b.suppressed_by) << where;
      if (b.suppressed) continue;
      EXPECT_EQ(a.rows, b.rows) << where;
      if (std::isnan(b.value)) {
        EXPECT_TRUE(std::isnan(a.value)) << where;
      } else {
        ExpectNear(a.value, b.value, where);
      }
      ASSERT_EQ(a.values.size(), b.values.size()) << where;
      for (std::size_t k = 0; k < b.values.size(); ++k) ExpectNear(a.values[k], b.values[k], where);
    }
  }
  // Small groups: "tiny" (2 rows) suppressed by min_rows in both grouped queries.
  const auto* counts = Find(*results, "count_by_region");
  ASSERT_NE(counts, nullptr);
  EXPECT_TRUE(counts->groups[2].suppressed);
  EXPECT_EQ(counts->groups[2].suppressed_by, "rows");
  EXPECT_FALSE(counts->groups[0].suppressed);
}

// A noisy mean (ε = 1) over the parties' amounts.
const char* kNoisyMeanQuery = R"(
[[queries]]
name = "mean_amount"
kind = "mean"
column = "amount"
clamp = [0.0, 100.0]
epsilon = 1.0
max_tables_per_person = 1
)";

TEST_F(AnalyticsTest, EpsilonChargedToTheLedgerAndOverspendingQuerySkipped) {
  std::string queries = std::string(kNoisyMeanQuery) + R"(
[[queries]]
name = "count_by_region"
kind = "count"
group_by = "region"
groups = ["north", "south"]
epsilon = 1.0
max_tables_per_person = 1
)";
  auto fed = MakeFederation("analytics-eps", "", "");
  ASSERT_TRUE(fed);
  // Budget 1.2: the first query (ε = 1) fits, the second would take the composition past it.
  std::string text = ReadFile(fed->federation_file());
  text.replace(text.find("epsilon_budget = 4.0"), 20, "epsilon_budget = 1.2");
  text.replace(text.find("\n[[participants]]"), 0, queries);
  std::ofstream(fed->federation_file()) << text;
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<participant::AnalyticsOnlyWorkload> workloads(3);
  std::vector<std::vector<protocol::RoundResult>> seen(3);
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 3; ++i) {
    auto o = Options(*fed, i, /*exact=*/false);
    o.on_result = [&seen, i](const protocol::RoundResult& r) { seen[i].push_back(r); };
    runs.push_back(fed->RunParticipant(i, workloads[i], std::move(o)));
  }
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().message();
  }
  auto outcome = fed->JoinAggregator();
  ASSERT_TRUE(outcome) << outcome.error().message();

  auto loaded = protocol::LoadFederationFile(fed->federation_file());
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->federation.queries.size(), 2u);
  dp::LedgerOptions lo;
  lo.epsilon_budget = 1.2;
  lo.delta = 1e-5;
  auto ledger = dp::PrivacyLedger::Create(lo);
  ASSERT_TRUE(ledger);
  auto plan = analytics::PlanQuery(loaded->federation.queries[0], analytics::AccountingOptions::ForLedger(lo, 3));
  ASSERT_TRUE(plan);
  ASSERT_TRUE(analytics::ChargeQuery(*ledger, *plan));
  auto second = analytics::PlanQuery(loaded->federation.queries[1], analytics::AccountingOptions::ForLedger(lo, 3));
  ASSERT_TRUE(second);
  auto would_be = analytics::EpsilonIfQueryAdded(*ledger, *second);
  ASSERT_TRUE(would_be);
  EXPECT_GT(*would_be, 1.2);  // the premise of the skip

  auto chain = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_NEAR(chain[0].epsilon_spent, ledger->epsilon_spent(), 1e-9);
  EXPECT_GT(chain[0].epsilon_spent, 0.9);
  EXPECT_LE(chain[0].epsilon_spent, 1.0 + 1e-9);
  EXPECT_DOUBLE_EQ(chain[0].delta, 1e-5);
  bool metric = false;
  for (const auto& mt : chain[0].metrics) {
    if (mt.name == "analytics_epsilon") {
      metric = true;
      EXPECT_NEAR(mt.value, ledger->epsilon_spent(), 1e-9);
    }
    if (mt.name == "analytics_released") {
      EXPECT_EQ(mt.value, 1.0);
    }
  }
  EXPECT_TRUE(metric);
  std::string json = ReadFile(fed->state_dir() / "analytics.json");
  auto results = analytics::ResultsFromJson(json);
  ASSERT_TRUE(results);
  ASSERT_EQ(results->size(), 1u);
  EXPECT_EQ((*results)[0].query, "mean_amount");
  EXPECT_NEAR((*results)[0].epsilon, plan->epsilon, 1e-12);
  // The noisy mean lies near the exact one (6 σ).
  analytics::QuerySpec exact = loaded->federation.queries[0];
  exact.noise = false;
  exact.epsilon = 0;
  auto want = Pooled(exact, {0, 1, 2});
  const auto& g = (*results)[0].groups[0];
  ASSERT_FALSE(g.suppressed);
  EXPECT_NEAR(g.value, want.groups[0].value, 6 * g.stddev + 1e-6);
  EXPECT_NE(g.value, want.groups[0].value);  // noise was added
  // The charge is in the checkpoint: a restarted aggregator has the job done and the same ledger,
  // and writes the outputs again from it (here they were lost after the release).
  std::string csv = ReadFile(fed->state_dir() / "analytics.csv");
  ASSERT_FALSE(csv.empty());
  std::filesystem::remove(fed->state_dir() / "analytics.json");
  std::filesystem::remove(fed->state_dir() / "analytics.csv");
  ASSERT_TRUE(fed->StartAggregator());
  EXPECT_EQ(ReadFile(fed->state_dir() / "analytics.json"), json);
  EXPECT_EQ(ReadFile(fed->state_dir() / "analytics.csv"), csv);
  EXPECT_EQ(fed->app().state().analytics_round, 1u);
  EXPECT_TRUE(fed->app().engine().done());
  auto saved = nlohmann::json::parse(AsChars(fed->app().state().privacy_state));
  auto restored = dp::PrivacyLedger::FromJson(saved.at("ledger").get<std::string>());
  ASSERT_TRUE(restored);
  EXPECT_NEAR(restored->epsilon_spent(), ledger->epsilon_spent(), 1e-12);
  EXPECT_TRUE(fed->JoinAggregator());
  // Every participant verified the signed result and received the same answers.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(seen[i].size(), 1u);
    EXPECT_EQ(seen[i][0].detail, protocol::AnalyticsDigestDetail(json));
    EXPECT_EQ(ReadFile(fed->dir() / ("state-p" + std::to_string(i)) / "analytics.json"), json);
  }
}

// The ledger charge must be durable before any answer leaves: with a checkpoint that cannot be
// written, nothing is released (no analytics.json on the aggregator's disk nor at any party, no
// signed result) and the parties are told why.
TEST_F(AnalyticsTest, NothingIsReleasedWhenTheLedgerChargeCannotBeCheckpointed) {
  auto fed = MakeFederation("analytics-ckpt", "", kNoisyMeanQuery);
  ASSERT_TRUE(fed);
  ExpectReleaseWithheld(*fed, "checkpoint.sealed");
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_TRUE(testing::ReadResults(fed->state_dir()).empty());
}

// The release's results.jsonl line cannot be written: the release is withheld (checkpointed, sent
// to nobody) and the federation stops. Once the disk is fixed, the restart does not stop at once
// as a finished federation would: it hands the same signed result and answers to each party that
// comes back, which verifies them as usual, and ends when all have them.
TEST_F(AnalyticsTest, ReleaseWithheldForItsLogLineIsDeliveredByTheRestart) {
  // Once the disk is fixed, the restart logs the release and waits for the parties.
  auto fed = WithheldReleaseRestarted("analytics-relog", kNoisyMeanQuery);
  ASSERT_TRUE(fed);
  EXPECT_FALSE(fed->app().engine().done());
  EXPECT_EQ(fed->app().engine().phase(), aggregator::RoundEngine::Phase::kDelivering);
  EXPECT_EQ(fed->app().engine().analytics_results().size(), 1u);  // what the aggregator prints
  auto chain = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].round, fed->app().state().analytics_round);
  std::string json = ReadFile(fed->state_dir() / "analytics.json");
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(chain[0].detail, protocol::AnalyticsDigestDetail(json));

  std::vector<participant::AnalyticsOnlyWorkload> workloads(3);
  std::vector<std::vector<protocol::RoundResult>> seen(3);
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 3; ++i) {
    auto o = Options(*fed, i, false);
    o.on_result = [&seen, i](const protocol::RoundResult& r) { seen[i].push_back(r); };
    runs.push_back(fed->RunParticipant(i, workloads[i], std::move(o)));
  }
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().message();
  }
  auto delivered = fed->JoinAggregator();
  ASSERT_TRUE(delivered) << delivered.error().message();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(seen[i].size(), 1u) << i;
    EXPECT_EQ(protocol::ResultHash(seen[i][0]), protocol::ResultHash(chain[0])) << i;
    EXPECT_EQ(ReadFile(fed->dir() / ("state-p" + std::to_string(i)) / "analytics.json"), json) << i;
  }
  EXPECT_EQ(testing::ReadResults(fed->state_dir()).size(), 1u);  // nothing was signed again
}

// The same delivery, stopped (one signal) while a party has not come back: the aggregator ends
// with an error that says how many parties still lack the release; those that came have it.
TEST_F(AnalyticsTest, DeliveryStoppedEarlySaysHowManyPartiesLackTheRelease) {
  auto fed = WithheldReleaseRestarted("analytics-relstop", kNoisyMeanQuery);
  ASSERT_TRUE(fed);
  std::vector<participant::AnalyticsOnlyWorkload> workloads(2);
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 2; ++i) runs.push_back(fed->RunParticipant(i, workloads[i], Options(*fed, i, false)));
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().message();
  }
  fed->aggregator_stop = 1;
  auto outcome = fed->JoinAggregator();
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message().find("stopped on request before 1 of the 3 parties had the final result"),
            std::string::npos)
      << outcome.error().message();
  EXPECT_TRUE(std::filesystem::exists(fed->dir() / "state-p0" / "analytics.json"));
  EXPECT_TRUE(std::filesystem::exists(fed->dir() / "state-p1" / "analytics.json"));
  EXPECT_FALSE(std::filesystem::exists(fed->dir() / "state-p2" / "analytics.json"));
}

TEST_F(AnalyticsTest, MalformedAndUnaskedPartialsRejectedAndTheOthersServed) {
  auto fed = MakeFederation("analytics-bad", "", kExactQueries);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<participant::AnalyticsOnlyWorkload> workloads(3);
  std::vector<std::future<Status>> runs;
  for (int i = 1; i < 3; ++i) runs.push_back(fed->RunParticipant(i, workloads[i], Options(*fed, i, /*exact=*/true)));
  auto raw = testing::RawParticipant::Connect(*fed, 0);
  ASSERT_TRUE(raw) << raw.error().message();
  std::optional<protocol::AnalyticsRequest> request;
  while (!request) {
    auto data = (*raw)->WaitFor<protocol::AnalyticsData>(seconds(60));
    ASSERT_TRUE(data);
    auto m = protocol::DecodeAnalytics(data->payload);
    ASSERT_TRUE(m);
    if (auto* r = std::get_if<protocol::AnalyticsRequest>(&*m)) request = *r;
  }
  ASSERT_EQ(request->queries.size(), 8u);
  auto send = [&](const protocol::AnalyticsMessage& msg) {
    auto b = protocol::EncodeAnalytics(msg);
    ASSERT_TRUE(b);
    ASSERT_TRUE((*raw)->Send(protocol::AnalyticsData{*b}));
  };
  // 1. Bytes that are no partial.
  send(protocol::AnalyticsPartial{request->job, Bytes{'C', 'A', 'P', 'T', 0, 9}});
  auto rej = (*raw)->WaitFor<protocol::Rejected>(seconds(30));
  ASSERT_TRUE(rej);
  EXPECT_EQ(rej->code, protocol::RejectCode::kMalformed);
  EXPECT_NE(rej->detail.find("analytics partial"), std::string::npos) << rej->detail;
  // 2. A well-formed partial for a query the job did not ask.
  analytics::Partial unasked;
  unasked.query = "not_a_query";
  unasked.kind = analytics::QueryKind::kCount;
  unasked.groups.resize(1);
  auto bytes = analytics::EncodePartial(unasked);
  ASSERT_TRUE(bytes);
  send(protocol::AnalyticsPartial{request->job, *bytes});
  rej = (*raw)->WaitFor<protocol::Rejected>(seconds(30));
  ASSERT_TRUE(rej);
  EXPECT_NE(rej->detail.find("'not_a_query'"), std::string::npos) << rej->detail;
  EXPECT_NE(rej->detail.find("did not ask"), std::string::npos) << rej->detail;
  // 3. A partial that decodes but breaks the spec (wrong group count for count_by_region).
  analytics::Partial wrong;
  wrong.query = "count_by_region";
  wrong.kind = analytics::QueryKind::kCount;
  wrong.groups.resize(1);
  bytes = analytics::EncodePartial(wrong);
  ASSERT_TRUE(bytes);
  send(protocol::AnalyticsPartial{request->job, *bytes});
  rej = (*raw)->WaitFor<protocol::Rejected>(seconds(30));
  ASSERT_TRUE(rej);
  EXPECT_NE(rej->detail.find("count_by_region"), std::string::npos) << rej->detail;
  // 4. Another job's id.
  send(protocol::AnalyticsDecline{request->job + 7, "sum_amount", "x"});
  rej = (*raw)->WaitFor<protocol::Rejected>(seconds(30));
  ASSERT_TRUE(rej);
  EXPECT_EQ(rej->code, protocol::RejectCode::kWrongRound);
  // The remaining queries: declined, so the job completes without waiting for its deadline.
  for (const auto& q : request->queries) {
    if (q != "count_by_region") send(protocol::AnalyticsDecline{request->job, q, "query '" + q + "': test"});
  }
  auto result = (*raw)->WaitFor<protocol::RoundResult>(seconds(60));
  ASSERT_TRUE(result);
  EXPECT_FALSE(protocol::ParseAnalyticsDigestDetail(result->detail).empty());
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().message();
  }
  (*raw)->Close();
  ASSERT_TRUE(fed->JoinAggregator());
  auto results = analytics::ResultsFromJson(ReadFile(fed->state_dir() / "analytics.json"));
  ASSERT_TRUE(results);
  const auto* counts = Find(*results, "count_by_region");
  ASSERT_NE(counts, nullptr);
  EXPECT_EQ(counts->parties, 2u);  // p1 and p2; p0's partials were all refused
  auto loaded = protocol::LoadFederationFile(fed->federation_file());
  ASSERT_TRUE(loaded);
  auto want = Pooled(loaded->federation.queries[0], {1, 2});
  EXPECT_EQ(counts->groups[0].value, want.groups[0].value);
  EXPECT_EQ(testing::ReadResults(fed->state_dir())[0].contributors, (std::vector<std::string>{"p1", "p2"}));
}

TEST_F(AnalyticsTest, ModeBothRunsTheQueriesThenTheTrainingRoundsOnOneChain) {
  auto fed = MakeFederation("analytics-both", "", "");
  ASSERT_TRUE(fed);
  std::string text = ReadFile(fed->federation_file());
  text.replace(text.find("mode = \"analytics\""), 18, "mode = \"both\"\nrounds = 2\neval_timeout_s = 0");
  text.replace(text.find("[privacy]"), 0,
               "[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n");
  text.replace(text.find("\n[[participants]]"), 0,
               "\n[[queries]]\nname = \"count_by_region\"\nkind = \"count\"\ngroup_by = \"region\"\n"
               "groups = [\"north\", \"south\"]\nepsilon = 0.5\nmax_tables_per_person = 1\n");
  std::ofstream(fed->federation_file()) << text;
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (int i = 0; i < 3; ++i) {
    participant::SyntheticOptions so;
    so.num_params = 10;  // logreg 4 → 2
    so.constant = 0.1f;
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(so));
    runs.push_back(fed->RunParticipant(i, *workloads.back(), Options(*fed, i, /*exact=*/false)));
  }
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().message();
  }
  auto outcome = fed->JoinAggregator();
  ASSERT_TRUE(outcome) << outcome.error().message();
  auto chain = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(chain.size(), 3u);
  // Round 1: the analytics release (no model change); rounds 2 and 3: training.
  EXPECT_EQ(chain[0].detail, protocol::AnalyticsDigestDetail(ReadFile(fed->state_dir() / "analytics.json")));
  EXPECT_EQ(chain[0].model_version, 0u);
  EXPECT_FALSE(chain[0].final);
  EXPECT_GT(chain[0].epsilon_spent, 0.0);
  for (int r = 1; r < 3; ++r) {
    EXPECT_EQ(chain[r].round, static_cast<std::uint64_t>(r + 1));
    EXPECT_EQ(chain[r].status, protocol::RoundStatus::kCompleted);
    EXPECT_EQ(chain[r].model_version, static_cast<std::uint64_t>(r));
    EXPECT_TRUE(chain[r].detail.empty()) << chain[r].detail;
    // Training without DP charges nothing: the ledger still holds the query's ε.
    EXPECT_DOUBLE_EQ(chain[r].epsilon_spent, chain[0].epsilon_spent);
    auto h = protocol::ResultHash(chain[r - 1]);
    EXPECT_EQ(chain[r].prev_hash, Bytes(h.begin(), h.end()));
  }
  EXPECT_TRUE(chain[2].final);
}

TEST(AnalyticsConfig, MalformedQuerySpecsRejectedAtLoadNamingFileQueryAndField) {
  auto dir = testing::MakeTempDir("analytics-config");
  auto key = participant::GenerateKeyFile(dir / "p.key");
  ASSERT_TRUE(key);
  auto load = [&](const std::string& federation, const std::string& queries) {
    std::string text = "[federation]\nid = \"f\"\n" + federation + "[privacy]\nepsilon_budget = 4.0\n" + queries +
                       "\n[[participants]]\nid = \"p0\"\ncurve_key = \"" + *key + "\"\n";
    std::ofstream(dir / "fed.toml") << text;
    return protocol::LoadFederationFile(dir / "fed.toml");
  };
  const std::string mode = "mode = \"analytics\"\nmin_participants = 1\n";
  // A mean without clamp.
  auto r = load(mode, "[[queries]]\nname = \"q0\"\nkind = \"count\"\nepsilon = 0.5\n"
                      "[[queries]]\nname = \"avg\"\nkind = \"mean\"\ncolumn = \"x\"\nepsilon = 0.5\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("fed.toml"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("'avg'"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("clamp"), std::string::npos) << r.error().message();
  // An unknown key inside a query.
  r = load(mode, "[[queries]]\nname = \"q0\"\nkind = \"count\"\nepsilon = 0.5\ncolum = \"x\"\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("colum"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("fed.toml"), std::string::npos) << r.error().message();
  // A bad predicate operator names the field path.
  r = load(mode, "[[queries]]\nname = \"q1\"\nkind = \"count\"\nepsilon = 0.5\n"
                 "where = [ { column = \"c\", op = \"<\", value = \"DE\" } ]\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("queries[0].where[0].op"), std::string::npos) << r.error().message();
  // Queries with mode = "training", and mode = "analytics" without queries.
  r = load("min_participants = 1\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n",
           "[[queries]]\nname = \"q0\"\nkind = \"count\"\nepsilon = 0.5\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("federation.mode"), std::string::npos) << r.error().message();
  r = load(mode, "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("[[queries]]"), std::string::npos) << r.error().message();
  // An unknown mode names the key.
  r = load("mode = \"sql\"\n", "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("mode"), std::string::npos) << r.error().message();
  // And a good one parses, without a [model], with the queries in order.
  r = load(mode, "[[queries]]\nname = \"q0\"\nkind = \"count\"\nepsilon = 0.5\n"
                 "[[queries]]\nname = \"q1\"\nkind = \"sum\"\ncolumn = \"x\"\nclamp = [0.0, 1.0]\nepsilon = 0.5\n");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->federation.queries.size(), 2u);
  EXPECT_EQ(r->federation.queries[1].name, "q1");
  EXPECT_FALSE(r->federation.runs_training());
  // The attested text carries the queries: a participant parses the same specs.
  auto attested = protocol::ParseAttestedFederation(r->canonical_text);
  ASSERT_TRUE(attested) << attested.error().message();
  EXPECT_EQ(attested->queries, r->federation.queries);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(AnalyticsMessage, RoundTripsAndRejectsMalformed) {
  protocol::AnalyticsRequest req{42, {"a", "b"}};
  auto b = protocol::EncodeAnalytics(req);
  ASSERT_TRUE(b);
  auto back = protocol::DecodeAnalytics(*b);
  ASSERT_TRUE(back);
  ASSERT_TRUE(std::holds_alternative<protocol::AnalyticsRequest>(*back));
  EXPECT_EQ(std::get<protocol::AnalyticsRequest>(*back).queries, req.queries);
  EXPECT_EQ(std::get<protocol::AnalyticsRequest>(*back).job, 42u);
  Bytes trailing = *b;
  trailing.push_back(0);
  EXPECT_FALSE(protocol::DecodeAnalytics(trailing));
  Bytes bad_version = *b;
  bad_version[0] = 2;
  EXPECT_FALSE(protocol::DecodeAnalytics(bad_version));
  Bytes truncated(b->begin(), b->begin() + 12);
  EXPECT_FALSE(protocol::DecodeAnalytics(truncated));
  protocol::AnalyticsDecline d{7, "q", "query 'q': column 'salary' is not in this party's allowed_columns"};
  auto db = protocol::EncodeAnalytics(d);
  ASSERT_TRUE(db);
  auto dback = protocol::DecodeAnalytics(*db);
  ASSERT_TRUE(dback);
  EXPECT_EQ(std::get<protocol::AnalyticsDecline>(*dback).reason, d.reason);
  EXPECT_EQ(protocol::ParseAnalyticsDigestDetail(protocol::AnalyticsDigestDetail("{}")).size(), 64u);
  EXPECT_EQ(protocol::ParseAnalyticsDigestDetail("round completed"), "");
}

}  // namespace
}  // namespace cairn
