// fuzz_federation_config: protocol::ParseFederationText (the aggregator's federation.toml) and
// protocol::ParseAttestedFederation (what a participant parses from the attested evidence) on
// arbitrary text.
//
// Property beyond "no crash": when the aggregator accepts a file, every participant accepts the
// canonical text it attests (otherwise a valid federation could never be joined), and the
// canonical text is a fixed point of parse-and-re-emit.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/federation_config.h"
#include "tests/fuzz/fuzz_util.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)protocol::ParseAttestedFederation(text);
  // A base folder that does not exist: relative model paths resolve under it and nothing is read.
  auto loaded = protocol::ParseFederationText(text, "fuzz.toml", "/nonexistent-cairn-fuzz");
  if (!loaded) return 0;
  auto attested = protocol::ParseAttestedFederation(loaded->canonical_text);
  fuzz::FuzzCheck(attested.has_value(), "a participant refuses the canonical text of an accepted federation");
  auto reparsed = protocol::ParseFederationText(loaded->canonical_text, "canonical.toml", "/nonexistent-cairn-fuzz");
  fuzz::FuzzCheck(reparsed.has_value(), "the canonical text of an accepted federation does not parse");
  fuzz::FuzzCheck(reparsed->canonical_text == loaded->canonical_text, "canonical text is not a fixed point");
  return 0;
}
