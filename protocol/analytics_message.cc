#include "protocol/analytics_message.h"

#include "common/analytics/partial.h"
#include "common/analytics/query_spec.h"
#include "common/core/bytes.h"
#include "common/crypto/crypto.h"
#include "protocol/text.h"

namespace cairn::protocol {
namespace {

enum Type : std::uint8_t { kRequest = 1, kPartial = 2, kDecline = 3, kRelease = 4 };

void PutText(Bytes& out, std::string_view s) {
  AppendU32(out, static_cast<std::uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

Error Bad(std::string what) {
  return Error(ErrorCode::kInvalidArgument, "malformed analytics message: " + std::move(what));
}

struct Reader {
  ByteSpan b;
  std::size_t at = 0;
  bool U8(std::uint8_t& v) {
    if (b.size() - at < 1) return false;
    v = b[at++];
    return true;
  }
  bool U32(std::uint32_t& v) {
    if (b.size() - at < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | b[at++];
    return true;
  }
  bool U64(std::uint64_t& v) {
    if (b.size() - at < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | b[at++];
    return true;
  }
  Status Text(std::string& out, std::size_t max, const char* what) {
    std::uint32_t n = 0;
    if (!U32(n)) return Fail(Bad(std::string("truncated length of the ") + what));
    if (n > max) return Fail(Bad(std::string("the ") + what + " has " + std::to_string(n) + " bytes, above " + std::to_string(max)));
    if (b.size() - at < n) return Fail(Bad(std::string("truncated ") + what));
    out.assign(reinterpret_cast<const char*>(b.data() + at), n);
    at += n;
    // Names and reasons reach log lines, rejection details and JSON: UTF-8 only.
    if (!IsValidUtf8(out)) return Fail(Bad(std::string("the ") + what + " is not valid UTF-8"));
    return Ok();
  }
  // A query name: what the configuration allows (analytics::kMaxNameBytes, [A-Za-z0-9._-]).
  Status QueryName(std::string& out) {
    CAIRN_RETURN_IF_ERROR(Text(out, analytics::kMaxNameBytes, "query name"));
    if (!IsValidMetricName(out)) {
      return Fail(Bad("the query name must be 1 to " + std::to_string(analytics::kMaxNameBytes) +
                      " characters of [A-Za-z0-9._-]"));
    }
    return Ok();
  }
};

}  // namespace

Result<Bytes> EncodeAnalytics(const AnalyticsMessage& message) {
  Bytes out;
  out.push_back(kAnalyticsVersion);
  if (auto* r = std::get_if<AnalyticsRequest>(&message)) {
    if (r->queries.size() > analytics::kMaxQueries) return Fail(Bad("too many queries in a request"));
    out.push_back(kRequest);
    AppendU64(out, r->job);
    AppendU32(out, static_cast<std::uint32_t>(r->queries.size()));
    for (const auto& q : r->queries) PutText(out, q);
  } else if (auto* p = std::get_if<AnalyticsPartial>(&message)) {
    if (p->partial.size() > analytics::kMaxPartialBytes) return Fail(Bad("the partial is too large"));
    out.push_back(kPartial);
    AppendU64(out, p->job);
    out.insert(out.end(), p->partial.begin(), p->partial.end());
  } else if (auto* d = std::get_if<AnalyticsDecline>(&message)) {
    out.push_back(kDecline);
    AppendU64(out, d->job);
    // Cut at a character boundary: the decoder refuses a reason that is not UTF-8.
    PutText(out, TruncateUtf8(d->query, analytics::kMaxNameBytes));
    PutText(out, TruncateUtf8(d->reason, kMaxDeclineReasonBytes));
  } else if (auto* rel = std::get_if<AnalyticsRelease>(&message)) {
    if (rel->results_json.size() > kMaxReleaseJsonBytes) {
      return Fail(ErrorCode::kOutOfRange, "the results JSON has " + std::to_string(rel->results_json.size()) +
                                              " bytes, above the " + std::to_string(kMaxReleaseJsonBytes) +
                                              " one control message carries");
    }
    out.push_back(kRelease);
    AppendU64(out, rel->job);
    PutText(out, rel->results_json);
  }
  return out;
}

Result<AnalyticsMessage> DecodeAnalytics(ByteSpan bytes) {
  Reader r{bytes};
  std::uint8_t version = 0, type = 0;
  std::uint64_t job = 0;
  if (!r.U8(version) || !r.U8(type) || !r.U64(job)) return Fail(Bad("shorter than its 10-byte header"));
  if (version != kAnalyticsVersion) return Fail(Bad("version " + std::to_string(version) + " (expected 1)"));
  AnalyticsMessage out;
  switch (type) {
    case kRequest: {
      AnalyticsRequest m{job, {}};
      std::uint32_t n = 0;
      if (!r.U32(n)) return Fail(Bad("truncated query count"));
      if (n > analytics::kMaxQueries) return Fail(Bad("a request for " + std::to_string(n) + " queries"));
      for (std::uint32_t i = 0; i < n; ++i) {
        std::string name;
        CAIRN_RETURN_IF_ERROR(r.QueryName(name));
        m.queries.push_back(std::move(name));
      }
      out = std::move(m);
      break;
    }
    case kPartial: {
      std::size_t n = bytes.size() - r.at;
      if (n > analytics::kMaxPartialBytes) return Fail(Bad("the partial is larger than " + std::to_string(analytics::kMaxPartialBytes) + " bytes"));
      out = AnalyticsPartial{job, Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(r.at), bytes.end())};
      r.at = bytes.size();
      break;
    }
    case kDecline: {
      AnalyticsDecline m{job, {}, {}};
      CAIRN_RETURN_IF_ERROR(r.QueryName(m.query));
      CAIRN_RETURN_IF_ERROR(r.Text(m.reason, kMaxDeclineReasonBytes, "decline reason"));
      out = std::move(m);
      break;
    }
    case kRelease: {
      AnalyticsRelease m{job, {}};
      CAIRN_RETURN_IF_ERROR(r.Text(m.results_json, kMaxReleaseJsonBytes, "results JSON"));
      out = std::move(m);
      break;
    }
    default:
      return Fail(Bad("unknown type " + std::to_string(type)));
  }
  if (r.at != bytes.size()) return Fail(Bad(std::to_string(bytes.size() - r.at) + " trailing bytes"));
  return out;
}

const char* AnalyticsMessageName(const AnalyticsMessage& message) {
  static constexpr const char* kNames[] = {"request", "partial", "decline", "release"};
  return kNames[message.index()];
}

std::string AnalyticsDigestDetail(std::string_view results_json) {
  auto d = crypto::Sha256(AsBytes(results_json));
  return std::string(kAnalyticsDetailPrefix) + HexEncode(d);
}

std::string ParseAnalyticsDigestDetail(std::string_view detail) {
  if (!detail.starts_with(kAnalyticsDetailPrefix)) return "";
  std::string_view hex = detail.substr(kAnalyticsDetailPrefix.size());
  if (hex.size() != 64) return "";
  return std::string(hex);
}

}  // namespace cairn::protocol
