// Clean-room analytics messages, carried in the Envelope's `analytics` arm (protocol::AnalyticsData)
// on the CurveZMQ control channel, so the sender of each is the authenticated roster member.
//
// Wire form, version 1 (big-endian), every message:
//   u8 version = 1, u8 type, u64 job (the round id the job's signed result will carry), then
//   request  (1, aggregator → party): u32 n, n × (u32 length, query name)
//   partial  (2, party → aggregator): the rest is one analytics::EncodePartial blob ("CAPT" v1)
//   decline  (3, party → aggregator): u32 length, query name, u32 length, reason
//   release  (4, aggregator → party): u32 length, the results JSON (analytics::ResultsToJson)
// Strict: unknown version or type, lengths over their limits, and trailing bytes are errors.
// A decline reason is metadata only: the policy rule a query broke, or that the party cannot
// compute it; never a cell value.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"

namespace cairn::protocol {

inline constexpr std::uint8_t kAnalyticsVersion = 1;
inline constexpr std::size_t kMaxDeclineReasonBytes = 1024;
// Results JSON inside one control message (1 MiB) with room for the envelope.
inline constexpr std::size_t kMaxReleaseJsonBytes = (1u << 20) - 4096;

struct AnalyticsRequest {
  std::uint64_t job = 0;
  std::vector<std::string> queries;  // names, in the config's order
};
struct AnalyticsPartial {
  std::uint64_t job = 0;
  Bytes partial;  // analytics::EncodePartial
};
struct AnalyticsDecline {
  std::uint64_t job = 0;
  std::string query;
  std::string reason;
};
struct AnalyticsRelease {
  std::uint64_t job = 0;
  std::string results_json;  // its SHA-256 is in the job's signed RoundResult (AnalyticsDigestDetail)
};
using AnalyticsMessage = std::variant<AnalyticsRequest, AnalyticsPartial, AnalyticsDecline, AnalyticsRelease>;

Result<Bytes> EncodeAnalytics(const AnalyticsMessage& message);
Result<AnalyticsMessage> DecodeAnalytics(ByteSpan bytes);
const char* AnalyticsMessageName(const AnalyticsMessage& message);

// The signed round result of an analytics job has detail = AnalyticsDigestDetail(SHA-256 of the
// results JSON bytes): "analytics-results-sha256:<64 hex>". ParseAnalyticsDigestDetail returns
// the hex digest, or "" when the detail is not of that form (a training round).
inline constexpr std::string_view kAnalyticsDetailPrefix = "analytics-results-sha256:";
std::string AnalyticsDigestDetail(std::string_view results_json);
std::string ParseAnalyticsDigestDetail(std::string_view detail);

}  // namespace cairn::protocol
