#include "common/core/toml_reader.h"

#include <cmath>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "common/core/file.h"

namespace cairn {

// The parsed document is shared by a root reader and every sub-table reader taken from it; each
// reader records which of its own keys were read.
struct TomlReader::Impl {
  std::shared_ptr<toml::table> root;
  const toml::table* table = nullptr;
  std::string source;
  std::string prefix;  // "federation." for a sub-table, "" at the root
  std::set<std::string, std::less<>> read;
};

namespace {
std::string TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}
}  // namespace

TomlReader::TomlReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TomlReader::TomlReader(TomlReader&&) noexcept = default;
TomlReader& TomlReader::operator=(TomlReader&&) noexcept = default;
TomlReader::~TomlReader() = default;

Result<TomlReader> TomlReader::ParseString(std::string_view text, std::string source_name) {
  // Debian's toml++ is built with exceptions: parse errors arrive as toml::parse_error.
  std::shared_ptr<toml::table> root;
  try {
    root = std::make_shared<toml::table>(toml::parse(text, source_name));
  } catch (const toml::parse_error& err) {
    return Fail(ErrorCode::kInvalidArgument,
                source_name + ":" + std::to_string(err.source().begin.line) + ":" +
                    std::to_string(err.source().begin.column) + ": " +
                    std::string(err.description()));
  }
  auto impl = std::make_unique<Impl>();
  impl->root = std::move(root);
  impl->table = impl->root.get();
  impl->source = std::move(source_name);
  return TomlReader(std::move(impl));
}

Result<TomlReader> TomlReader::ParseFile(const std::filesystem::path& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, 4u << 20));
  return ParseString(text, path.string());
}

const std::string& TomlReader::source_name() const { return impl_->source; }

bool TomlReader::Has(std::string_view key) const { return impl_->table->contains(key); }

std::string TomlReader::Where(std::string_view key) const {
  std::string where = impl_->source;
  if (const toml::node* n = impl_->table->get(key)) {
    where += ":" + std::to_string(n->source().begin.line);
  }
  return where + ": key '" + impl_->prefix + std::string(key) + "'";
}

Error TomlReader::MissingError(std::string_view key) const {
  return Error(ErrorCode::kInvalidArgument, impl_->source + ": required key '" + impl_->prefix +
                                                std::string(key) + "' is missing");
}

#define CAIRN_TOML_LOOKUP_(key)                              \
  const toml::node* node = impl_->table->get(key);           \
  if (node == nullptr) return Ok();                          \
  impl_->read.emplace(key)

Status TomlReader::Get(std::string_view key, std::string& out) {
  CAIRN_TOML_LOOKUP_(key);
  if (auto v = node->value<std::string>(); v && node->is_string()) {
    out = *v;
    return Ok();
  }
  return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be a string, found " + TypeName(*node));
}

Status TomlReader::Get(std::string_view key, bool& out) {
  CAIRN_TOML_LOOKUP_(key);
  if (node->is_boolean()) {
    out = *node->value<bool>();
    return Ok();
  }
  return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be true or false, found " + TypeName(*node));
}

Status TomlReader::Get(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max) {
  CAIRN_TOML_LOOKUP_(key);
  if (!node->is_integer()) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be an integer, found " + TypeName(*node));
  }
  std::int64_t v = *node->value<std::int64_t>();
  if (v < min || v > max) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " = " + std::to_string(v) +
                                                 " is outside [" + std::to_string(min) + ", " +
                                                 std::to_string(max) + "]");
  }
  out = v;
  return Ok();
}

Status TomlReader::Get(std::string_view key, std::uint32_t& out, std::uint32_t min, std::uint32_t max) {
  std::int64_t v = out;
  CAIRN_RETURN_IF_ERROR(Get(key, v, static_cast<std::int64_t>(min), static_cast<std::int64_t>(max)));
  out = static_cast<std::uint32_t>(v);
  return Ok();
}

Status TomlReader::Get(std::string_view key, double& out, double min, double max) {
  CAIRN_TOML_LOOKUP_(key);
  double v = 0;
  if (node->is_integer()) {
    v = static_cast<double>(*node->value<std::int64_t>());
  } else if (node->is_floating_point()) {
    v = *node->value<double>();
  } else {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be a number, found " + TypeName(*node));
  }
  if (std::isnan(v) || v < min || v > max) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " = " + std::to_string(v) +
                                                 " is outside [" + std::to_string(min) + ", " +
                                                 std::to_string(max) + "]");
  }
  out = v;
  return Ok();
}

Status TomlReader::Get(std::string_view key, std::vector<std::string>& out) {
  CAIRN_TOML_LOOKUP_(key);
  const toml::array* arr = node->as_array();
  if (arr == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be an array of strings, found " + TypeName(*node));
  }
  std::vector<std::string> values;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    if (!e.is_string()) {
      return Fail(ErrorCode::kInvalidArgument, Where(key) + " element " + std::to_string(i) +
                                                   " must be a string, found " + TypeName(e));
    }
    values.push_back(*e.value<std::string>());
  }
  out = std::move(values);
  return Ok();
}

