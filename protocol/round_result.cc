#include "protocol/round_result.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <type_traits>

#include "protocol/limits.h"

namespace cairn::protocol {
namespace {

void AppendDouble(Bytes& out, double v) { AppendU64(out, std::bit_cast<std::uint64_t>(v)); }

void AppendMetrics(Bytes& out, const std::vector<Metric>& metrics) {
  AppendU32(out, static_cast<std::uint32_t>(metrics.size()));
  for (const auto& m : metrics) {
    AppendLengthPrefixed(out, m.name);
    AppendDouble(out, m.value);
  }
}

}  // namespace

Bytes SigningBytes(const RoundResult& r) {
  Bytes out;
  AppendLengthPrefixed(out, std::string_view("cairn/round-result/v1"));
  AppendLengthPrefixed(out, r.federation_id);
  AppendU64(out, r.round);
  AppendU8(out, static_cast<std::uint8_t>(r.status));
  AppendLengthPrefixed(out, r.detail);
  AppendU32(out, static_cast<std::uint32_t>(r.contributors.size()));
  for (const auto& c : r.contributors) AppendLengthPrefixed(out, c);
  AppendU64(out, r.num_examples);
  AppendU64(out, r.model_version);
  AppendBytes(out, r.model_hash);
  AppendU64(out, r.num_params);
  AppendLengthPrefixed(out, r.strategy);
  AppendMetrics(out, r.strategy_params);
  AppendLengthPrefixed(out, r.platform);
  AppendBytes(out, r.config_hash);
  AppendDouble(out, r.epsilon_spent);
  AppendDouble(out, r.delta);
  AppendDouble(out, r.noise_multiplier);
  AppendDouble(out, r.clip_norm);
  AppendLengthPrefixed(out, r.prev_hash);
  AppendU64(out, static_cast<std::uint64_t>(r.unix_millis));
  AppendU8(out, r.final ? 1 : 0);
  AppendMetrics(out, r.metrics);
  AppendMetrics(out, r.extensions);
  return out;
}

void SignResult(RoundResult& result, const crypto::Ed25519KeyPair& key) {
  result.signature = key.Sign(SigningBytes(result));
}

Status VerifyResultSignature(const RoundResult& result, const crypto::Ed25519PublicKey& key) {
  if (!crypto::Ed25519Verify(key, SigningBytes(result), result.signature)) {
    return Fail(ErrorCode::kUnauthenticated,
                "the signature of round result " + std::to_string(result.round) +
                    " does not verify with the attested signing key");
  }
  return Ok();
}

crypto::Sha256Digest ResultHash(const RoundResult& result) {
  Bytes b = SigningBytes(result);
  AppendBytes(b, result.signature);
  return crypto::Sha256(b);
}

namespace {

// JSON has no inf or NaN (nlohmann writes null, which then does not parse back as a number). The
// engine never signs one (it drops such a metric first), but should one reach this writer it is
// written as the string "inf", "-inf" or "nan", which ResultFromJson reads back: never a silent
// null that makes the line unreadable on restart.
nlohmann::ordered_json NumberJson(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

bool IsNumberJson(const nlohmann::json& j) {
  return j.is_number() || (j.is_string() && (j == "inf" || j == "-inf" || j == "nan"));
}

double NumberFromJson(const nlohmann::json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  return j.get<double>();  // throws type_error for anything else
}

nlohmann::ordered_json MetricsJson(const std::vector<Metric>& metrics) {
  auto arr = nlohmann::ordered_json::array();
  for (const auto& m : metrics) arr.push_back({{"name", m.name}, {"value", NumberJson(m.value)}});
  return arr;
}

template <std::size_t N>
Status HexField(const nlohmann::json& j, const char* key, std::array<std::uint8_t, N>& out) {
  if (!j.contains(key) || !j[key].is_string()) {
    return Fail(ErrorCode::kInvalidArgument, std::string("field '") + key + "' is missing or not a string");
  }
  auto bytes = HexDecode(j[key].get<std::string>());
  if (!bytes || bytes->size() != N) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("field '") + key + "' must be " + std::to_string(N) + " bytes of hex");
  }
  std::memcpy(out.data(), bytes->data(), N);
  return Ok();
}

Status MetricsField(const nlohmann::json& j, const char* key, std::vector<Metric>& out) {
  if (!j.contains(key)) return Ok();
  if (!j[key].is_array() || j[key].size() > kMaxMetrics) {
    return Fail(ErrorCode::kInvalidArgument, std::string("field '") + key + "' must be a list of metrics");
  }
  for (const auto& m : j[key]) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string() || !m.contains("value") ||
        !IsNumberJson(m["value"])) {
      return Fail(ErrorCode::kInvalidArgument, std::string("field '") + key + "' has a malformed metric");
    }
    out.push_back(Metric{m["name"].get<std::string>(), NumberFromJson(m["value"])});
  }
  return Ok();
}

}  // namespace

