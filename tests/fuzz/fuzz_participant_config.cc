// fuzz_participant_config: participant::LoadParticipantConfig (participant.toml) on arbitrary
// contents. The loader takes a path, so the input is written to an in-memory file (memfd) and
// loaded through /proc/self/fd. Property: an accepted config has a valid id and a tcp:// address.
#include <cstddef>
#include <cstdint>

#include "participant/config.h"
#include "protocol/federation_config.h"
#include "tests/fuzz/fuzz_util.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("participant.toml");
  auto config = participant::LoadParticipantConfig(file.Write(ByteSpan(data, size)));
  if (!config) return 0;
  fuzz::FuzzCheck(protocol::IsValidParticipantId(config->id), "accepted config with an invalid id");
  fuzz::FuzzCheck(config->aggregator.rfind("tcp://", 0) == 0, "accepted config with a non-tcp aggregator");
  return 0;
}
