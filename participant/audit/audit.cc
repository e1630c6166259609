#include "participant/audit/audit.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/core/file.h"
#include "participant/attest_client.h"
#include "participant/audit/result_rules.h"
#include "protocol/federation_config.h"
#include "protocol/round_result.h"
#include "protocol/sealing.h"

namespace cairn::participant::audit {
namespace {

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

struct AttestedKey {
  crypto::Ed25519PublicKey key{};
  std::size_t evidence_index = 0;
  std::string platform;
};

std::string RoundRange(std::uint64_t a, std::uint64_t b) {
  return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
}

std::string Join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i];
  }
  return s;
}

void VerifyEvidenceRecords(const AuditInput& in, AuditReport& report, std::vector<AttestedKey>& keys) {
  std::optional<crypto::Sha256Digest> attested_hash;
  for (std::size_t i = 0; i < in.evidence.size(); ++i) {
    const EvidenceRecord& rec = in.evidence[i];
    EvidenceSummary s;
    s.source = rec.source.empty() ? "evidence record " + std::to_string(i + 1) : rec.source;
    auto config_hash = crypto::Sha256(AsBytes(rec.evidence.federation_config));
    s.config_hash_hex = HexEncode(config_hash);
    s.signing_key_hex = HexEncode(rec.evidence.signing_key);
    Clock::WallTime at{};
    if (in.at) {
      at = *in.at;
    } else if (rec.received_at_ms > 0) {
      at = Clock::WallTime(std::chrono::milliseconds(rec.received_at_ms));
    } else {
      report.violations.push_back({s.source, "evidence-time",
                                   "the record carries no time of receipt: give the verification instant with --at"});
    }
    s.verified_at = attestation::FormatRfc3339(at);
    attestation::VerifyOptions vo;
    vo.at = at;
    vo.expected_report_data = protocol::ComputeReportData(rec.nonce, rec.evidence.curve_key, rec.evidence.hpke_key,
                                                          rec.evidence.signing_key, config_hash);
    auto verdict = attestation::VerifyEvidence(ToAttestationEvidence(rec.evidence.bundle), in.policy, vo);
    bool accepted = false;
    if (!verdict) {
      report.violations.push_back({s.source, "evidence", verdict.error().message()});
    } else {
      s.platform = std::string(attestation::PlatformName(verdict->platform));
      s.measurement_hex = HexEncode(verdict->measurement);
      s.tcb = verdict->tcb;
      s.tcb_status = verdict->tcb_status;
      s.warnings = verdict->warnings;
      accepted = verdict->accepted;
      for (const auto& c : verdict->checks) {
        if (!c.ok) report.violations.push_back({s.source, "evidence:" + c.name, c.detail});
      }
      if (!verdict->accepted && std::all_of(verdict->checks.begin(), verdict->checks.end(),
                                            [](const auto& c) { return c.ok; })) {
        report.violations.push_back({s.source, "evidence", "the policy did not accept the evidence"});
      }
    }
    auto fed = protocol::ParseAttestedFederation(rec.evidence.federation_config);
    if (!fed) {
      accepted = false;
      report.violations.push_back({s.source, "federation-config", fed.error().message()});
    } else {
      for (const auto& c : CheckFederationRules(*fed, in.policy.federation)) {
        if (!c.ok) {
          accepted = false;
          report.violations.push_back({s.source, c.name, c.detail});
        }
      }
    }
    s.accepted = accepted;
    if (accepted) {
      if (!attested_hash) {
        attested_hash = config_hash;
        report.have_federation = true;
        report.federation = std::move(*fed);
        report.config_hash_hex = s.config_hash_hex;
      } else if (*attested_hash != config_hash) {
        report.violations.push_back({s.source, "evidence-config",
                                     "attests federation config SHA-256 " + s.config_hash_hex +
                                         ", another record attests " + report.config_hash_hex +
                                         ": the records are not of one federation"});
      }
      keys.push_back({rec.evidence.signing_key, i, s.platform});
    }
    report.evidence.push_back(std::move(s));
  }
  if (in.evidence.empty()) report.violations.push_back({"evidence", "evidence", "no evidence record was given"});
  if (!in.evidence.empty() && keys.empty()) {
    report.violations.push_back({"evidence", "evidence",
                                 "no evidence record was accepted: no round result can be tied to an attested "
                                 "aggregator"});
  }
}