std::string ResultToJson(const RoundResult& r) {
  nlohmann::ordered_json j;
  j["federation_id"] = r.federation_id;
  j["round"] = r.round;
  j["status"] = RoundStatusName(r.status);
  j["detail"] = r.detail;
  j["contributors"] = r.contributors;
  j["num_examples"] = r.num_examples;
  j["model_version"] = r.model_version;
  j["model_hash"] = HexEncode(r.model_hash);
  j["num_params"] = r.num_params;
  j["strategy"] = r.strategy;
  j["strategy_params"] = MetricsJson(r.strategy_params);
  j["platform"] = r.platform;
  j["config_hash"] = HexEncode(r.config_hash);
  j["epsilon_spent"] = NumberJson(r.epsilon_spent);
  j["delta"] = NumberJson(r.delta);
  j["noise_multiplier"] = NumberJson(r.noise_multiplier);
  j["clip_norm"] = NumberJson(r.clip_norm);
  j["prev_hash"] = HexEncode(r.prev_hash);
  j["unix_millis"] = r.unix_millis;
  j["final"] = r.final;
  j["metrics"] = MetricsJson(r.metrics);
  j["extensions"] = MetricsJson(r.extensions);
  j["signature"] = HexEncode(r.signature);
  j["hash"] = HexEncode(ResultHash(r));
  // The engine signs only valid UTF-8 (the decoders refuse anything else); replace, never throw.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

namespace {

// An integer field, refused unless the JSON holds an integer of the right sign: nlohmann's get<>
// would cast a float such as 1e300 to the integer type, which is undefined behaviour.
struct BadIntegerField : std::runtime_error {
  using std::runtime_error::runtime_error;
};
template <typename T>
T IntegerField(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  if (!v.is_number_integer() || (std::is_unsigned_v<T> && !v.is_number_unsigned())) {
    throw BadIntegerField(std::string("field '") + key + "' must be " +
                          (std::is_unsigned_v<T> ? "a non-negative integer" : "an integer"));
  }
  if constexpr (std::is_signed_v<T>) {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      throw BadIntegerField(std::string("field '") + key + "' is out of range");
    }
  }
  return v.get<T>();
}

}  // namespace

Result<RoundResult> ResultFromJson(std::string_view line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) return Fail(ErrorCode::kInvalidArgument, "a round result must be a JSON object");
  RoundResult r;
  try {
    r.federation_id = j.at("federation_id").get<std::string>();
    r.round = IntegerField<std::uint64_t>(j, "round");
    std::string status = j.at("status").get<std::string>();
    if (status == "completed") r.status = RoundStatus::kCompleted;
    else if (status == "failed-quorum") r.status = RoundStatus::kFailedQuorum;
    else if (status == "aborted") r.status = RoundStatus::kAborted;
    else return Fail(ErrorCode::kInvalidArgument, "unknown status '" + status + "'");
    r.detail = j.at("detail").get<std::string>();
    r.contributors = j.at("contributors").get<std::vector<std::string>>();
    r.num_examples = IntegerField<std::uint64_t>(j, "num_examples");
    r.model_version = IntegerField<std::uint64_t>(j, "model_version");
    r.num_params = IntegerField<std::uint64_t>(j, "num_params");
    r.strategy = j.at("strategy").get<std::string>();
    r.platform = j.at("platform").get<std::string>();
    r.epsilon_spent = NumberFromJson(j.at("epsilon_spent"));
    r.delta = NumberFromJson(j.at("delta"));
    r.noise_multiplier = NumberFromJson(j.at("noise_multiplier"));
    r.clip_norm = NumberFromJson(j.at("clip_norm"));
    r.unix_millis = IntegerField<std::int64_t>(j, "unix_millis");
    r.final = j.at("final").get<bool>();
    auto prev = HexDecode(j.at("prev_hash").get<std::string>());
    if (!prev || (prev->size() != 0 && prev->size() != 32)) {
      return Fail(ErrorCode::kInvalidArgument, "field 'prev_hash' must be empty or 32 bytes of hex");
    }
    r.prev_hash = std::move(*prev);
  } catch (const nlohmann::json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("malformed round result: ") + e.what());
  } catch (const BadIntegerField& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("malformed round result: ") + e.what());
  }
  CAIRN_RETURN_IF_ERROR(HexField(j, "model_hash", r.model_hash));
  CAIRN_RETURN_IF_ERROR(HexField(j, "config_hash", r.config_hash));
  CAIRN_RETURN_IF_ERROR(HexField(j, "signature", r.signature));
  CAIRN_RETURN_IF_ERROR(MetricsField(j, "strategy_params", r.strategy_params));
  CAIRN_RETURN_IF_ERROR(MetricsField(j, "metrics", r.metrics));
  CAIRN_RETURN_IF_ERROR(MetricsField(j, "extensions", r.extensions));
  return r;
}

}  // namespace cairn::protocol
