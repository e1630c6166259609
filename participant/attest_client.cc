#include "participant/attest_client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "common/core/log.h"
#include "protocol/codec.h"
#include "protocol/limits.h"
#include "protocol/sealing.h"

namespace cairn::participant {

Result<protocol::Evidence> FetchEvidence(zmq::context_t& context, const std::string& endpoint,
                                         const Nonce& nonce, const std::string& participant_id,
                                         const ConnectOptions& options) {
  protocol::GetEvidence request;
  request.nonce = nonce;
  request.participant_id = participant_id;
  Bytes payload = protocol::Encode(request);
  auto start = std::chrono::steady_clock::now();
  std::uint32_t backoff = options.initial_backoff_ms;
  for (std::uint32_t attempt = 1; attempt <= options.attempts; ++attempt) {
    zmq::socket_t s(context, zmq::socket_type::dealer);
    net::SocketOptions so;
    so.max_message_bytes = protocol::kMaxAttestationMessageBytes;
    so.heartbeat_ms = 0;
    CAIRN_RETURN_IF_ERROR(net::ApplySocketOptions(s, so));
    try {
      s.connect(endpoint);
    } catch (const zmq::error_t& e) {
      return Fail(ErrorCode::kInvalidArgument, "cannot connect to " + endpoint + ": " + e.what());
    }
    CAIRN_RETURN_IF_ERROR(net::SendBytes(s, payload));
    zmq::pollitem_t item{static_cast<void*>(s), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(options.request_timeout_ms));
    if (item.revents & ZMQ_POLLIN) {
      CAIRN_ASSIGN_OR_RETURN(auto frames, net::RecvFrames(s, 2));
      if (frames && frames->size() == 1) {
        CAIRN_ASSIGN_OR_RETURN(protocol::Message m,
                               protocol::Decode(net::FrameBytes((*frames)[0]), protocol::kMaxAttestationMessageBytes));
        if (auto* e = std::get_if<protocol::Evidence>(&m)) return std::move(*e);
        if (auto* err = std::get_if<protocol::ErrorReply>(&m)) {
          return Fail(err->code == protocol::RejectCode::kVersionMismatch ? ErrorCode::kFailedPrecondition
                                                                          : ErrorCode::kUnavailable,
                      "the aggregator at " + endpoint + " answered: " + err->message);
        }
        return Fail(ErrorCode::kInvalidArgument, std::string("the aggregator answered GetEvidence with ") +
                                                     protocol::MessageName(m));
      }
    }
    log::Warn("aggregator_unreachable", {{"endpoint", endpoint}, {"attempt", attempt},
                                         {"backoff_ms", attempt < options.attempts ? backoff : 0u}});
    if (attempt < options.attempts) {
      // Backoff between attempts against an unreachable host (nothing to wait on but time).
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      backoff = std::min(options.max_backoff_ms, backoff * 2);
    }
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", secs);
  return Fail(ErrorCode::kUnavailable, "no answer from the aggregator at " + endpoint + " after " +
                                           std::to_string(options.attempts) + " attempts over " + buf +
                                           " s: is it running, and is the address right?");
}

namespace {

// Whether everything the federation releases is charged to the (ε, δ) ledger: DP training when it
// trains, and only noisy queries when it runs analytics (an exact query has ε = ∞). `why` says
// what is unbounded otherwise.
bool LedgerBoundsEverything(const protocol::FederationConfig& f, std::string& why) {
  if (f.runs_training() && !f.privacy.enabled) {
    why = "differential privacy is off (epsilon unbounded)";
    return false;
  }
  if (f.runs_analytics()) {
    for (const auto& q : f.queries) {
      if (!q.noise) {
        why = "query '" + q.name + "' has noise = false (exact answers, epsilon unbounded)";
        return false;
      }
    }
  }
  return true;
}

}  // namespace

std::vector<attestation::Check> CheckFederationRules(const protocol::FederationConfig& f,
                                                     const attestation::FederationRules& rules) {
  std::vector<attestation::Check> checks;
  char buf[256];
  std::string unbounded;
  const bool dp = LedgerBoundsEverything(f, unbounded);
  if (rules.min_cohort) {
    bool ok = f.min_participants >= *rules.min_cohort;
    std::snprintf(buf, sizeof buf, "federation.min_participants = %u, policy requires >= %lld", f.min_participants,
                  static_cast<long long>(*rules.min_cohort));
    checks.push_back({"federation-min-cohort", ok, buf});
  }
  if (rules.max_epsilon) {
    bool ok = dp && f.privacy.epsilon_budget <= *rules.max_epsilon;
    if (dp) {
      std::snprintf(buf, sizeof buf, "privacy.epsilon_budget = %g, policy allows <= %g", f.privacy.epsilon_budget,
                    *rules.max_epsilon);
    } else {
      std::snprintf(buf, sizeof buf, "%s, policy allows <= %g", unbounded.c_str(), *rules.max_epsilon);
    }
    checks.push_back({"federation-max-epsilon", ok, buf});
  }
  if (rules.max_delta) {
    bool ok = dp && f.privacy.delta <= *rules.max_delta;
    std::snprintf(buf, sizeof buf, "privacy.delta = %g (%s), policy allows <= %g", f.privacy.delta,
                  dp ? "every release is charged to the ledger" : unbounded.c_str(), *rules.max_delta);
    checks.push_back({"federation-max-delta", ok, buf});
  }
  if (!rules.allowed_strategies.empty()) {
    bool ok = std::find(rules.allowed_strategies.begin(), rules.allowed_strategies.end(), f.strategy.name) !=
              rules.allowed_strategies.end();
    checks.push_back({"federation-strategy", ok, "strategy.name = " + f.strategy.name});
  }
  if (rules.require_secure_aggregation && *rules.require_secure_aggregation) {
    bool ok = f.masking.enabled;
    checks.push_back({"federation-secure-aggregation", ok,
                      ok ? "pairwise masking is on" : "pairwise masking is off, and the policy requires it"});
  }
  if (rules.require_hidden_cohort && *rules.require_hidden_cohort) {
    // Sampling amplifies ε against the host and the other members only when they cannot see who
    // was sampled (docs/privacy.md, "Hiding the cohort").
    bool ok = f.privacy.enabled && f.privacy.hide_cohort;
    checks.push_back({"federation-hidden-cohort", ok,
                      ok ? "privacy.hide_cohort is on: the round's sample stays inside the enclave"
                         : std::string(f.privacy.enabled ? "privacy.hide_cohort is off"
                                                         : "differential privacy is off") +
                               ": the host and the members see who takes part in each round, and the policy "
                               "requires the cohort hidden"});
  }
  return checks;
}

std::string AggregatorVerification::FirstFailure() const {
  std::string v = verdict.FirstFailure();
  if (!v.empty()) return v;
  for (const auto& c : checks) {
    if (!c.ok) return c.name + ": " + c.detail;
  }
  return "";
}

Result<AggregatorVerification> VerifyAggregator(const protocol::Evidence& evidence, const Nonce& nonce,
                                                const attestation::Policy& policy, const std::string& self_id,
                                                const net::CurveKey& self_key, Clock::WallTime now) {
  AggregatorVerification out;
  out.config_hash = crypto::Sha256(AsBytes(evidence.federation_config));
  attestation::VerifyOptions vo;
  vo.at = now;
  vo.expected_report_data = protocol::ComputeReportData(nonce, evidence.curve_key, evidence.hpke_key,
                                                        evidence.signing_key, out.config_hash);
  CAIRN_ASSIGN_OR_RETURN(out.verdict, attestation::VerifyEvidence(ToAttestationEvidence(evidence.bundle), policy, vo));

  auto fed = protocol::ParseAttestedFederation(evidence.federation_config);
  if (!fed) {
    out.checks.push_back({"federation-config", false, fed.error().message()});
    return out;
  }
  out.federation = std::move(*fed);
  out.checks.push_back({"federation-config", true, "federation '" + out.federation.id + "', SHA-256 " +
                                                       HexEncode(out.config_hash).substr(0, 16) + "…"});
  for (auto& c : CheckFederationRules(out.federation, policy.federation)) out.checks.push_back(std::move(c));
  const protocol::RosterEntry* me = out.federation.FindById(self_id);
  bool in_roster = me != nullptr && std::equal(me->curve_key.begin(), me->curve_key.end(), self_key.begin());
  out.checks.push_back({"roster", in_roster,
                        in_roster ? "'" + self_id + "' is in the attested roster with this key (" +
                                        std::to_string(out.federation.roster.size()) + " participants)"
                                  : me ? "'" + self_id + "' is in the roster with another Curve key"
                                       : "'" + self_id + "' is not in the attested roster"});
  out.accepted = out.verdict.accepted;
  for (const auto& c : out.checks) out.accepted = out.accepted && c.ok;
  return out;
}

}  // namespace cairn::participant
