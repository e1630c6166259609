// The aggregator's metrics (docs/operations.md, "Metrics", documents each one), registered once
// at start-up; the engine and server keep the struct and update the members on their thread.
//
// Every member points into the registry passed to Create (which must outlive it). Updates are
// lock-free atomics: cheap enough for per-chunk byte counts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"
#include "common/metrics/metrics.h"

namespace cairn::metrics {

class HealthState;  // http_server.h

struct AggregatorMetricsOptions {
  // Every value cairn_rounds_total{status} may take: protocol::RoundStatusName of each status.
  std::vector<std::string> round_statuses;
  // Every value cairn_rejections_total{reason} may take: protocol::RejectCodeName of each code.
  std::vector<std::string> rejection_reasons;
  // Upper bounds (seconds) of cairn_round_duration_seconds: rounds last from under a second
  // (tiny models on loopback) to the round timeout (minutes).
  std::vector<double> round_duration_buckets = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
};

// The values cairn_state_write_failures_total{file} takes: the sealed checkpoint, results.jsonl,
// evaluations.jsonl, the model files (global.f32 and global.pt), the analytics release
// (analytics.json and analytics.csv).
inline constexpr std::string_view kStateFiles[] = {"checkpoint", "results", "evaluations", "model", "analytics"};

struct AggregatorMetrics {
  // Where the engine updates each one: rounds_total when it publishes a signed result (every
  // status, including a round refused for the privacy budget); round_duration_seconds when it
  // finalizes a round it ran; the rest where the matching engine counter changes.
  LabeledCounter* rounds_total = nullptr;          // cairn_rounds_total{status}: rounds finished
  Gauge* participants_connected = nullptr;         // cairn_participants_connected
  Histogram* round_duration_seconds = nullptr;     // cairn_round_duration_seconds: offer → finalize
  Counter* bytes_in_total = nullptr;               // cairn_bytes_in_total: data-plane payload received
  Counter* bytes_out_total = nullptr;              // cairn_bytes_out_total: data-plane payload sent
  LabeledCounter* rejections_total = nullptr;      // cairn_rejections_total{reason}: uploads/messages refused
  Gauge* epsilon_spent = nullptr;                  // cairn_epsilon_spent: ε of the signed results so far
  Gauge* model_version = nullptr;                  // cairn_model_version: version of the global model
  Counter* chunks_dropped_total = nullptr;         // cairn_chunks_dropped_total: data-plane chunks dropped
  Gauge* current_round = nullptr;                  // cairn_current_round: the round in progress or next
  // cairn_state_write_failures_total{file}: writes to the state folder that failed. A failed
  // checkpoint or results write stops the federation with the round withheld; for the other
  // files the process keeps serving and the file named is stale until a later write succeeds.
  // `file` is one of kStateFiles.
  LabeledCounter* state_write_failures_total = nullptr;
  // /healthz (optional, not a registry metric): the engine sets round and phase where they
  // change and when it publishes a result, so the endpoint never trails what participants see.
  HealthState* health = nullptr;

  // Registers the metrics above in `registry`. Errors: a status or reason that is not a valid
  // label value, or names already registered.
  static Result<AggregatorMetrics> Create(Registry& registry, const AggregatorMetricsOptions& options);
};

}  // namespace cairn::metrics
