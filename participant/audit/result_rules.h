// What a signed round result must satisfy against the attested federation configuration and the
// result before it. One set of rules for two readers: the participant applies them to every result
// it accepts (participant/client.cc), and `cairn-participant audit` to a whole results.jsonl.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/federation_config.h"
#include "protocol/round_result.h"

namespace cairn::participant {

struct ResultRuleViolation {
  std::string check;   // "contributors", "quorum", "epsilon-budget", "delta", "after-final", "epsilon-decreasing"
  std::string detail;
};

// The result's content against the attested configuration: contributors in the roster, a completed
// round with at least the quorum, ε within the budget (none when privacy is off), δ as attested.
// Federation id, configuration hash and signature are checked by the callers (they differ).
std::vector<ResultRuleViolation> CheckResultAgainstConfig(const protocol::RoundResult& r,
                                                          const protocol::FederationConfig& fed);

// What the previous verified result says that a later one must respect.
struct PreviousResult {
  std::uint64_t round = 0;
  double epsilon_spent = 0;
  bool final = false;
};
// Nothing after a result marked final; ε never decreases.
std::vector<ResultRuleViolation> CheckResultSuccession(const protocol::RoundResult& r, const PreviousResult& prev);

// "check: detail; check: detail" for an error message.
std::string JoinViolations(const std::vector<ResultRuleViolation>& v);

}  // namespace cairn::participant
