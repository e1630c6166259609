// The participant's side of a clean-room analytics job (docs/analytics.md, "Execution").
//
// For each query the enclave asks (by name; the specs come from the ATTESTED config, never from
// the request): the party's own policy decides (CheckQueryAllowed); an allowed query is computed
// over the party's table (ComputePartial) and sent as EncodePartial bytes; a refused one is
// declined with the policy's reason (public fields and the party's limits only). A query the
// party cannot compute (a missing column, a malformed cell) is declined with a reason that says
// only that; the detailed error (file, line, column; never the cell) stays in the local log.
//
// The released answers arrive after the job's signed RoundResult, whose detail carries their
// SHA-256 (protocol/analytics_message.h): AcceptRelease checks the bytes against the digest of
// the verified result before it writes state_dir/analytics.json.
//
// Thread safety: none; the client's thread drives it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/analytics/release.h"
#include "common/analytics/table.h"
#include "participant/config.h"
#include "participant/workload.h"
#include "protocol/analytics_message.h"
#include "protocol/federation_config.h"

namespace cairn::participant {

class AnalyticsSession {
 public:
  AnalyticsSession(const ParticipantConfig& config, const protocol::FederationConfig& federation);

  // One partial or decline per requested query, in the request's order.
  std::vector<protocol::AnalyticsMessage> Answer(const protocol::AnalyticsRequest& request);
  // Every verified round result; remembers the digest an analytics result signs.
  void OnVerifiedResult(const protocol::RoundResult& result);
  // kUnauthenticated when the bytes do not match the signed digest of their job (or no verified
  // result names the job); else writes state_dir/analytics.json and returns the answers.
  Result<std::vector<analytics::QueryResult>> AcceptRelease(const protocol::AnalyticsRelease& release);

 private:
  Result<const analytics::Table*> LoadTable();

  const ParticipantConfig& config_;
  const protocol::FederationConfig& federation_;
  std::optional<analytics::Table> table_;
  std::map<std::uint64_t, std::string> signed_digests_;  // job → hex SHA-256
};

// The workload of a party that only answers queries (no [data] table): refuses a federation that
// trains.
class AnalyticsOnlyWorkload : public Workload {
 public:
  Status Prepare(const protocol::FederationConfig& federation) override;
  std::size_t num_params() const override { return 0; }
  Result<LocalResult> Train(std::span<const float>, const protocol::Task&, std::span<float>) override;
  bool evaluates() const override { return false; }
  Result<std::vector<protocol::Metric>> Evaluate(std::span<const float>) override { return std::vector<protocol::Metric>{}; }
};

}  // namespace cairn::participant
