// Checks on text that arrives from a peer before it can reach a log line, a JSON file or a
// rejection detail: strict UTF-8 (Cap'n Proto Text is declared UTF-8 but not checked by the
// library; nlohmann::json's strict dump throws on anything else), and the metric-name alphabet.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cairn::protocol {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text);

// A self-reported metric name (Commit and EvalReport): 1 to 64 characters of [A-Za-z0-9._-].
inline constexpr std::size_t kMaxMetricNameChars = 64;
bool IsValidMetricName(std::string_view name);

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD
// (defence in depth for texts the aggregator builds itself).
std::string ToValidUtf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence (an encoder's truncation must not produce what the decoder refuses).
std::string_view TruncateUtf8(std::string_view text, std::size_t max_bytes);

}  // namespace cairn::protocol
