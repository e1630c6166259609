#include "participant/audit/result_rules.h"

#include <cstdio>
#include <set>

#include "protocol/analytics_message.h"

namespace cairn::participant {
namespace {

// Relative slack on the ε budget comparison: the engine refuses any round whose ε would exceed
// the budget, so a signed ε above it by more than rounding is a violation.
constexpr double kEpsilonSlack = 1e-9;

std::string Num(double x) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.6g", x);
  return b;
}

}  // namespace

std::vector<ResultRuleViolation> CheckResultAgainstConfig(const protocol::RoundResult& r,
                                                          const protocol::FederationConfig& fed) {
  std::vector<ResultRuleViolation> out;
  std::set<std::string> roster;
  for (const auto& p : fed.roster) roster.insert(p.id);
  std::string strangers;
  for (const auto& c : r.contributors) {
    if (!roster.contains(c)) strangers += (strangers.empty() ? "" : ", ") + c;
  }
  if (!strangers.empty()) out.push_back({"contributors", "not in the attested roster: " + strangers});
  // The quorum is the training rounds' rule; a clean-room release has per-query minimums of
  // parties instead (docs/analytics.md), checked inside the enclave.
  const bool release = !protocol::ParseAnalyticsDigestDetail(r.detail).empty();
  if (r.status == protocol::RoundStatus::kCompleted && !release && r.contributors.size() < fed.min_participants) {
    out.push_back({"quorum", "completed with " + std::to_string(r.contributors.size()) +
                                 " contributors; the attested quorum is " + std::to_string(fed.min_participants)});
  }
  // The ledger exists with DP training or with clean-room queries (they charge it even when
  // training runs without DP), and spends from the same budget either way.
  const bool ledger = fed.privacy.enabled || (fed.runs_analytics() && !fed.queries.empty());
  if (ledger) {
    if (r.epsilon_spent > fed.privacy.epsilon_budget * (1 + kEpsilonSlack)) {
      out.push_back({"epsilon-budget", "ε = " + Num(r.epsilon_spent) + " exceeds the attested budget " +
                                           Num(fed.privacy.epsilon_budget)});
    }
    if (r.delta != fed.privacy.delta) {
      out.push_back({"delta", "δ = " + Num(r.delta) + ", attested " + Num(fed.privacy.delta)});
    }
  } else if (r.epsilon_spent != 0) {
    out.push_back({"epsilon-budget", "the attested config has neither differential privacy nor clean-room queries, yet ε = " +
                                         Num(r.epsilon_spent)});
  }
  return out;
}

std::vector<ResultRuleViolation> CheckResultSuccession(const protocol::RoundResult& r, const PreviousResult& prev) {
  std::vector<ResultRuleViolation> out;
  if (prev.final) {
    out.push_back({"after-final", "follows round " + std::to_string(prev.round) + ", which was marked final"});
  }
  if (r.epsilon_spent < prev.epsilon_spent) {
    out.push_back({"epsilon-decreasing", "ε = " + Num(r.epsilon_spent) + " after " + Num(prev.epsilon_spent) +
                                             " in round " + std::to_string(prev.round)});
  }
  return out;
}

std::string JoinViolations(const std::vector<ResultRuleViolation>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "; ") + x.check + ": " + x.detail;
  return s;
}

}  // namespace cairn::participant
