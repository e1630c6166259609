// Evidence records: what a participant keeps of each attestation it performed, so that the
// whole run can be audited offline later (`cairn-participant audit`).
//
// File format (STATE_DIR/evidence.jsonl): JSON Lines, one record per attestation session (a
// restarted aggregator has new keys, so a run may need several), appended in session order:
//
//   {"format":"cairn-evidence-record/v1",
//    "received_at_ms":1767225600000,          // Unix ms when the participant received it
//    "aggregator":"tcp://10.0.0.5:7700",      // the endpoint asked (informational)
//    "nonce":"<64 hex digits>",               // the participant's GetEvidence nonce
//    "evidence":"<hex of protocol::Encode(protocol::Evidence)>"}   // the message as served
//
// The evidence is kept byte for byte as the aggregator served it (the wire encoding), so an
// auditor verifies exactly what the participant verified: REPORT_DATA binds the nonce, the three
// aggregator keys and SHA-256 of the attested federation config, all inside those bytes.
//
// Also readable, for tools that saved the raw message: a file holding protocol::Encode(Evidence)
// (binary, or hex text) with the nonce given separately (ReadEvidenceFile's `nonce` argument, or
// a sidecar file FILE.nonce, or a file named "nonce" in the same folder: 32 raw bytes or hex).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "protocol/types.h"

namespace cairn::participant::audit {

constexpr std::string_view kEvidenceRecordFormat = "cairn-evidence-record/v1";
// Bounds on a record file (what they protect: the auditor's memory on a hostile file).
constexpr std::uint64_t kMaxEvidenceFileBytes = 64ull << 20;  // many sessions of ≤ 1 MiB evidence
constexpr std::size_t kMaxEvidenceRecords = 10'000;

struct EvidenceRecord {
  std::int64_t received_at_ms = 0;           // 0 = unknown (raw files)
  std::string aggregator;                     // may be empty
  std::array<std::uint8_t, 32> nonce{};
  protocol::Evidence evidence;
  std::string source;                         // "FILE:LINE", for messages (not serialized)
};

// One JSON line (no trailing newline).
std::string EvidenceRecordToJson(const EvidenceRecord& record);
// Strict: unknown format, missing or malformed fields, evidence that does not decode as an
// Evidence message are kInvalidArgument errors naming the field.
Result<EvidenceRecord> EvidenceRecordFromJson(std::string_view line, std::string source);

// Appends one record and fsyncs (creates the file, mode 0644: evidence holds no secret).
Status AppendEvidenceRecord(const std::filesystem::path& path, const EvidenceRecord& record);

// Reads every record of a JSON Lines file, or one raw Encode(Evidence) file with its nonce
// (`nonce`, else FILE.nonce, else DIR/nonce). Errors name the file and line.
Result<std::vector<EvidenceRecord>> ReadEvidenceFile(const std::filesystem::path& path,
                                                     std::optional<std::array<std::uint8_t, 32>> nonce = {});

}  // namespace cairn::participant::audit