void CheckResults(const AuditInput& in, const std::vector<AttestedKey>& keys, AuditReport& report) {
  const auto& fed = report.federation;
  std::optional<protocol::RoundResult> prev;
  bool prev_unknown = false;  // the previous line did not parse: the chain link cannot be checked
  std::istringstream lines(in.results_text);
  std::string line;
  for (std::size_t n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++report.results;
    std::string where = in.results_name + ":" + std::to_string(n);
    auto parsed = protocol::ResultFromJson(line);
    if (!parsed) {
      report.violations.push_back({where, "result-format", parsed.error().message()});
      prev_unknown = true;
      continue;
    }
    const protocol::RoundResult& r = *parsed;
    where += " (round " + std::to_string(r.round) + ")";
    auto violation = [&](std::string check, std::string detail) {
      report.violations.push_back({where, std::move(check), std::move(detail)});
    };

    // Signature by an attested key.
    const AttestedKey* signer = nullptr;
    for (const auto& k : keys) {
      if (protocol::VerifyResultSignature(r, k.key)) {
        signer = &k;
        break;
      }
    }
    if (signer) {
      ++report.signatures_verified;
    } else if (!keys.empty()) {
      violation("signature", "the signature does not verify with any attested signing key (" +
                                 std::to_string(keys.size()) + " attested)");
    }

    // Same federation, config and platform as attested.
    if (report.have_federation) {
      if (r.federation_id != fed.id) {
        violation("federation-id", "the result names federation '" + r.federation_id + "', the attested config '" +
                                       fed.id + "'");
      }
      if (HexEncode(r.config_hash) != report.config_hash_hex) {
        violation("config-hash", "the result's config SHA-256 is " + HexEncode(r.config_hash) + ", attested " +
                                     report.config_hash_hex);
      }
      for (auto& v : CheckResultAgainstConfig(r, fed)) violation(std::move(v.check), std::move(v.detail));
    }
    if (signer && !signer->platform.empty() && r.platform != signer->platform) {
      violation("platform", "the result says platform '" + r.platform + "', its signing key was attested on '" +
                                signer->platform + "'");
    }

    // The chain.
    if (!prev && !prev_unknown) {
      if (r.round != 1 || !r.prev_hash.empty()) {
        violation("chain-start", "the first result should be round 1 with no previous hash; it is round " +
                                     std::to_string(r.round) +
                                     (r.prev_hash.empty() ? "" : " with a previous hash") +
                                     ": the file does not start at the federation's beginning");
      }
      report.first_round = r.round;
    } else if (prev) {
      if (r.round <= prev->round) {
        violation("rollback", "round " + std::to_string(r.round) + " follows round " + std::to_string(prev->round));
      } else if (r.round != prev->round + 1) {
        violation("gap", "round " + std::to_string(r.round) + " follows round " + std::to_string(prev->round) +
                             ": " + RoundRange(prev->round + 1, r.round - 1) + " missing");
      }
      auto h = protocol::ResultHash(*prev);
      if (r.prev_hash.size() != h.size() || !std::equal(h.begin(), h.end(), r.prev_hash.begin())) {
        violation("hash-chain", "prev_hash " + (r.prev_hash.empty() ? std::string("(empty)") : HexEncode(r.prev_hash)) +
                                    " is not the hash of the previous result (" + HexEncode(h) + ")");
      }
      for (auto& v : CheckResultSuccession(r, {prev->round, prev->epsilon_spent, prev->final})) {
        violation(std::move(v.check), std::move(v.detail));
      }
    }
    if (report.first_round == 0) report.first_round = r.round;
    prev_unknown = false;

    // Summary.
    switch (r.status) {
      case protocol::RoundStatus::kCompleted: ++report.completed; break;
      case protocol::RoundStatus::kFailedQuorum: ++report.failed_quorum; break;
      case protocol::RoundStatus::kAborted: ++report.aborted; break;
    }
    std::vector<std::string> who = r.contributors;
    std::sort(who.begin(), who.end());
    if (!report.contributors.empty() && report.contributors.back().contributors == who &&
        report.contributors.back().last_round + 1 == r.round) {
      report.contributors.back().last_round = r.round;
    } else {
      report.contributors.push_back({r.round, r.round, who});
    }
    report.last_round = r.round;
    report.final_seen = report.final_seen || r.final;
    report.final_epsilon = r.epsilon_spent;
    report.final_delta = r.delta;
    report.last_model_version = r.model_version;
    report.last_model_hash_hex = HexEncode(r.model_hash);
    report.last_model_round = r.round;
    prev = std::move(*parsed);
  }
  if (report.results == 0) report.violations.push_back({in.results_name, "results", "the file holds no round result"});
  if (report.results > 0 && !report.final_seen) {
    report.warnings.push_back("no result is marked final: the federation had not finished when this file was taken");
  }
}

}  // namespace