Status TomlReader::Get(std::string_view key, std::vector<std::int64_t>& out) {
  CAIRN_TOML_LOOKUP_(key);
  const toml::array* arr = node->as_array();
  if (arr == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be an array of integers, found " + TypeName(*node));
  }
  std::vector<std::int64_t> values;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    if (!e.is_integer()) {
      return Fail(ErrorCode::kInvalidArgument, Where(key) + " element " + std::to_string(i) +
                                                   " must be an integer, found " + TypeName(e));
    }
    values.push_back(*e.value<std::int64_t>());
  }
  out = std::move(values);
  return Ok();
}

Status TomlReader::Get(std::string_view key, std::vector<double>& out) {
  CAIRN_TOML_LOOKUP_(key);
  const toml::array* arr = node->as_array();
  if (arr == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be an array of numbers, found " + TypeName(*node));
  }
  std::vector<double> values;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    if (e.is_integer()) {
      values.push_back(static_cast<double>(*e.value<std::int64_t>()));
    } else if (e.is_floating_point()) {
      values.push_back(*e.value<double>());
    } else {
      return Fail(ErrorCode::kInvalidArgument, Where(key) + " element " + std::to_string(i) +
                                                   " must be a number, found " + TypeName(e));
    }
  }
  out = std::move(values);
  return Ok();
}

Status TomlReader::GetEnum(std::string_view key, std::string& out,
                           const std::vector<std::string>& allowed) {
  std::string v = out;
  CAIRN_RETURN_IF_ERROR(Get(key, v));
  for (const auto& a : allowed) {
    if (a == v) {
      out = v;
      return Ok();
    }
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return Fail(ErrorCode::kInvalidArgument, Where(key) + " = \"" + v + "\" is not one of: " + list);
}

Result<std::optional<TomlReader>> TomlReader::Table(std::string_view key) {
  const toml::node* node = impl_->table->get(key);
  if (node == nullptr) return std::optional<TomlReader>();
  impl_->read.emplace(key);
  const toml::table* t = node->as_table();
  if (t == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be a table, found " + TypeName(*node));
  }
  auto child = std::make_unique<Impl>();
  child->root = impl_->root;
  child->table = t;
  child->source = impl_->source;
  child->prefix = impl_->prefix + std::string(key) + ".";
  return std::optional<TomlReader>(TomlReader(std::move(child)));
}

Result<std::optional<std::string>> TomlReader::TableText(std::string_view key) {
  const toml::node* node = impl_->table->get(key);
  if (node == nullptr) return std::optional<std::string>();
  impl_->read.emplace(key);
  const toml::table* t = node->as_table();
  if (t == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be a table, found " + TypeName(*node));
  }
  std::ostringstream out;
  out << toml::toml_formatter(*t, toml::format_flags::none);
  return std::optional<std::string>(out.str());
}

Result<std::vector<TomlReader>> TomlReader::TableArray(std::string_view key) {
  std::vector<TomlReader> out;
  const toml::node* node = impl_->table->get(key);
  if (node == nullptr) return out;
  impl_->read.emplace(key);
  const toml::array* arr = node->as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    return Fail(ErrorCode::kInvalidArgument, Where(key) + " must be an array of tables ([[" +
                                                 impl_->prefix + std::string(key) + "]])");
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto child = std::make_unique<Impl>();
    child->root = impl_->root;
    child->table = arr->get(i)->as_table();
    child->source = impl_->source;
    child->prefix = impl_->prefix + std::string(key) + "[" + std::to_string(i) + "].";
    out.push_back(TomlReader(std::move(child)));
  }
  return out;
}

std::string TomlReader::CanonicalText(const std::vector<std::string>& without_tables) const {
  toml::table copy = *impl_->table;
  for (const auto& t : without_tables) copy.erase(t);
  std::ostringstream out;
  out << toml::toml_formatter(copy, toml::format_flags::none);
  return out.str();
}

std::vector<std::string> TomlReader::Keys() const {
  std::vector<std::string> keys;
  for (const auto& [k, v] : *impl_->table) keys.emplace_back(k.str());
  return keys;
}

Status TomlReader::Finish() const {
  for (const auto& [k, v] : *impl_->table) {
    if (!impl_->read.contains(k.str())) {
      return Fail(ErrorCode::kInvalidArgument,
                  impl_->source + ":" + std::to_string(v.source().begin.line) + ": unknown key '" +
                      impl_->prefix + std::string(k.str()) + "'");
    }
  }
  return Ok();
}

}  // namespace cairn
