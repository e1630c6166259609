// fuzz_round_result_json: protocol::ResultFromJson on arbitrary text (a results.jsonl line read
// back by `cairn-aggregator report`, a restart, or an auditor).
//
// Properties beyond "no crash": an accepted line re-serializes with ResultToJson into a line that
// is accepted again and serializes identically (a fixed point), and the signing bytes and result
// hash (the chain) of the two parses agree, so an audit of the file and of the live result agree.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/round_result.h"
#include "tests/fuzz/fuzz_util.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto result = protocol::ResultFromJson(line);
  if (!result) return 0;
  const std::string json = protocol::ResultToJson(*result);
  auto again = protocol::ResultFromJson(json);
  fuzz::FuzzCheck(again.has_value(), "ResultFromJson refuses the ResultToJson of a result it accepted");
  fuzz::FuzzCheck(protocol::ResultToJson(*again) == json, "ResultToJson(ResultFromJson(x)) is not stable");
  fuzz::FuzzCheck(protocol::SigningBytes(*again) == protocol::SigningBytes(*result),
                  "signing bytes changed through JSON");
  fuzz::FuzzCheck(protocol::ResultHash(*again) == protocol::ResultHash(*result), "result hash changed through JSON");
  return 0;
}
