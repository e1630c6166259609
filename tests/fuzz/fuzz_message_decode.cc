// fuzz_message_decode: protocol::Decode (every message type of the envelope) and
// protocol::DecodeChunkHeader on arbitrary bytes, with the bounds the aggregator and the
// participant use.
//
// Property beyond "no crash": what Decode accepts, Encode re-encodes into bytes Decode accepts
// again, and that second encoding is a fixed point (encode(decode(encode(m))) == encode(m)); the
// same for chunk headers. A failure means the decoder lets through a value the encoder cannot
// represent (or represents differently), which a peer could use to desynchronize the two sides.
#include <cstddef>
#include <cstdint>

#include "protocol/codec.h"
#include "protocol/limits.h"
#include "tests/fuzz/fuzz_util.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan input(data, size);
  if (auto message = protocol::Decode(input, protocol::kMaxControlMessageBytes)) {
    const Bytes once = protocol::Encode(*message);
    auto again = protocol::Decode(once, protocol::kMaxControlMessageBytes);
    fuzz::FuzzCheck(again.has_value(), "Decode refuses the re-encoding of a message it accepted");
    fuzz::FuzzCheck(again->index() == message->index(), "re-decoded message changed type");
    fuzz::FuzzCheck(protocol::Encode(*again) == once, "re-encoding a decoded message is not stable");
  }
  if (auto header = protocol::DecodeChunkHeader(input)) {
    const Bytes once = protocol::EncodeChunkHeader(*header);
    auto again = protocol::DecodeChunkHeader(once);
    fuzz::FuzzCheck(again.has_value(), "DecodeChunkHeader refuses the re-encoding of a header it accepted");
    fuzz::FuzzCheck(protocol::EncodeChunkHeader(*again) == once, "re-encoding a chunk header is not stable");
  }
  return 0;
}