AuditReport Audit(const AuditInput& input) {
  AuditReport report;
  std::vector<AttestedKey> keys;
  VerifyEvidenceRecords(input, report, keys);
  CheckResults(input, keys, report);
  for (const auto& e : report.evidence) {
    for (const auto& w : e.warnings) {
      if (std::find(report.warnings.begin(), report.warnings.end(), w) == report.warnings.end()) {
        report.warnings.push_back(w);
      }
    }
  }
  return report;
}

void PrintReport(const AuditReport& r, bool json, std::ostream& out) {
  const auto& fed = r.federation;
  if (json) {
    nlohmann::ordered_json j;
    j["verdict"] = r.ok() ? "pass" : "fail";
    auto& ev = j["evidence"] = nlohmann::ordered_json::array();
    for (const auto& e : r.evidence) {
      ev.push_back({{"source", e.source}, {"accepted", e.accepted}, {"platform", e.platform},
                    {"measurement", e.measurement_hex}, {"tcb", e.tcb}, {"tcb_status", e.tcb_status},
                    {"verified_at", e.verified_at}, {"signing_key", e.signing_key_hex},
                    {"config_sha256", e.config_hash_hex}});
    }
    if (r.have_federation) {
      nlohmann::ordered_json f;
      f["id"] = fed.id;
      f["config_sha256"] = r.config_hash_hex;
      f["rounds"] = fed.rounds;
      f["min_participants"] = fed.min_participants;
      f["strategy"] = fed.strategy.name;
      f["privacy"] = fed.privacy.enabled;
      if (fed.privacy.enabled) {
        f["epsilon_budget"] = fed.privacy.epsilon_budget;
        f["delta"] = fed.privacy.delta;
      }
      auto& roster = f["roster"] = nlohmann::ordered_json::array();
      for (const auto& p : fed.roster) roster.push_back(p.id);
      j["federation"] = f;
    }
    nlohmann::ordered_json res;
    res["results"] = r.results;
    res["signatures_verified"] = r.signatures_verified;
    res["first_round"] = r.first_round;
    res["last_round"] = r.last_round;
    res["completed"] = r.completed;
    res["failed_quorum"] = r.failed_quorum;
    res["aborted"] = r.aborted;
    res["final"] = r.final_seen;
    res["epsilon"] = r.final_epsilon;
    res["delta"] = r.final_delta;
    res["model_version"] = r.last_model_version;
    res["model_sha256"] = r.last_model_hash_hex;
    auto& cr = res["contributors"] = nlohmann::ordered_json::array();
    for (const auto& c : r.contributors) {
      cr.push_back({{"first_round", c.first_round}, {"last_round", c.last_round}, {"participants", c.contributors}});
    }
    j["rounds"] = res;
    auto& v = j["violations"] = nlohmann::ordered_json::array();
    for (const auto& x : r.violations) v.push_back({{"where", x.where}, {"check", x.check}, {"detail", x.detail}});
    j["warnings"] = r.warnings;
    out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }

  auto row = [&](std::string_view label, const std::string& value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "  %-14s", std::string(label).c_str());
    out << buf << value << "\n";
  };
  out << "Cairn run audit\n\n";
  std::size_t accepted = std::count_if(r.evidence.begin(), r.evidence.end(), [](const auto& e) { return e.accepted; });
  out << "Attestation\n";
  row("evidence", std::to_string(r.evidence.size()) + " record(s), " + std::to_string(accepted) + " accepted");
  std::set<std::string> shown;
  for (const auto& e : r.evidence) {
    std::string key = e.platform + "/" + e.measurement_hex;
    if (!e.accepted || shown.contains(key)) continue;
    shown.insert(key);
    row("platform", e.platform + (e.platform == "sim" ? "  (software stand-in: NOT confidential, development only)" : ""));
    row("measurement", e.measurement_hex);
    if (!e.tcb.empty()) row("tcb", e.tcb + (e.tcb_status.empty() ? "" : " (" + e.tcb_status + ")"));
  }
  for (const auto& e : r.evidence) {
    row("verified", e.source + " at " + e.verified_at + (e.accepted ? ": accepted" : ": REJECTED"));
  }
  out << "\nFederation (as attested)\n";
  if (r.have_federation) {
    row("id", fed.id);
    row("config", "SHA-256 " + r.config_hash_hex);
    row("plan", std::to_string(fed.rounds) + " rounds, quorum " + std::to_string(fed.min_participants) +
                    ", strategy " + fed.strategy.name);
    std::vector<std::string> ids;
    for (const auto& p : fed.roster) ids.push_back(p.id);
    row("roster", Join(ids));
    row("privacy", fed.privacy.enabled ? "differential privacy on: budget ε = " + Num(fed.privacy.epsilon_budget) +
                                             " at δ = " + Num(fed.privacy.delta)
                                       : "differential privacy OFF: no (ε, δ) guarantee");
  } else {
    row("id", "(unknown: no accepted evidence)");
  }
  out << "\nRounds\n";
  row("results", std::to_string(r.results) + " signed result(s), rounds " + RoundRange(r.first_round, r.last_round) +
                     (r.final_seen ? ", federation finished" : ", not finished"));
  row("outcome", std::to_string(r.completed) + " completed, " + std::to_string(r.failed_quorum) +
                     " failed (quorum), " + std::to_string(r.aborted) + " aborted");
  row("signatures", std::to_string(r.signatures_verified) + " of " + std::to_string(r.results) +
                        " verified with an attested signing key");
  for (const auto& c : r.contributors) {
    row("contributors", "round" + std::string(c.first_round == c.last_round ? " " : "s ") +
                            RoundRange(c.first_round, c.last_round) + ": " +
                            (c.contributors.empty() ? std::string("(none)") : Join(c.contributors)));
  }
  row("privacy", "ε = " + Num(r.final_epsilon) + ", δ = " + Num(r.final_delta) + " after the last round");
  row("final model", "round " + std::to_string(r.last_model_round) + ", version " +
                         std::to_string(r.last_model_version) + ", SHA-256 " + r.last_model_hash_hex);
  if (!r.warnings.empty()) {
    out << "\nWarnings\n";
    for (const auto& w : r.warnings) out << "  - " << w << "\n";
  }
  out << "\n";
  if (r.ok()) {
    out << "VERDICT: PASS. Every check passed: the evidence, every signature, the hash chain, the round "
           "sequence and the privacy budget.\n";
  } else {
    out << "VERDICT: FAIL. " << r.violations.size() << " violation(s):\n";
    for (const auto& v : r.violations) out << "  " << v.where << ": " << v.check << ": " << v.detail << "\n";
  }
}

