#include "common/core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

namespace cairn::log {
namespace {

// The allowlist. Adding a key here is a reviewable decision: a key's values must be metadata
// (identifiers, counts, sizes, durations, codes, privacy parameters), never data.
constexpr std::array<std::string_view, 59> kAllowedKeys = {
    "round", "participant", "participants", "committed", "cohort", "quorum", "bytes",
    "chunks", "chunk", "chunk_bytes", "params", "duration_ms", "deadline_ms", "code", "error",
    "reason", "epsilon", "delta", "noise_multiplier", "sampling_rate", "clip_norm", "strategy",
    "platform", "verdict", "check", "endpoint", "attestation_endpoint", "control_endpoint",
    "data_endpoint", "state_dir", "path", "version", "attempt", "backoff_ms", "status",
    "examples", "rounds", "federation", "model_version", "model_hash", "result_hash",
    "measurement", "tcb_status", "query", "queries", "suppressed_groups", "retries", "session",
    "phase", "limit", "threads", "mode", "evidence_bytes", "rss_bytes", "metrics_endpoint",
    "dropouts", "masking", "count", "pages"};

struct State {
  std::mutex mu;
  Format format = Format::kText;
  Level level = Level::kInfo;
  std::string component = "cairn";
  std::shared_ptr<spdlog::logger> logger;
};

State& GetState() {
  static State* s = new State();  // never destroyed: logging may happen during static teardown
  return *s;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string TextValue(const Field::Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          // Bare only when it is printable ASCII without a quote or '=': anything else (spaces,
          // control characters that could forge a line, non-ASCII) is JSON-quoted.
          bool plain = !x.empty() && std::all_of(x.begin(), x.end(), [](char c) {
            return c > ' ' && c < 0x7F && c != '"' && c != '=';
          });
          if (plain) return x;
          // Values may carry a peer's bytes (a decline reason, a query name in a rejection
          // detail): invalid UTF-8 is replaced, never thrown on, in both formats.
          return nlohmann::json(x).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.6g", x);
          return buf;
        } else {
          return std::to_string(x);
        }
      },
      v);
}

}  // namespace

bool IsAllowedKey(std::string_view key) {
  for (auto k : kAllowedKeys) {
    if (k == key) return true;
  }
  return false;
}

std::string Render(Format format, Level level, std::string_view component, std::string_view event,
                   std::initializer_list<Field> fields, std::int64_t unix_millis) {
  int dropped = 0;
  if (format == Format::kJson) {
    nlohmann::ordered_json j;
    j["ts_ms"] = unix_millis;
    j["level"] = LevelName(level);
    j["component"] = component;
    j["event"] = event;
    for (const Field& f : fields) {
      if (!IsAllowedKey(f.key)) {
        ++dropped;
        continue;
      }
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, double>) {
              if (std::isfinite(x)) {
                j[std::string(f.key)] = x;
              } else {
                j[std::string(f.key)] = std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf");
              }
            } else {
              j[std::string(f.key)] = x;
            }
          },
          f.value);
    }
    if (dropped) j["dropped_fields"] = dropped;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::time_t secs = static_cast<std::time_t>(unix_millis / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = std::string(ts) + "." + std::to_string(1000 + unix_millis % 1000).substr(1) +
                     "Z " + std::string(LevelName(level)) + " " + std::string(component) + ": " +
                     std::string(event);
  for (const Field& f : fields) {
    if (!IsAllowedKey(f.key)) {
      ++dropped;
      continue;
    }
    line += " " + std::string(f.key) + "=" + TextValue(f.value);
  }
  if (dropped) line += " dropped_fields=" + std::to_string(dropped);
  return line;
}

void Init(Format format, Level level, std::string component) {
  State& s = GetState();
  std::lock_guard lock(s.mu);
  s.format = format;
  s.level = level;
  s.component = std::move(component);
  if (!s.logger) {
    s.logger = std::make_shared<spdlog::logger>("cairn", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    s.logger->set_pattern("%v");
    s.logger->set_level(spdlog::level::trace);
    s.logger->flush_on(spdlog::level::trace);
  }
}

void Write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  State& s = GetState();
  std::shared_ptr<spdlog::logger> logger;
  Format format;
  std::string component;
  {
    std::lock_guard lock(s.mu);
    if (static_cast<int>(level) < static_cast<int>(s.level)) return;
    if (!s.logger) {
      s.logger = std::make_shared<spdlog::logger>("cairn", std::make_shared<spdlog::sinks::stderr_sink_mt>());
      s.logger->set_pattern("%v");
      s.logger->flush_on(spdlog::level::trace);
    }
    logger = s.logger;
    format = s.format;
    component = s.component;
  }
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  logger->info(Render(format, level, component, event, fields, now));
}

}  // namespace cairn::log
