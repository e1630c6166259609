// The logic of `cairn-participant verify-evidence` (main.cc parses the flags into
// VerifyEvidenceArgs; nothing here knows about CLI11).
//
//   cairn-participant verify-evidence --report FILE [--certs FILE]... [--collateral FILE]...
//       [--platform sev-snp|tdx|sim] --policy FILE [--at RFC3339] [--expect-report-data HEX] [--json]
//
// Reads a stored report or quote (raw binary or hex text, detected), certificates (PEM or DER, one
// or several per file) and TDX collateral, verifies them with the same verifier `run` and `attest`
// use, and prints every check with its value and outcome.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "common/core/clock.h"

namespace cairn::participant {

struct VerifyEvidenceArgs {
  std::filesystem::path report;                    // required: report / quote file
  std::vector<std::filesystem::path> certs;        // --certs, repeatable: VCEK/ASK/ARK, TCB signing cert…
  std::vector<std::filesystem::path> collateral;   // --collateral, repeatable: a dcap-qvl bundle, or
                                                   // Intel PCS tcbInfo.json / enclaveIdentity.json
  std::string platform;                            // "sev-snp", "tdx", "sim"; "" = detect from the report
  std::filesystem::path policy;                    // required: policy TOML
  std::string at;                                  // RFC 3339 verification time; "" = now (clock)
  std::string expect_report_data;                  // 128 hex digits; "" = not checked (a warning says so)
  bool json = false;                               // print the JSON verdict instead of text
  const Clock* clock = nullptr;                    // for "now"; nullptr = the system clock. Not owned.
};

// Exit codes: 0 accepted, 1 rejected, 2 unreadable input or usage error (message on `err`).
// JSON (--json) on `out`: {"verdict": "accept"|"reject", "platform", "measurement", "report_data",
// "tcb", "tcb_status", "checks": [{"name", "ok", "detail"}]}; warnings then go to `err`.
int RunVerifyEvidence(const VerifyEvidenceArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cairn::participant
