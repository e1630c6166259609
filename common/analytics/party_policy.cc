#include "common/analytics/party_policy.h"

#include <algorithm>
#include <set>

namespace cairn::analytics {

Result<PartyPolicy> ParsePartyPolicy(TomlReader& t) {
  PartyPolicy p;
  CAIRN_RETURN_IF_ERROR(t.Require("allowed_columns", p.allowed_columns));
  std::set<std::string> seen;
  for (const auto& c : p.allowed_columns) {
    if (c.empty() || c.size() > kMaxColumnNameBytes) {
      return Fail(ErrorCode::kInvalidArgument, t.Where("allowed_columns") + " has an empty or over-long column name");
    }
    if (!seen.insert(c).second) {
      return Fail(ErrorCode::kInvalidArgument, t.Where("allowed_columns") + " lists '" + c + "' twice");
    }
  }
  std::vector<std::string> kinds;
  CAIRN_RETURN_IF_ERROR(t.Require("allowed_kinds", kinds));
  for (const auto& k : kinds) {
    auto kind = ParseQueryKind(k);
    if (!kind) return Fail(ErrorCode::kInvalidArgument, t.Where("allowed_kinds") + ": " + kind.error().message());
    if (std::find(p.allowed_kinds.begin(), p.allowed_kinds.end(), *kind) != p.allowed_kinds.end()) {
      return Fail(ErrorCode::kInvalidArgument, t.Where("allowed_kinds") + " lists '" + k + "' twice");
    }
    p.allowed_kinds.push_back(*kind);
  }
  CAIRN_RETURN_IF_ERROR(t.Get("max_epsilon_per_query", p.max_epsilon_per_query, 0.0, kMaxQueryEpsilon));
  if (!(p.max_epsilon_per_query > 0.0)) {
    return Fail(ErrorCode::kInvalidArgument, t.Where("max_epsilon_per_query") + " must be > 0");
  }
  std::int64_t min_rows = static_cast<std::int64_t>(p.min_rows_at_least);
  CAIRN_RETURN_IF_ERROR(t.Get("min_rows_at_least", min_rows, 1, static_cast<std::int64_t>(kMaxMinRows)));
  p.min_rows_at_least = static_cast<std::uint64_t>(min_rows);
  CAIRN_RETURN_IF_ERROR(t.Get("min_parties_at_least", p.min_parties_at_least, 1u, kMaxParties));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_exact", p.allow_exact));
  return p;
}

Status CheckQueryAllowed(const QuerySpec& spec, const PartyPolicy& policy) {
  const std::string q = "query '" + spec.name + "': ";
  auto deny = [&](const std::string& why) { return Fail(ErrorCode::kPermissionDenied, q + why); };
  if (std::find(policy.allowed_kinds.begin(), policy.allowed_kinds.end(), spec.kind) == policy.allowed_kinds.end()) {
    return deny("kind '" + std::string(QueryKindName(spec.kind)) + "' is not in this party's allowed_kinds");
  }
  for (const auto& c : spec.ReferencedColumns()) {
    if (std::find(policy.allowed_columns.begin(), policy.allowed_columns.end(), c) == policy.allowed_columns.end()) {
      return deny("column '" + c + "' is not in this party's allowed_columns");
    }
  }
  if (!spec.noise) {
    if (!policy.allow_exact) return deny("noise = false (exact answers) is refused by this party (allow_exact = false)");
  } else if (spec.epsilon > policy.max_epsilon_per_query) {
    return deny("epsilon " + FormatNumber(spec.epsilon) + " is above this party's max_epsilon_per_query " +
                FormatNumber(policy.max_epsilon_per_query));
  }
  if (spec.min_rows < policy.min_rows_at_least) {
    return deny("min_rows " + std::to_string(spec.min_rows) + " is below this party's min_rows_at_least " +
                std::to_string(policy.min_rows_at_least));
  }
  if (spec.min_parties < policy.min_parties_at_least) {
    return deny("min_parties " + std::to_string(spec.min_parties) + " is below this party's min_parties_at_least " +
                std::to_string(policy.min_parties_at_least));
  }
  return Ok();
}

}  // namespace cairn::analytics
