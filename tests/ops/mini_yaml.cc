#include "tests/ops/mini_yaml.h"

#include <charconv>
#include <set>
#include <sstream>

namespace cairn::testing_support {
namespace {

bool IsSkippable(const std::string& raw) {
  auto p = raw.find_first_not_of(' ');
  return p == std::string::npos || raw[p] == '#';
}

class Parser {
 public:
  Parser(std::vector<std::string> lines, std::string name, int first_line)
      : lines_(std::move(lines)), name_(std::move(name)), first_line_(first_line) {}

  Result<YamlNode> ParseDocument() {
    SkipBlank();
    if (AtEnd()) return YamlNode{};
    CAIRN_ASSIGN_OR_RETURN(int indent, Indent(i_));
    if (indent != 0) return Error(i_, "the document must start at column 0");
    CAIRN_ASSIGN_OR_RETURN(YamlNode node, ParseBlock(0));
    SkipBlank();
    if (!AtEnd()) return Error(i_, "unexpected content (indentation does not match any open block)");
    return node;
  }

 private:
  std::unexpected<cairn::Error> Error(std::size_t index, const std::string& what) const {
    return Fail(ErrorCode::kInvalidArgument,
                name_ + ":" + std::to_string(LineNo(index)) + ": " + what);
  }
  int LineNo(std::size_t index) const { return first_line_ + static_cast<int>(index); }
  bool AtEnd() const { return i_ >= lines_.size(); }
  void SkipBlank() {
    while (!AtEnd() && IsSkippable(lines_[i_])) ++i_;
  }

  Result<int> Indent(std::size_t index) const {
    const std::string& raw = lines_[index];
    std::size_t n = 0;
    while (n < raw.size() && raw[n] == ' ') ++n;
    if (n < raw.size() && raw[n] == '\t') return Error(index, "tab in indentation");
    return static_cast<int>(n);
  }

