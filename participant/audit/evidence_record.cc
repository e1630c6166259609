#include "participant/audit/evidence_record.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/core/file.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace cairn::participant::audit {
namespace {

Result<protocol::Evidence> DecodeEvidence(ByteSpan bytes, const std::string& where) {
  auto m = protocol::Decode(bytes, protocol::kMaxAttestationMessageBytes);
  if (!m) return Fail(std::move(m).error().Context(where + ": evidence"));
  auto* e = std::get_if<protocol::Evidence>(&*m);
  if (!e) {
    return Fail(ErrorCode::kInvalidArgument,
                where + ": the encoded message is " + protocol::MessageName(*m) + ", not Evidence");
  }
  return std::move(*e);
}

Result<std::array<std::uint8_t, 32>> DecodeNonce(ByteSpan data, const std::string& where) {
  std::array<std::uint8_t, 32> nonce{};
  if (data.size() == 32) {
    std::copy(data.begin(), data.end(), nonce.begin());
    return nonce;
  }
  std::string text(AsChars(data));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  auto b = HexDecode(text);
  if (!b || b->size() != 32) {
    return Fail(ErrorCode::kInvalidArgument, where + ": a nonce is 32 bytes (raw) or 64 hex digits");
  }
  std::copy(b->begin(), b->end(), nonce.begin());
  return nonce;
}

bool LooksLikeJsonLines(const Bytes& data) {
  for (auto c : data) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

std::string EvidenceRecordToJson(const EvidenceRecord& r) {
  nlohmann::ordered_json j;
  j["format"] = kEvidenceRecordFormat;
  j["received_at_ms"] = r.received_at_ms;
  j["aggregator"] = r.aggregator;
  j["nonce"] = HexEncode(r.nonce);
  j["evidence"] = HexEncode(protocol::Encode(r.evidence));
  return j.dump();
}

Result<EvidenceRecord> EvidenceRecordFromJson(std::string_view line, std::string source) {
  EvidenceRecord r;
  r.source = std::move(source);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, r.source + ": not JSON: " + e.what());
  }
  auto field = [&](const char* key, nlohmann::json::value_t type) -> Result<const nlohmann::json*> {
    if (!j.is_object() || !j.contains(key)) {
      return Fail(ErrorCode::kInvalidArgument, r.source + ": field '" + key + "' is missing");
    }
    const auto& v = j[key];
    bool ok = v.type() == type ||
              (type == nlohmann::json::value_t::number_integer && v.type() == nlohmann::json::value_t::number_unsigned);
    if (!ok) return Fail(ErrorCode::kInvalidArgument, r.source + ": field '" + key + "' has the wrong type");
    return &v;
  };
  using T = nlohmann::json::value_t;
  CAIRN_ASSIGN_OR_RETURN(auto format, field("format", T::string));
  if (format->get<std::string>() != kEvidenceRecordFormat) {
    return Fail(ErrorCode::kInvalidArgument, r.source + ": format is '" + format->get<std::string>() + "', expected '" +
                                                 std::string(kEvidenceRecordFormat) + "'");
  }
  CAIRN_ASSIGN_OR_RETURN(auto at, field("received_at_ms", T::number_integer));
  r.received_at_ms = at->get<std::int64_t>();
  CAIRN_ASSIGN_OR_RETURN(auto agg, field("aggregator", T::string));
  r.aggregator = agg->get<std::string>();
  CAIRN_ASSIGN_OR_RETURN(auto nonce, field("nonce", T::string));
  auto nonce_bytes = HexDecode(nonce->get<std::string>());
  if (!nonce_bytes || nonce_bytes->size() != 32) {
    return Fail(ErrorCode::kInvalidArgument, r.source + ": field 'nonce' must be 64 hex digits");
  }
  std::copy(nonce_bytes->begin(), nonce_bytes->end(), r.nonce.begin());
  CAIRN_ASSIGN_OR_RETURN(auto ev, field("evidence", T::string));
  auto ev_bytes = HexDecode(ev->get<std::string>());
  if (!ev_bytes) return Fail(ErrorCode::kInvalidArgument, r.source + ": field 'evidence': " + ev_bytes.error().message());
  CAIRN_ASSIGN_OR_RETURN(r.evidence, DecodeEvidence(*ev_bytes, r.source));
  for (const auto& [key, value] : j.items()) {
    if (key != "format" && key != "received_at_ms" && key != "aggregator" && key != "nonce" && key != "evidence") {
      return Fail(ErrorCode::kInvalidArgument, r.source + ": unknown field '" + key + "'");
    }
  }
  return r;
}

Status AppendEvidenceRecord(const std::filesystem::path& path, const EvidenceRecord& record) {
  return AppendLineDurable(path, EvidenceRecordToJson(record));
}

Result<std::vector<EvidenceRecord>> ReadEvidenceFile(const std::filesystem::path& path,
                                                     std::optional<std::array<std::uint8_t, 32>> nonce) {
  CAIRN_ASSIGN_OR_RETURN(Bytes data, ReadFileBytes(path, kMaxEvidenceFileBytes));
  std::vector<EvidenceRecord> out;
  if (LooksLikeJsonLines(data)) {
    std::istringstream in{std::string(AsChars(data))};
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (out.size() == kMaxEvidenceRecords) {
        return Fail(ErrorCode::kOutOfRange, path.string() + ": more than " + std::to_string(kMaxEvidenceRecords) +
                                                " evidence records");
      }
      CAIRN_ASSIGN_OR_RETURN(auto r, EvidenceRecordFromJson(line, path.string() + ":" + std::to_string(n)));
      out.push_back(std::move(r));
    }
    if (out.empty()) return Fail(ErrorCode::kInvalidArgument, path.string() + ": no evidence record");
    return out;
  }
  // A raw Encode(Evidence), binary or hex, with the nonce beside it.
  EvidenceRecord r;
  r.source = path.string();
  Bytes raw = data;
  {
    std::string text(AsChars(data));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (auto hex = HexDecode(text); hex && !hex->empty()) raw = std::move(*hex);
  }
  CAIRN_ASSIGN_OR_RETURN(r.evidence, DecodeEvidence(raw, r.source));
  if (nonce) {
    r.nonce = *nonce;
  } else {
    std::filesystem::path sidecar = path;
    sidecar += ".nonce";
    if (!std::filesystem::exists(sidecar)) sidecar = path.parent_path() / "nonce";
    if (!std::filesystem::exists(sidecar)) {
      return Fail(ErrorCode::kNotFound, path.string() + " holds raw evidence, and no nonce was given (--nonce, " +
                                            path.string() + ".nonce or " + (path.parent_path() / "nonce").string() +
                                            ")");
    }
    CAIRN_ASSIGN_OR_RETURN(Bytes n, ReadFileBytes(sidecar, 1024));
    CAIRN_ASSIGN_OR_RETURN(r.nonce, DecodeNonce(n, sidecar.string()));
  }
  out.push_back(std::move(r));
  return out;
}

}  // namespace cairn::participant::audit
