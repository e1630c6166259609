// One clean-room analytics job in the enclave (docs/analytics.md, "Execution"): the federation's
// [[queries]] asked of the connected parties, their partials collected from the authenticated
// control channel, then each query planned, budget-checked, charged to the privacy ledger,
// combined with suppression and Gaussian noise, and released.
//
// Lifecycle: Create (the cohort and the queries are fixed) → OnMessage per partial or decline
// (a bad one is rejected with a reason and counts as that party's answer, so the job never waits
// for it; the others are unaffected) → complete() or the deadline → Release.
//
// Logs carry metadata only (party, query, sizes, reasons), never a partial or a value.
// Thread safety: none; the round engine's thread drives it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "aggregator/upload.h"
#include "common/analytics/release.h"
#include "common/dp/privacy_ledger.h"
#include "common/dp/random_source.h"
#include "protocol/analytics_message.h"
#include "protocol/federation_config.h"

namespace cairn::aggregator {

// What one job released, and why the others were not.
struct AnalyticsOutcome {
  std::vector<analytics::QueryResult> results;  // released, in config order
  std::vector<std::string> skipped;             // "query 'q': reason" (budget, no partials, ...)
  std::vector<std::string> contributors;        // parties whose partials were combined (sorted)
  std::size_t declines = 0;
  double epsilon_charged = 0;                   // ledger ε after minus before
  std::string results_json;                     // analytics::ResultsToJson(results): the signed bytes
};

class AnalyticsJob {
 public:
  AnalyticsJob(std::uint64_t job, std::vector<analytics::QuerySpec> queries, std::vector<std::string> cohort);

  std::uint64_t job() const { return job_; }
  const std::vector<std::string>& cohort() const { return cohort_; }
  protocol::AnalyticsRequest Request() const;
  // True when `participant` is in the cohort and still owes answers (rejoin: ask again).
  bool Owes(const std::string& participant) const;

  // A partial or decline from `participant` (the ZAP-authenticated roster id). The rejection to
  // send back when it is malformed, for another job, for a query it was not asked, or a repeat.
  std::optional<Rejection> OnMessage(const std::string& participant, const protocol::AnalyticsMessage& message);
  // Every cohort member has answered (partial, decline or rejected) every query.
  bool complete() const;

  // Plans, checks the budget, charges and releases every query in config order. `ledger` may be
  // null only when no query has noise. A query the budget cannot pay for, or with no partial,
  // is skipped (named in `skipped`); noise = false queries are released without a charge (their
  // ε is infinite; every contributing party's policy had to allow_exact).
  Result<AnalyticsOutcome> Release(dp::PrivacyLedger* ledger, dp::RandomSource& rng, std::uint32_t roster_size);

 private:
  const analytics::QuerySpec* Find(const std::string& name) const;

  std::uint64_t job_;
  std::vector<analytics::QuerySpec> queries_;
  std::vector<std::string> cohort_;
  std::map<std::string, std::vector<analytics::PartyPartial>> partials_;  // by query
  std::map<std::string, std::set<std::string>> answered_;                 // query → parties
  std::size_t declines_ = 0;
};

}  // namespace cairn::aggregator
