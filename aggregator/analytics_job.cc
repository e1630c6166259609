#include "aggregator/analytics_job.h"

#include <algorithm>
#include <cmath>

#include "common/analytics/output.h"
#include "common/analytics/partial.h"
#include "common/core/log.h"
#include "protocol/text.h"

namespace cairn::aggregator {

using protocol::RejectCode;

AnalyticsJob::AnalyticsJob(std::uint64_t job, std::vector<analytics::QuerySpec> queries,
                           std::vector<std::string> cohort)
    : job_(job), queries_(std::move(queries)), cohort_(std::move(cohort)) {}

protocol::AnalyticsRequest AnalyticsJob::Request() const {
  protocol::AnalyticsRequest r;
  r.job = job_;
  for (const auto& q : queries_) r.queries.push_back(q.name);
  return r;
}

const analytics::QuerySpec* AnalyticsJob::Find(const std::string& name) const {
  for (const auto& q : queries_) {
    if (q.name == name) return &q;
  }
  return nullptr;
}

bool AnalyticsJob::Owes(const std::string& participant) const {
  if (std::find(cohort_.begin(), cohort_.end(), participant) == cohort_.end()) return false;
  for (const auto& q : queries_) {
    auto it = answered_.find(q.name);
    if (it == answered_.end() || !it->second.contains(participant)) return true;
  }
  return false;
}

bool AnalyticsJob::complete() const {
  for (const auto& p : cohort_) {
    if (Owes(p)) return false;
  }
  return true;
}

std::optional<Rejection> AnalyticsJob::OnMessage(const std::string& participant,
                                                 const protocol::AnalyticsMessage& message) {
  auto job_of = [](const auto& m) { return m.job; };
  std::uint64_t job = std::visit(job_of, message);
  if (job != job_) {
    return Rejection{RejectCode::kWrongRound, "analytics job " + std::to_string(job) + " is not open (the open job is " +
                                                  std::to_string(job_) + ")"};
  }
  if (std::find(cohort_.begin(), cohort_.end(), participant) == cohort_.end()) {
    return Rejection{RejectCode::kNotInCohort, "not asked in analytics job " + std::to_string(job_)};
  }
  if (auto* d = std::get_if<protocol::AnalyticsDecline>(&message)) {
    if (!Find(d->query)) {
      return Rejection{RejectCode::kMalformed, "declined query '" + d->query + "', which analytics job " +
                                                   std::to_string(job_) + " did not ask"};
    }
    if (!answered_[d->query].insert(participant).second) {
      return Rejection{RejectCode::kDuplicate, "query '" + d->query + "' was already answered"};
    }
    ++declines_;
    // The reason is metadata the party chose to send (its policy rule): safe to log.
    log::Warn("analytics_declined", {{"participant", participant}, {"round", job_}, {"query", d->query},
                                     {"reason", d->reason}});
    return std::nullopt;
  }
  auto* p = std::get_if<protocol::AnalyticsPartial>(&message);
  if (!p) {
    return Rejection{RejectCode::kMalformed, std::string("a participant may not send an analytics ") +
                                                 protocol::AnalyticsMessageName(message)};
  }
  auto decoded = analytics::DecodePartial(p->partial);
  if (!decoded) {
    return Rejection{RejectCode::kMalformed, "analytics partial: " + decoded.error().message()};
  }
  const analytics::QuerySpec* spec = Find(decoded->query);
  if (!spec) {
    // The name is the party's bytes: echoed only when it is a well-formed query name.
    const std::string named = protocol::IsValidMetricName(decoded->query) ? "query '" + decoded->query + "'"
                                                                          : "a query with a malformed name";
    return Rejection{RejectCode::kNotInCohort, "a partial for " + named + ", which analytics job " +
                                                   std::to_string(job_) + " did not ask"};
  }
  if (answered_[spec->name].contains(participant)) {
    return Rejection{RejectCode::kDuplicate, "query '" + spec->name + "' was already answered"};
  }
  // From here the party has had its one answer for this query, valid or not.
  answered_[spec->name].insert(participant);
  if (auto ok = analytics::ValidatePartial(*decoded, *spec); !ok) {
    return Rejection{RejectCode::kMalformed, "analytics partial for query '" + spec->name + "': " + ok.error().message()};
  }
  partials_[spec->name].push_back({participant, std::move(*decoded)});
  log::Info("analytics_partial", {{"participant", participant}, {"round", job_}, {"query", spec->name},
                                  {"bytes", p->partial.size()}});
  return std::nullopt;
}

Result<AnalyticsOutcome> AnalyticsJob::Release(dp::PrivacyLedger* ledger, dp::RandomSource& rng,
                                               std::uint32_t roster_size) {
  AnalyticsOutcome out;
  out.declines = declines_;
  double before = ledger ? ledger->epsilon_spent() : 0.0;
  std::set<std::string> contributors;
  for (const auto& spec : queries_) {
    auto skip = [&](const std::string& why) {
      out.skipped.push_back("query '" + spec.name + "': " + why);
      log::Warn("analytics_query_skipped", {{"round", job_}, {"query", spec.name}, {"reason", why}});
    };
    auto& partials = partials_[spec.name];
    if (partials.empty()) {
      skip("no party sent a partial");
      continue;
    }
    analytics::AccountingOptions accounting;
    if (ledger) accounting = analytics::AccountingOptions::ForLedger(ledger->options(), roster_size);
    else accounting.num_parties = roster_size;
    auto plan = analytics::PlanQuery(spec, accounting);
    if (!plan) {
      skip(plan.error().message());
      continue;
    }
    if (spec.noise) {
      if (!ledger) return Fail(ErrorCode::kInternal, "analytics: no privacy ledger");
      CAIRN_ASSIGN_OR_RETURN(double would_be, analytics::EpsilonIfQueryAdded(*ledger, *plan));
      if (would_be > ledger->options().epsilon_budget) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "the privacy budget ε = %.6g would be exceeded (ε would reach %.6g)",
                      ledger->options().epsilon_budget, would_be);
        skip(buf);
        continue;
      }
      // The charge comes before the release; the engine checkpoints the ledger before anything
      // leaves the enclave.
      CAIRN_RETURN_IF_ERROR(analytics::ChargeQuery(*ledger, *plan));
    } else {
      log::Warn("analytics_exact_release", {{"round", job_}, {"query", spec.name}, {"participants", partials.size()}});
    }
    std::sort(partials.begin(), partials.end(),
              [](const auto& a, const auto& b) { return a.party_id < b.party_id; });
    auto result = analytics::CombineAndRelease(*plan, partials, rng);
    if (!result) {
      // Charged but not released: the ledger keeps the charge (conservative).
      skip(result.error().message());
      continue;
    }
    for (const auto& p : partials) contributors.insert(p.party_id);
    log::Info("analytics_query_released", {{"round", job_}, {"query", spec.name}, {"participants", partials.size()},
                                           {"epsilon", std::isfinite(plan->epsilon) ? plan->epsilon : -1.0}});
    out.results.push_back(std::move(*result));
  }
  out.contributors.assign(contributors.begin(), contributors.end());
  out.epsilon_charged = (ledger ? ledger->epsilon_spent() : 0.0) - before;
  out.results_json = analytics::ResultsToJson(out.results);
  // Partials are no longer needed: drop them now.
  partials_.clear();
  return out;
}

}  // namespace cairn::aggregator
