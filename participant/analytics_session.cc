#include "participant/analytics_session.h"

#include "common/analytics/output.h"
#include "common/analytics/partial.h"
#include "common/core/file.h"
#include "common/core/log.h"
#include "common/crypto/crypto.h"

namespace cairn::participant {

AnalyticsSession::AnalyticsSession(const ParticipantConfig& config, const protocol::FederationConfig& federation)
    : config_(config), federation_(federation) {}

Result<const analytics::Table*> AnalyticsSession::LoadTable() {
  if (!table_) {
    CAIRN_ASSIGN_OR_RETURN(auto t, analytics::Table::Load(config_.analytics->table));
    log::Info("analytics_table_loaded", {{"count", t.num_rows()}});
    table_ = std::move(t);
  }
  return &*table_;
}

std::vector<protocol::AnalyticsMessage> AnalyticsSession::Answer(const protocol::AnalyticsRequest& request) {
  std::vector<protocol::AnalyticsMessage> out;
  for (const auto& name : request.queries) {
    auto decline = [&](std::string reason) {
      log::Warn("analytics_query_declined", {{"round", request.job}, {"query", name}, {"reason", reason}});
      out.push_back(protocol::AnalyticsDecline{request.job, name, std::move(reason)});
    };
    const analytics::QuerySpec* spec = nullptr;
    for (const auto& q : federation_.queries) {
      if (q.name == name) spec = &q;
    }
    if (!spec) {
      decline("query '" + name + "' is not in the attested federation configuration");
      continue;
    }
    if (!config_.analytics) {
      decline("query '" + name + "': this party has no [analytics] policy");
      continue;
    }
    if (auto allowed = analytics::CheckQueryAllowed(*spec, config_.analytics->policy); !allowed) {
      decline(allowed.error().message());
      continue;
    }
    auto table = LoadTable();
    if (!table) {
      log::Error("analytics_table_unreadable", {{"query", name}, {"error", table.error().message()}});
      decline("query '" + name + "': this party cannot read its table");
      continue;
    }
    auto partial = analytics::ComputePartial(*spec, **table);
    if (!partial) {
      // The message names file, line and column, never the cell: local log only.
      log::Error("analytics_partial_failed", {{"query", name}, {"error", partial.error().message()}});
      decline("query '" + name + "': this party cannot compute it over its table");
      continue;
    }
    auto bytes = analytics::EncodePartial(*partial);
    if (!bytes) {
      log::Error("analytics_partial_failed", {{"query", name}, {"error", bytes.error().message()}});
      decline("query '" + name + "': this party cannot encode its partial");
      continue;
    }
    log::Info("analytics_partial_sent", {{"round", request.job}, {"query", name}, {"bytes", bytes->size()}});
    out.push_back(protocol::AnalyticsPartial{request.job, std::move(*bytes)});
  }
  return out;
}

void AnalyticsSession::OnVerifiedResult(const protocol::RoundResult& result) {
  std::string digest = protocol::ParseAnalyticsDigestDetail(result.detail);
  if (!digest.empty()) signed_digests_[result.round] = digest;
}

Result<std::vector<analytics::QueryResult>> AnalyticsSession::AcceptRelease(const protocol::AnalyticsRelease& release) {
  auto it = signed_digests_.find(release.job);
  if (it == signed_digests_.end()) {
    return Fail(ErrorCode::kUnauthenticated, "analytics answers for job " + std::to_string(release.job) +
                                                 " arrived without a verified signed result naming them");
  }
  std::string actual = HexEncode(crypto::Sha256(AsBytes(release.results_json)));
  if (actual != it->second) {
    return Fail(ErrorCode::kUnauthenticated, "the analytics answers of job " + std::to_string(release.job) +
                                                 " do not match the SHA-256 in the enclave's signed result");
  }
  CAIRN_ASSIGN_OR_RETURN(auto results, analytics::ResultsFromJson(release.results_json));
  CAIRN_RETURN_IF_ERROR(EnsureDirectory(config_.state_dir, 0700));
  CAIRN_RETURN_IF_ERROR(WriteFileAtomic(config_.state_dir / "analytics.json", release.results_json, 0600));
  log::Info("analytics_results_verified", {{"round", release.job}, {"queries", results.size()}});
  return results;
}

Status AnalyticsOnlyWorkload::Prepare(const protocol::FederationConfig& federation) {
  if (federation.runs_training()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "federation '" + federation.id + "' trains a model (federation.mode = \"" + federation.mode +
                    "\"), but this participant has no [data] training table; it only answers analytics queries");
  }
  return Ok();
}

Result<LocalResult> AnalyticsOnlyWorkload::Train(std::span<const float>, const protocol::Task&, std::span<float>) {
  return Fail(ErrorCode::kFailedPrecondition, "this participant has no training data");
}

}  // namespace cairn::participant
