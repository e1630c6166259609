// A strict reader of the small YAML subset the example manifests use (test-only; the project has
// no YAML library and needs none at run time):
//   - documents separated by "---"; comments ("# …" at line start or after a space)
//   - block mappings "key: value" and block sequences "- item" (an item may open a mapping:
//     "- name: x" followed by its other keys two columns further in)
//   - scalars: plain, 'single-quoted' ('' escapes a quote), "double-quoted" (\" \\ \n \t)
//   - literal block scalars "|" and "|-" (content kept verbatim, common indentation removed)
// Anything else (tabs for indentation, flow collections {} [], anchors &, aliases *, tags !,
// folded scalars >, duplicate keys, inconsistent indentation) is an error naming the line, so a
// manifest that strays outside the subset fails the test instead of being misread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/core/error.h"

namespace cairn::testing_support {

struct YamlNode {
  enum class Kind { kNull, kScalar, kMap, kSeq };
  Kind kind = Kind::kNull;
  std::string scalar;                                  // kScalar
  bool quoted = false;                                 // the scalar was quoted
  std::vector<std::pair<std::string, YamlNode>> map;   // kMap, in file order
  std::vector<YamlNode> seq;                           // kSeq
  int line = 0;                                        // 1-based line where the node starts

  // The value at a '/'-separated path ("spec/template/spec/runtimeClassName"; '/' because keys
  // such as annotation names contain dots); nullptr when absent. Sequence elements are addressed
  // by index ("spec/ports/0/name").
  const YamlNode* Find(std::string_view path) const;
  // The scalar at a path, or "" when absent or not a scalar.
  std::string Str(std::string_view path) const;
  // The value of one key of a mapping, taken whole (for keys with a '/', like annotations).
  const YamlNode* Child(std::string_view key) const;
};

// Parses every document of a file's text. `name` is used in error messages.
Result<std::vector<YamlNode>> ParseYamlDocuments(std::string_view text, const std::string& name);

}  // namespace cairn::testing_support