  // The line's content: indentation removed, a trailing comment removed (outside quotes).
  Result<std::string> Content(std::size_t index) const {
    const std::string& raw = lines_[index];
    std::size_t start = raw.find_first_not_of(' ');
    std::string s = raw.substr(start);
    char quote = 0;
    for (std::size_t k = 0; k < s.size(); ++k) {
      char c = s[k];
      if (quote) {
        if (c == '\\' && quote == '"') {
          ++k;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if ((c == '"' || c == '\'') && (k == 0 || s[k - 1] == ' ' || s[k - 1] == '-' || s[k - 1] == ':')) {
        quote = c;
      } else if (c == '#' && (k == 0 || s[k - 1] == ' ')) {
        s.resize(k);
        break;
      }
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    if (s.find('\t') != std::string::npos) return Error(index, "tab character");
    return s;
  }

  // Splits "key: value" / "key:" (outside quotes); false when the content is not a mapping entry.
  static bool SplitKey(const std::string& s, std::string& key, std::string& rest) {
    char quote = 0;
    for (std::size_t k = 0; k < s.size(); ++k) {
      char c = s[k];
      if (quote) {
        if (c == '\\' && quote == '"') {
          ++k;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if ((c == '"' || c == '\'') && k == 0) {
        quote = c;
        continue;
      }
      if (c == ':' && (k + 1 == s.size() || s[k + 1] == ' ')) {
        key = s.substr(0, k);
        rest = k + 1 < s.size() ? s.substr(k + 2) : "";
        auto p = rest.find_first_not_of(' ');
        rest = p == std::string::npos ? "" : rest.substr(p);
        return true;
      }
    }
    return false;
  }

  Result<YamlNode> Scalar(std::size_t index, const std::string& text) const {
    YamlNode n;
    n.kind = YamlNode::Kind::kScalar;
    n.line = LineNo(index);
    if (text.empty()) return Error(index, "empty scalar");
    char c = text[0];
    if (c == '"') {
      std::string out;
      std::size_t k = 1;
      for (; k < text.size() && text[k] != '"'; ++k) {
        if (text[k] == '\\') {
          if (++k >= text.size()) break;
          switch (text[k]) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            default: return Error(index, std::string("unsupported escape \\") + text[k]);
          }
        } else {
          out += text[k];
        }
      }
      if (k != text.size() - 1) return Error(index, "unterminated double-quoted scalar, or text after it");
      n.scalar = out;
      n.quoted = true;
      return n;
    }
    if (c == '\'') {
      std::string out;
      std::size_t k = 1;
      for (; k < text.size(); ++k) {
        if (text[k] == '\'') {
          if (k + 1 < text.size() && text[k + 1] == '\'') {
            out += '\'';
            ++k;
            continue;
          }
          break;
        }
        out += text[k];
      }
      if (k != text.size() - 1) return Error(index, "unterminated single-quoted scalar, or text after it");
      n.scalar = out;
      n.quoted = true;
      return n;
    }
    if (std::string_view("{[&*!>|%@`").find(c) != std::string_view::npos) {
      return Error(index, std::string("'") + c + "' starts a construct outside the supported YAML subset");
    }
    n.scalar = text;
    return n;
  }

  // A "|" or "|-" block: the lines after index i_ indented deeper than `parent_indent`.
  Result<YamlNode> Literal(int parent_indent, bool keep_newline) {
    YamlNode n;
    n.kind = YamlNode::Kind::kScalar;
    n.line = LineNo(i_);
    ++i_;
    std::vector<std::string> body;
    int content_indent = -1;
    while (!AtEnd()) {
      const std::string& raw = lines_[i_];
      bool blank = raw.find_first_not_of(' ') == std::string::npos;
      if (!blank) {
        CAIRN_ASSIGN_OR_RETURN(int ind, Indent(i_));
        if (ind <= parent_indent) break;
        if (content_indent < 0) content_indent = ind;
        if (ind < content_indent) return Error(i_, "literal block line indented less than its first line");
        body.push_back(raw.substr(static_cast<std::size_t>(content_indent)));
      } else {
        body.emplace_back();
      }
      ++i_;
    }
    while (!body.empty() && body.back().empty()) body.pop_back();
    for (std::size_t k = 0; k < body.size(); ++k) {
      if (k) n.scalar += '\n';
      n.scalar += body[k];
    }
    if (keep_newline && !body.empty()) n.scalar += '\n';
    n.quoted = true;
    return n;
  }

  // The value after "key:" or "- ": inline scalar, literal block, or a nested block below.
  Result<YamlNode> Value(const std::string& rest, int indent, bool allow_same_indent_seq) {
    if (rest == "|" || rest == "|-") return Literal(indent, rest == "|");
    if (!rest.empty()) {
      auto n = Scalar(i_, rest);
      ++i_;
      return n;
    }
    ++i_;
    SkipBlank();
    if (AtEnd()) return YamlNode{};
    CAIRN_ASSIGN_OR_RETURN(int next, Indent(i_));
    if (next > indent) return ParseBlock(next);
    if (next == indent && allow_same_indent_seq) {
      CAIRN_ASSIGN_OR_RETURN(std::string c, Content(i_));
      if (c == "-" || c.starts_with("- ")) return ParseSeq(indent);
    }
    return YamlNode{};
  }

  Result<YamlNode> ParseBlock(int indent) {
    CAIRN_ASSIGN_OR_RETURN(std::string c, Content(i_));
    if (c == "-" || c.starts_with("- ")) return ParseSeq(indent);
    std::string key, rest;
    if (SplitKey(c, key, rest)) return ParseMap(indent);
    auto n = Scalar(i_, c);
    ++i_;
    return n;
  }

  Result<YamlNode> ParseMap(int indent) {
    YamlNode node;
    node.kind = YamlNode::Kind::kMap;
    node.line = LineNo(i_);
    std::set<std::string> seen;
    for (;;) {
      SkipBlank();
      if (AtEnd()) break;
      CAIRN_ASSIGN_OR_RETURN(int ind, Indent(i_));
      if (ind < indent) break;
      if (ind > indent) return Error(i_, "unexpected indentation in a mapping");
      CAIRN_ASSIGN_OR_RETURN(std::string c, Content(i_));
      if (c == "-" || c.starts_with("- ")) break;  // a sequence at this indent ends the mapping
      std::string key, rest;
      if (!SplitKey(c, key, rest)) return Error(i_, "expected 'key: value'");
      if (!key.empty() && (key[0] == '"' || key[0] == '\'')) {
        CAIRN_ASSIGN_OR_RETURN(YamlNode k, Scalar(i_, key));
        key = k.scalar;
      }
      if (key.empty()) return Error(i_, "empty key");
      if (!seen.insert(key).second) return Error(i_, "duplicate key '" + key + "'");
      CAIRN_ASSIGN_OR_RETURN(YamlNode value, Value(rest, indent, /*allow_same_indent_seq=*/true));
      node.map.emplace_back(key, std::move(value));
    }
    return node;
  }

  Result<YamlNode> ParseSeq(int indent) {
    YamlNode node;
    node.kind = YamlNode::Kind::kSeq;
    node.line = LineNo(i_);
    for (;;) {
      SkipBlank();
      if (AtEnd()) break;
      CAIRN_ASSIGN_OR_RETURN(int ind, Indent(i_));
      if (ind < indent) break;
      if (ind > indent) return Error(i_, "unexpected indentation in a sequence");
      CAIRN_ASSIGN_OR_RETURN(std::string c, Content(i_));
      if (!(c == "-" || c.starts_with("- "))) break;
      std::string rest = c.size() > 1 ? c.substr(2) : "";
      std::size_t pad = 0;
      while (pad < rest.size() && rest[pad] == ' ') ++pad;
      rest = rest.substr(pad);
      std::string key, value;
      if (!rest.empty() && rest != "|" && rest != "|-" && SplitKey(rest, key, value)) {
        // "- key: value": a mapping whose keys sit at the column after "- ".
        int inner = indent + 2 + static_cast<int>(pad);
        lines_[i_] = std::string(static_cast<std::size_t>(inner), ' ') + rest;
        CAIRN_ASSIGN_OR_RETURN(YamlNode item, ParseMap(inner));
        node.seq.push_back(std::move(item));
        continue;
      }
      CAIRN_ASSIGN_OR_RETURN(YamlNode item, Value(rest, indent, /*allow_same_indent_seq=*/false));
      node.seq.push_back(std::move(item));
    }
    return node;
  }

  std::vector<std::string> lines_;
  std::string name_;
  int first_line_;
  std::size_t i_ = 0;
};

}  // namespace

const YamlNode* YamlNode::Find(std::string_view path) const {
  const YamlNode* cur = this;
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view step = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (cur->kind == Kind::kMap) {
      const YamlNode* next = nullptr;
      for (const auto& [k, v] : cur->map) {
        if (k == step) next = &v;
      }
      if (!next) return nullptr;
      cur = next;
    } else if (cur->kind == Kind::kSeq) {
      std::size_t index = 0;
      auto [end, ec] = std::from_chars(step.data(), step.data() + step.size(), index);
      if (ec != std::errc() || end != step.data() + step.size() || index >= cur->seq.size()) return nullptr;
      cur = &cur->seq[index];
    } else {
      return nullptr;
    }
  }
  return cur;
}

const YamlNode* YamlNode::Child(std::string_view key) const {
  if (kind != Kind::kMap) return nullptr;
  for (const auto& [k, v] : map) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string YamlNode::Str(std::string_view path) const {
  const YamlNode* n = Find(path);
  return n && n->kind == Kind::kScalar ? n->scalar : "";
}

Result<std::vector<YamlNode>> ParseYamlDocuments(std::string_view text, const std::string& name) {
  std::vector<YamlNode> docs;
  std::vector<std::string> current;
  int first_line = 1;
  std::istringstream in{std::string(text)};
  std::string line;
  int line_no = 0;
  auto flush = [&]() -> Status {
    Parser p(std::move(current), name, first_line);
    CAIRN_ASSIGN_OR_RETURN(YamlNode doc, p.ParseDocument());
    if (doc.kind != YamlNode::Kind::kNull) docs.push_back(std::move(doc));
    current.clear();
    return Ok();
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (line.starts_with("---")) {
      auto rest = line.substr(3);
      auto p = rest.find_first_not_of(' ');
      if (p == std::string::npos || rest[p] == '#') {
        CAIRN_RETURN_IF_ERROR(flush());
        first_line = line_no + 1;
        continue;
      }
    }
    if (line.starts_with("...")) {
      return Fail(ErrorCode::kInvalidArgument, name + ":" + std::to_string(line_no) + ": '...' is not supported");
    }
    current.push_back(line);
  }
  CAIRN_RETURN_IF_ERROR(flush());
  return docs;
}

}  // namespace cairn::testing_support
