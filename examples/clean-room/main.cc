// cairn-cleanroom-gen: the clean-room example's data generator and evaluator.
//
//   cairn-cleanroom-gen --out-dir DIR --seed S [--scale F] [--config federation.toml]
//       writes DIR/bank-1.csv .. bank-3.csv and DIR/truth.json (population parameters, and with
//       --config the exact noise-off answers of the configured [[queries]] on the pooled tables)
//   cairn-cleanroom-gen --out-dir DIR --seed S --config federation.toml --simulate RESULTS.json
//       also runs the configured queries IN PROCESS (no enclave, no network: a development
//       reference for the federation's output) with CSPRNG noise, charging a ledger built from
//       the config's [privacy] epsilon_budget and delta, and writes RESULTS.json
//   cairn-cleanroom-gen --evaluate RESULTS.json --truth TRUTH.json
//       prints the DP answers beside the exact ones, ending with
//       "analytics: N queries, max relative error X"
//
// Exit status: 0 success, 1 error (message on stderr), 2 usage.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "common/analytics/output.h"
#include "common/analytics/query_spec.h"
#include "common/analytics/table.h"
#include "common/core/file.h"
#include "common/core/toml_reader.h"
#include "common/dp/random_source.h"
#include "examples/clean-room/evaluate.h"
#include "examples/clean-room/generator.h"
#include "participant/data/csv.h"

