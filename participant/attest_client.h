// The participant's first step: fetch the aggregator's evidence and verify it, itself, against
// its own policy. Nothing about the participant's data is sent before this passes: the only
// message sent is GetEvidence{nonce, participant id}.
#pragma once

#include <array>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/attestation/attestation.h"
#include "common/core/clock.h"
#include "common/net/net.h"
#include "participant/config.h"
#include "protocol/evidence_bundle.h"
#include "protocol/federation_config.h"
#include "protocol/types.h"

namespace cairn::participant {

using Nonce = std::array<std::uint8_t, 32>;

// Sends GetEvidence and waits for the answer, retrying with exponential backoff (a fresh socket
// per attempt). kUnavailable after `options.attempts` attempts, naming the endpoint and the time
// spent; kFailedPrecondition when the aggregator speaks another protocol major version.
Result<protocol::Evidence> FetchEvidence(zmq::context_t& context, const std::string& endpoint,
                                         const Nonce& nonce, const std::string& participant_id,
                                         const ConnectOptions& options);

struct AggregatorVerification {
  bool accepted = false;
  attestation::Verdict verdict;              // the platform checks (signature, chain, TCB, policy)
  std::vector<attestation::Check> checks;    // then: binding, config rules, roster
  protocol::FederationConfig federation;     // parsed from the attested bytes
  crypto::Sha256Digest config_hash{};
  std::string FirstFailure() const;
};

// Verifies evidence for `nonce`: the platform verdict with REPORT_DATA bound to the nonce, the
// three keys and SHA-256 of the federation config; the policy's rules on that config; and that
// this participant (id and Curve key) is in the attested roster. Errors only for unusable input.
Result<AggregatorVerification> VerifyAggregator(const protocol::Evidence& evidence, const Nonce& nonce,
                                                const attestation::Policy& policy,
                                                const std::string& self_id, const net::CurveKey& self_key,
                                                Clock::WallTime now);

// The policy's [federation] rules on an attested federation config, one check per rule.
std::vector<attestation::Check> CheckFederationRules(const protocol::FederationConfig& federation,
                                                     const attestation::FederationRules& rules);

using protocol::ToAttestationEvidence;  // protocol/evidence_bundle.h
using protocol::ToProtocolEvidence;

}  // namespace cairn::participant