int RunAudit(const AuditArgs& args, std::ostream& out, std::ostream& err) {
  auto fail = [&](const Error& e) {
    err << "cairn-participant audit: " << e.message() << std::endl;
    return 2;
  };
  if (auto s = crypto::Init(); !s) return fail(s.error());
  AuditInput in;
  if (!args.at.empty()) {
    auto at = attestation::ParseRfc3339(args.at);
    if (!at) return fail(std::move(at).error().Context("--at"));
    in.at = *at;
  }
  std::optional<std::array<std::uint8_t, 32>> nonce;
  if (!args.nonce_hex.empty()) {
    auto b = HexDecode(args.nonce_hex);
    if (!b || b->size() != 32) return fail(Error(ErrorCode::kInvalidArgument, "--nonce must be 64 hex digits"));
    nonce.emplace();
    std::copy(b->begin(), b->end(), nonce->begin());
  }
  auto policy = attestation::LoadPolicy(args.policy);
  if (!policy) return fail(policy.error());
  in.policy = std::move(*policy);
  if (args.evidence.empty()) return fail(Error(ErrorCode::kInvalidArgument, "--evidence is required"));
  for (const auto& path : args.evidence) {
    auto records = ReadEvidenceFile(path, nonce);
    if (!records) return fail(records.error());
    for (auto& r : *records) in.evidence.push_back(std::move(r));
  }
  auto text = ReadFileText(args.results, 1ull << 30);
  if (!text) return fail(text.error());
  in.results_text = std::move(*text);
  in.results_name = args.results.filename().string();
  AuditReport report = Audit(in);
  PrintReport(report, args.json, out);
  return report.ok() ? 0 : 1;
}

}  // namespace cairn::participant::audit