namespace {

using namespace cairn;

int Report(const Error& e) {
  std::cerr << "cairn-cleanroom-gen: " << e.ToString() << "\n";
  return 1;
}

// The federation's release, in process: each bank's partial, CombineAndRelease with CSPRNG noise,
// the ledger charged per query (a query that would exceed the budget is an error).
Result<std::vector<analytics::QueryResult>> Simulate(TomlReader& root, const std::vector<analytics::QuerySpec>& specs,
                                                     const std::vector<analytics::Table>& tables) {
  dp::LedgerOptions lo;
  CAIRN_ASSIGN_OR_RETURN(auto privacy, root.Table("privacy"));
  if (!privacy) return Fail(ErrorCode::kInvalidArgument, root.source_name() + ": --simulate needs a [privacy] table");
  CAIRN_RETURN_IF_ERROR(privacy->Require("epsilon_budget", lo.epsilon_budget));
  CAIRN_RETURN_IF_ERROR(privacy->Require("delta", lo.delta));
  CAIRN_ASSIGN_OR_RETURN(dp::PrivacyLedger ledger, dp::PrivacyLedger::Create(lo));
  CAIRN_ASSIGN_OR_RETURN(dp::SodiumRandomSource rng, dp::SodiumRandomSource::Create());
  const auto accounting = analytics::AccountingOptions::ForLedger(lo, static_cast<std::uint32_t>(tables.size()));
  std::vector<analytics::QueryResult> out;
  for (const auto& spec : specs) {
    std::vector<analytics::PartyPartial> partials;
    for (std::size_t b = 0; b < tables.size(); ++b) {
      CAIRN_ASSIGN_OR_RETURN(analytics::Partial p, analytics::ComputePartial(spec, tables[b]));
      partials.push_back({"bank-" + std::to_string(b + 1), std::move(p)});
    }
    CAIRN_ASSIGN_OR_RETURN(analytics::QueryPlan plan, analytics::PlanQuery(spec, accounting));
    CAIRN_RETURN_IF_ERROR(analytics::ChargeQuery(ledger, plan));
    CAIRN_ASSIGN_OR_RETURN(analytics::QueryResult r, analytics::CombineAndRelease(plan, partials, rng));
    out.push_back(std::move(r));
  }
  std::cout << "simulated " << out.size() << " queries in process; ledger epsilon " << ledger.epsilon_spent()
            << " of " << lo.epsilon_budget << " at delta " << lo.delta << "\n";
  return out;
}

int Generate(const std::filesystem::path& out_dir, std::uint64_t seed, double scale, const std::string& config,
             const std::string& simulate) {
  cleanroom::GeneratorOptions options;
  options.seed = seed;
  options.scale = scale;
  const auto banks = cleanroom::GenerateBanks(options);
  if (auto st = EnsureDirectory(out_dir, 0755); !st) return Report(st.error());
  std::vector<analytics::Table> tables;
  for (const auto& b : banks) {
    const auto path = out_dir / (b.name + ".csv");
    if (auto st = data::WriteCsvFile(path, b.header, b.rows); !st) return Report(st.error());
    auto table = analytics::Table::FromRows(path.string(), b.header, b.rows);
    if (!table) return Report(table.error());
    tables.push_back(std::move(*table));
    std::cout << "wrote " << path.string() << " (" << b.rows.size() << " rows)\n";
  }
  std::vector<analytics::QueryResult> exact;
  if (!config.empty()) {
    auto root = TomlReader::ParseFile(config);
    if (!root) return Report(root.error());
    auto specs = analytics::ParseQueries(*root);
    if (!specs) return Report(specs.error());
    auto answers = cleanroom::ExactAnswers(*specs, tables);
    if (!answers) return Report(answers.error());
    exact = std::move(*answers);
    if (!simulate.empty()) {
      auto results = Simulate(*root, *specs, tables);
      if (!results) return Report(results.error());
      if (auto st = analytics::WriteResultsJson(simulate, *results); !st) return Report(st.error());
      std::cout << analytics::FormatTable(*results);
      std::cout << "wrote " << simulate << "\n";
    }
  }
  const auto truth_path = out_dir / "truth.json";
  if (auto st = WriteFileAtomic(truth_path, cleanroom::GroundTruthJson(options, banks, config.empty() ? nullptr : &exact));
      !st) {
    return Report(st.error());
  }
  std::cout << "wrote " << truth_path.string()
            << (config.empty() ? " (population parameters; no --config: no exact answers)\n"
                               : " (" + std::to_string(exact.size()) + " exact query answers)\n");
  return 0;
}

int EvaluateFiles(const std::string& results_path, const std::string& truth_path) {
  auto results_text = ReadFileText(results_path, analytics::kMaxResultsJsonBytes);
  if (!results_text) return Report(results_text.error());
  auto results = analytics::ResultsFromJson(*results_text);
  if (!results) return Report(std::move(results.error()).Context(results_path));
  auto truth_text = ReadFileText(truth_path, analytics::kMaxResultsJsonBytes);
  if (!truth_text) return Report(truth_text.error());
  auto exact = cleanroom::ExactResultsFromTruth(*truth_text);
  if (!exact) return Report(std::move(exact.error()).Context(truth_path));
  auto ev = cleanroom::Evaluate(*results, *exact);
  if (!ev) return Report(ev.error());
  std::cout << cleanroom::FormatEvaluation(*ev, *results);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn-cleanroom-gen: three banks' transaction tables with known ground truth, and the evaluator"};
  std::string out_dir, config, evaluate, truth, simulate;
  std::uint64_t seed = 1;
  double scale = 1.0;
  auto* out_opt = app.add_option("--out-dir", out_dir, "Folder for bank-1..3.csv and truth.json");
  app.add_option("--seed", seed, "Seed of the generator")->capture_default_str();
  app.add_option("--scale", scale, "Multiplies every bank's row count")->check(CLI::Range(0.001, 100.0))->capture_default_str();
  app.add_option("--config", config, "Federation TOML whose [[queries]] get exact answers in truth.json")
      ->check(CLI::ExistingFile);
  auto* sim_opt = app.add_option("--simulate", simulate,
                                 "Also run the --config queries in process (development reference) into this JSON");
  auto* eval_opt = app.add_option("--evaluate", evaluate, "Analytics results JSON to compare with --truth")
                       ->check(CLI::ExistingFile);
  auto* truth_opt = app.add_option("--truth", truth, "truth.json written by the generator")->check(CLI::ExistingFile);
  eval_opt->needs(truth_opt);
  truth_opt->needs(eval_opt);
  eval_opt->excludes(out_opt);
  sim_opt->needs(out_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!evaluate.empty()) return EvaluateFiles(evaluate, truth);
  if (out_dir.empty()) {
    std::cerr << "cairn-cleanroom-gen: give --out-dir DIR (generate) or --evaluate RESULTS --truth TRUTH\n";
    return 2;
  }
  if (!simulate.empty() && config.empty()) {
    std::cerr << "cairn-cleanroom-gen: --simulate needs --config\n";
    return 2;
  }
  return Generate(out_dir, seed, scale, config, simulate);
}
