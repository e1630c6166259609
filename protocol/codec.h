// Encoding and decoding of protocol messages (Cap'n Proto), with version and bound checks.
//
// Decode never trusts a size field: every list, text and data field is checked against
// protocol/limits.h, and the Cap'n Proto traversal limit is derived from the message's own size,
// so a crafted message cannot make the reader walk more than a few times its bytes.
#pragma once

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "protocol/types.h"

namespace cairn::protocol {

// Envelope with protocol version 1.0 and the message.
Bytes Encode(const Message& message);
// Errors: kInvalidArgument for a malformed or out-of-bounds message (the text names the field
// and the bound); kFailedPrecondition for another major protocol version (the text names both).
Result<Message> Decode(ByteSpan bytes, std::size_t max_bytes);

Bytes EncodeChunkHeader(const ChunkHeader& header);
Result<ChunkHeader> DecodeChunkHeader(ByteSpan bytes);

// For tests: encode with an arbitrary version.
Bytes EncodeWithVersionForTesting(const Message& message, std::uint16_t major, std::uint16_t minor);

}  // namespace cairn::protocol
