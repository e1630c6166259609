// Structured, metadata-only logging.
//
// A log line is an event name plus typed fields whose keys come from a fixed allowlist
// (docs/operations.md lists them): round, participant, sizes, durations, error codes, ε. There
// is no free-form "message with values" API on purpose: a model value, a data row or a key cannot
// reach a log line unless someone adds a key to the allowlist. A field with a key outside the
// allowlist is dropped and counted in the "dropped_fields" field of that line.
//
// Thread-safe (spdlog's multi-threaded sink). Output goes to stderr as text or JSON lines.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace cairn::log {

enum class Format { kText, kJson };
enum class Level { kDebug, kInfo, kWarn, kError };

// Call once in main(). `component` is "aggregator" or "participant".
void Init(Format format, Level level, std::string component);

struct Field {
  using Value = std::variant<std::int64_t, std::uint64_t, double, bool, std::string>;
  Field(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, long v) : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, long long v) : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(static_cast<std::uint64_t>(v)) {}
  Field(std::string_view k, unsigned long v) : key(k), value(static_cast<std::uint64_t>(v)) {}
  Field(std::string_view k, unsigned long long v) : key(k), value(static_cast<std::uint64_t>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  std::string_view key;
  Value value;
};

void Write(Level level, std::string_view event, std::initializer_list<Field> fields);
inline void Debug(std::string_view event, std::initializer_list<Field> fields = {}) { Write(Level::kDebug, event, fields); }
inline void Info(std::string_view event, std::initializer_list<Field> fields = {}) { Write(Level::kInfo, event, fields); }
inline void Warn(std::string_view event, std::initializer_list<Field> fields = {}) { Write(Level::kWarn, event, fields); }
inline void Error(std::string_view event, std::initializer_list<Field> fields = {}) { Write(Level::kError, event, fields); }

// True for keys in the allowlist.
bool IsAllowedKey(std::string_view key);

// Renders one line without writing it (tests, and the text/JSON formats share it).
std::string Render(Format format, Level level, std::string_view component, std::string_view event,
                   std::initializer_list<Field> fields, std::int64_t unix_millis);

}  // namespace cairn::log
