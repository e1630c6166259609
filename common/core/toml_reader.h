// Strict reading of TOML configuration files.
//
// Every value read is checked for type and range, every error names the file, the line and the
// dotted key, and Finish() turns any key that nobody read into an "unknown key" error, so a typo
// in a config never silently falls back to a default.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/error.h"

namespace cairn {

class TomlReader {
 public:
  // Parses a file (bounded to 4 MiB) or a string (the name is used in messages).
  static Result<TomlReader> ParseFile(const std::filesystem::path& path);
  static Result<TomlReader> ParseString(std::string_view text, std::string source_name);

  TomlReader(TomlReader&&) noexcept;
  TomlReader& operator=(TomlReader&&) noexcept;
  ~TomlReader();

  bool Has(std::string_view key) const;

  // Optional keys: when absent, `out` keeps its value (the default). When present with the wrong
  // type or outside [min, max], an error names file, line and key.
  Status Get(std::string_view key, std::string& out);
  Status Get(std::string_view key, bool& out);
  Status Get(std::string_view key, std::int64_t& out,
             std::int64_t min = INT64_MIN, std::int64_t max = INT64_MAX);
  Status Get(std::string_view key, std::uint32_t& out,
             std::uint32_t min = 0, std::uint32_t max = UINT32_MAX);
  // Accepts integers too.
  Status Get(std::string_view key, double& out,
             double min = -1.0e308, double max = 1.0e308);
  Status Get(std::string_view key, std::vector<std::string>& out);
  Status Get(std::string_view key, std::vector<std::int64_t>& out);
  Status Get(std::string_view key, std::vector<double>& out);

  // As Get, but absence is an error.
  template <typename T, typename... Bounds>
  Status Require(std::string_view key, T& out, Bounds... bounds) {
    if (!Has(key)) return Fail(MissingError(key));
    return Get(key, out, bounds...);
  }

  // A string that must be one of `allowed`.
  Status GetEnum(std::string_view key, std::string& out, const std::vector<std::string>& allowed);

  // Sub-tables: nullopt when absent. Inline tables count as tables.
  Result<std::optional<TomlReader>> Table(std::string_view key);
  // [[key]] arrays of tables; empty when absent.
  Result<std::vector<TomlReader>> TableArray(std::string_view key);

  // The sub-table `key` re-emitted as a TOML document of its own (for a section another parser
  // owns, e.g. an attestation policy inside a federation config); nullopt when absent. Marks
  // the key as read: the other parser checks the section's keys.
  Result<std::optional<std::string>> TableText(std::string_view key);

  // Keys present in this table (for free-form maps).
  std::vector<std::string> Keys() const;

  // Errors on keys of this table that were never read ("unknown key 'a.b'" with file and line).
  // Call on every reader (root and sub-tables) after reading it.
  Status Finish() const;

  // The document re-emitted as TOML by toml++ (keys in sorted order, fixed formatting), without
  // the named top-level tables: a canonical text whose hash can be attested. Root reader only.
  std::string CanonicalText(const std::vector<std::string>& without_tables) const;

  // "file.toml:12: key 'federation.rounds'" for messages built by callers.
  std::string Where(std::string_view key) const;
  const std::string& source_name() const;

  struct Impl;

 private:
  explicit TomlReader(std::unique_ptr<Impl> impl);
  Error MissingError(std::string_view key) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
