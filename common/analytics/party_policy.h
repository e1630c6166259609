// A party's own analytics policy (participant side): which of its columns and which query kinds
// it lets the federation compute over, and the minimum protection it demands of every query. A
// query outside the policy is refused by that party with a reason naming the column, kind or
// limit; the party then sends no partial for that query (the others may still run it).
//
//   [analytics]                      # in the participant's own config (not attested, not shared)
//   allowed_columns = ["merchant_category", "amount", "country", "is_fraud"]
//   allowed_kinds = ["count", "mean", "histogram"]
//   max_epsilon_per_query = 1.0      # refuse a query whose ε is larger
//   min_rows_at_least = 20           # refuse a query whose min_rows (k) is smaller
//   min_parties_at_least = 2         # refuse a query whose min_parties (m) is smaller
//   allow_exact = false              # refuse noise = false queries (exact answers; tests only)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/analytics/query_spec.h"
#include "common/core/error.h"
#include "common/core/toml_reader.h"

namespace cairn::analytics {

struct PartyPolicy {
  // Columns a query may read (value, group_by and every predicate column). Required.
  std::vector<std::string> allowed_columns{};
  // Query kinds allowed. Required.
  std::vector<QueryKind> allowed_kinds{};
  // Largest ε one query may spend on this party's rows.
  double max_epsilon_per_query = 1.0;
  // The smallest min_rows (k) and min_parties (m) a query may declare.
  std::uint64_t min_rows_at_least = 10;
  std::uint32_t min_parties_at_least = 1;
  // Whether a noise = false query (exact answers) is acceptable: only in tests.
  bool allow_exact = false;

  bool operator==(const PartyPolicy&) const = default;
};

// Reads the policy keys from `table` (e.g. the participant config's [analytics] table). Does NOT
// call table.Finish(): the caller may keep its own keys in the same table (the data file path)
// and finishes it after reading them. Errors name the file, line and key.
Result<PartyPolicy> ParsePartyPolicy(TomlReader& table);

// Ok, or kPermissionDenied with a reason that names the query and the column, kind or limit:
// "query 'q': column 'salary' is not in this party's allowed_columns". Reasons name only the
// query's own (attested, public) fields and the policy's limits: safe to send to the aggregator.
Status CheckQueryAllowed(const QuerySpec& spec, const PartyPolicy& policy);

}  // namespace cairn::analytics
