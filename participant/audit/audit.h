// `cairn-participant audit`: verifies a whole run offline, after the fact.
//
// Inputs: the aggregator's results.jsonl (every signed round result), the evidence records a
// participant kept (participant/audit/evidence_record.h) and the participant's policy. Checks:
//   evidence     each record: the platform verdict under the policy, REPORT_DATA bound to the
//                nonce, the three keys and SHA-256 of the federation config; the policy's
//                [federation] rules on that config; every record attests the same config
//   per result   signature by an attested signing key; federation id, config hash and platform
//                equal the attested ones; contributors are in the attested roster, and a
//                completed round has at least the attested quorum of them
//   chain        starts at round 1 with no previous hash; each result's prev_hash is ResultHash of
//                the one before; rounds increase by exactly 1 (a smaller or equal number is a
//                rollback, a larger one a gap); nothing follows a result marked final
//   privacy      ε never decreases; with DP on, ε stays within the attested budget and δ equals
//                the attested δ; with DP off, ε stays 0
// Then prints a summary a compliance officer can read (or JSON).
//
// Exit status: 0 every check passed; 1 violations (each listed with file, line and round);
// 2 an input could not be read or parsed (file missing, not evidence, bad policy).
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/attestation/attestation.h"
#include "common/core/clock.h"
#include "participant/audit/evidence_record.h"
#include "protocol/federation_config.h"

namespace cairn::participant::audit {

struct AuditArgs {
  std::filesystem::path results;                  // results.jsonl from the aggregator's state dir
  std::vector<std::filesystem::path> evidence;    // evidence record files (or raw Encode(Evidence))
  std::filesystem::path policy;                   // the participant's attestation policy TOML
  std::string nonce_hex;                          // for a raw evidence file without a sidecar nonce
  // RFC 3339 instant to verify the evidence at (certificates valid, evidence age). Empty: each
  // record's received_at (the moment the participant verified it); a raw file needs --at.
  std::string at;
  bool json = false;
};

int RunAudit(const AuditArgs& args, std::ostream& out, std::ostream& err);

// ---------------------------------------------------------------------------------------------
// The logic behind RunAudit, for tests and other tools.

struct Violation {
  std::string where;   // "evidence.jsonl:2", "results.jsonl:7 (round 7)"
  std::string check;   // stable name: "signature", "hash-chain", "rollback", "gap", …
  std::string detail;  // what was compared with what
};

struct EvidenceSummary {
  std::string source;
  bool accepted = false;
  std::string platform;          // "sev-snp", "tdx", "sim"
  std::string measurement_hex;
  std::string tcb;
  std::string tcb_status;
  std::string verified_at;       // RFC 3339
  std::string signing_key_hex;
  std::string config_hash_hex;
  std::vector<std::string> warnings;
};

struct ContributorRange {
  std::uint64_t first_round = 0;
  std::uint64_t last_round = 0;
  std::vector<std::string> contributors;  // sorted
};

struct AuditReport {
  std::vector<EvidenceSummary> evidence;
  bool have_federation = false;
  protocol::FederationConfig federation;  // from the (first accepted) attested config
  std::string config_hash_hex;

  std::size_t results = 0;               // lines read
  std::size_t signatures_verified = 0;
  std::uint64_t first_round = 0, last_round = 0;
  std::size_t completed = 0, failed_quorum = 0, aborted = 0;
  bool final_seen = false;
  std::vector<ContributorRange> contributors;  // consecutive rounds with the same contributor set
  double final_epsilon = 0;
  double final_delta = 0;
  std::uint64_t last_model_version = 0;
  std::string last_model_hash_hex;     // of the last result
  std::uint64_t last_model_round = 0;

  std::vector<Violation> violations;
  std::vector<std::string> warnings;
  bool ok() const { return violations.empty(); }
};

struct AuditInput {
  std::vector<EvidenceRecord> evidence;
  attestation::Policy policy;
  std::string results_text;            // the results.jsonl content
  std::string results_name = "results.jsonl";
  std::optional<Clock::WallTime> at;   // unset: each record's received_at
};

// Never fails: what cannot be verified is a violation in the report.
AuditReport Audit(const AuditInput& input);

void PrintReport(const AuditReport& report, bool json, std::ostream& out);

}  // namespace cairn::participant::audit
