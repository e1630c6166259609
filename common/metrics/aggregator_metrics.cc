#include "common/metrics/aggregator_metrics.h"

#include <iterator>

namespace cairn::metrics {

Result<AggregatorMetrics> AggregatorMetrics::Create(Registry& r, const AggregatorMetricsOptions& o) {
  AggregatorMetrics m;
  CAIRN_ASSIGN_OR_RETURN(m.rounds_total,
                         r.AddLabeledCounter("cairn_rounds_total", "Rounds finished, by signed status", "status",
                                             o.round_statuses));
  CAIRN_ASSIGN_OR_RETURN(m.participants_connected,
                         r.AddGauge("cairn_participants_connected", "Participants with an open control session"));
  CAIRN_ASSIGN_OR_RETURN(m.round_duration_seconds,
                         r.AddHistogram("cairn_round_duration_seconds",
                                        "Time from a round's offer to its finalization, in seconds",
                                        o.round_duration_buckets));
  CAIRN_ASSIGN_OR_RETURN(m.bytes_in_total,
                         r.AddCounter("cairn_bytes_in_total", "Data-plane payload bytes received (sealed update chunks)"));
  CAIRN_ASSIGN_OR_RETURN(m.bytes_out_total,
                         r.AddCounter("cairn_bytes_out_total", "Data-plane payload bytes sent (sealed model chunks)"));
  CAIRN_ASSIGN_OR_RETURN(m.rejections_total,
                         r.AddLabeledCounter("cairn_rejections_total",
                                             "Uploads and messages refused, by reject code", "reason",
                                             o.rejection_reasons));
  CAIRN_ASSIGN_OR_RETURN(m.epsilon_spent,
                         r.AddGauge("cairn_epsilon_spent", "Differential-privacy epsilon spent so far (as signed)"));
  CAIRN_ASSIGN_OR_RETURN(m.model_version, r.AddGauge("cairn_model_version", "Version of the global model"));
  CAIRN_ASSIGN_OR_RETURN(m.chunks_dropped_total,
                         r.AddCounter("cairn_chunks_dropped_total",
                                      "Data-plane chunks dropped (unknown session, failed decryption, over a bound)"));
  CAIRN_ASSIGN_OR_RETURN(m.current_round, r.AddGauge("cairn_current_round", "The round in progress, or the next one"));
  CAIRN_ASSIGN_OR_RETURN(
      m.state_write_failures_total,
      r.AddLabeledCounter("cairn_state_write_failures_total",
                          "Writes to the state folder that failed, by file (a failed checkpoint or results write stops the federation)", "file",
                          std::vector<std::string>(std::begin(kStateFiles), std::end(kStateFiles))));
  return m;
}

}  // namespace cairn::metrics
