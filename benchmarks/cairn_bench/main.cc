// cairn-bench: aggregator + N synthetic participants on loopback, measured against the floor.
//
//   cairn-bench --participants N --params P --rounds R [--json] [--masking [--k K] [--t T]
//               [--compare-plain]] [--chunk-bytes B]
//               [--encoding float32|bfloat16|float16] [--slots K] [--no-checkpoint]
//               [--in-process] [--aggregator-bin PATH] [--warmup W] [--floor-repetitions F]
//               [--work-dir DIR] [--keep]
//   cairn-bench --table FILE.jsonl...     summary table of earlier --json lines
//
// Exit status: 0 measured, 1 the run failed, 2 usage errors.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "benchmarks/cairn_bench/bench.h"
#include "benchmarks/cairn_bench/table.h"
#include "common/core/log.h"

int main(int argc, char** argv) {
  cairn::bench::BenchOptions o;
  bool json = false;
  bool in_process = false;
  bool no_checkpoint = false;
  std::string encoding = "float32";
  std::vector<std::string> tables;
  CLI::App cli{"Cairn benchmark: one aggregator and N synthetic participants on loopback, against the machine's floor "
               "(docs/performance.md)"};
  cli.add_option("--participants", o.participants, "N participants (1..1000)")->capture_default_str();
  cli.add_option("--params", o.params, "P model parameters (the nearest exact logreg shape is used)")->capture_default_str();
  cli.add_option("--rounds", o.rounds, "R timed rounds")->capture_default_str();
  cli.add_flag("--json", json, "Print one JSON object instead of the text summary");
  bool compare_plain = false;
  cli.add_flag("--masking", o.masking, "Pairwise masking (SecAgg+ under the enclave; docs/masking.md)");
  cli.add_option("--k", o.masking_k, "--masking: neighbourhood size k (odd; 0 = min(7, N) made odd)")->capture_default_str();
  cli.add_option("--t", o.masking_t, "--masking: threshold t (0 = floor(k/2) + 1)")->capture_default_str();
  cli.add_flag("--compare-plain", compare_plain,
               "--masking: run the same benchmark without masking afterwards and report both round times");
  cli.add_option("--chunk-bytes", o.chunk_bytes, "federation.chunk_bytes")->capture_default_str();
  cli.add_option("--encoding", encoding, "Transport encoding of updates and models")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}))->capture_default_str();
  cli.add_option("--slots", o.upload_slots, "server.max_concurrent_uploads (staging buffers)")->capture_default_str();
  cli.add_flag("--no-checkpoint", no_checkpoint, "Run the aggregator without sealed checkpoints (--sealing none)");
  cli.add_flag("--in-process", in_process, "Aggregator on a thread of this process (no separate RSS figure)");
  cli.add_option("--aggregator-bin", o.aggregator_bin, "cairn-aggregator executable (default: next to cairn-bench)");
  cli.add_option("--warmup", o.warmup_rounds, "Untimed rounds before the timed ones")->capture_default_str();
  cli.add_option("--floor-repetitions", o.floor_repetitions, "Floor runs before and after the federation each")
      ->capture_default_str();
  cli.add_option("--round-timeout", o.round_timeout_s, "federation.round_timeout_s")->capture_default_str();
  cli.add_option("--work-dir", o.work_dir, "Folder for keys, config and state (default: a fresh one in /tmp)");
  cli.add_flag("--keep", o.keep_work_dir, "Keep the work folder");
  cli.add_option("--table", tables, "Print a summary table of JSON lines written by earlier --json runs, and exit");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e) == 0 ? 0 : 2;
  }
  if (!tables.empty()) {
    auto table = cairn::bench::SummaryTable(tables);
    if (!table) {
      std::cerr << "cairn-bench: " << table.error().message() << "\n";
      return 1;
    }
    std::cout << *table;
    return 0;
  }
  o.encoding = encoding == "bfloat16" ? cairn::protocol::Encoding::kBFloat16
               : encoding == "float16" ? cairn::protocol::Encoding::kFloat16
                                       : cairn::protocol::Encoding::kFloat32;
  o.checkpoint = !no_checkpoint;
  o.mode = in_process ? cairn::bench::AggregatorMode::kInProcess : cairn::bench::AggregatorMode::kProcess;
  // Participants log warnings only (one line per round per participant would swamp the output).
  cairn::log::Init(cairn::log::Format::kText, cairn::log::Level::kWarn, "participant");
  // The masked run goes first: the aggregator's peak RSS comes from wait4, and a child spawned
  // (posix_spawn, vfork semantics) after this process has grown inherits its RSS as the
  // starting maximum, so only the first run's aggregator RSS is meaningful.
  auto report = cairn::bench::RunBench(o);
  if (report && o.masking && compare_plain) {
    cairn::bench::BenchOptions p = o;
    p.masking = false;
    auto plain = cairn::bench::RunBench(p);
    if (!plain) {
      std::cerr << "cairn-bench: the plain run (--compare-plain): " << plain.error().message() << "\n";
      return 1;
    }
    report->plain_round_median_s = plain->round_median_s;
    report->plain_round_s = plain->round_s;
  }
  if (!report) {
    std::cerr << "cairn-bench: " << report.error().message() << "\n";
    return report.error().code() == cairn::ErrorCode::kUnimplemented ? 2 : 1;
  }
  std::cout << (json ? cairn::bench::ReportJson(*report) + "\n" : cairn::bench::ReportText(*report)) << std::flush;
  return 0;
}
