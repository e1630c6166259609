// Size bounds on everything that arrives from the network. Each limit protects the receiver's
// memory or CPU from a peer that sends more than a well-behaved one ever would; crossing one is a
// rejection naming the limit, never an allocation of the claimed size.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::protocol {

// Whole ZeroMQ messages (ZMQ_MAXMSGSIZE is set from these, so libzmq drops the connection of a
// peer that announces more).
constexpr std::size_t kMaxAttestationMessageBytes = 1u << 20;  // evidence with collateral
constexpr std::size_t kMaxControlMessageBytes = 1u << 20;      // round results with 1000 names
constexpr std::size_t kMaxChunkHeaderBytes = 256;
constexpr std::size_t kMaxChunkPayloadBytes = (16u << 20) + 16;  // 16 MiB plaintext + AEAD tag

// Per message type (checked after decoding).
constexpr std::size_t kMaxEvidenceReportBytes = 64u << 10;
constexpr std::size_t kMaxCertificates = 16;
constexpr std::size_t kMaxCertificateBytes = 16u << 10;
constexpr std::size_t kMaxCollateralBytes = 512u << 10;
constexpr std::size_t kMaxFederationConfigBytes = 256u << 10;
constexpr std::size_t kMaxParticipantIdBytes = 64;
constexpr std::size_t kMaxParticipants = 1000;
constexpr std::size_t kMaxMetrics = 64;
// Results a Welcome carries so a returning participant can check that the aggregator's history
// continues the last result it verified (docs/protocol.md, "Returning participants").
constexpr std::size_t kMaxCatchUpResults = 512;
constexpr std::size_t kMaxMetricNameBytes = 64;
constexpr std::size_t kMaxTextBytes = 1024;
constexpr std::size_t kMaxFeatures = 100000;  // federated standardization vectors  // details, reasons, software version, optimizer

// Models and chunks.
constexpr std::uint32_t kMinChunkBytes = 4u << 10;
constexpr std::uint32_t kMaxChunkBytes = 16u << 20;
constexpr std::uint64_t kMaxParams = 1ull << 31;  // 8 GiB of float32: far above one CVM's memory
constexpr std::uint32_t kMaxChunks = 1u << 20;

}  // namespace cairn::protocol
