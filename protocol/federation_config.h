// The federation configuration: what every participant sees, attested, before it joins.
//
// One TOML file holds the federation (attested) and a [server] table (deployment details of the
// aggregator: addresses, state folder; not attested). The attested form is the file's TOML
// re-emitted canonically without [server]; participants receive those bytes in the evidence,
// check their SHA-256 against REPORT_DATA, and parse them with the same strict parser.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/analytics/query_spec.h"
#include "common/core/error.h"
#include "common/model/model_spec.h"
#include "protocol/types.h"

namespace cairn::protocol {

struct RosterEntry {
  std::string id;   // [A-Za-z0-9._-]{1,64}
  Key32 curve_key;  // the participant's long-term CurveZMQ public key
};

struct StrategyConfig {
  std::string name = "fedavg";
  std::map<std::string, double> params;  // names follow the papers: eta, beta1, momentum, f, ...
};

struct PrivacyConfig {
  bool enabled = false;               // central DP in the enclave (DP-FedAvg)
  double noise_multiplier = 1.0;      // z: noise stddev on the sum is z·C
  double clip_norm = 1.0;             // C: every update is clipped to this L2 norm
  double epsilon_budget = 8.0;        // ε_max: no round starts that would exceed it
  double delta = 1e-5;                // δ of the (ε, δ) guarantee
  std::string sampling = "poisson";   // "poisson" (rate q) or "fixed" (m per round)
  double sampling_rate = 1.0;         // q for Poisson sampling
  std::uint32_t participants_per_round = 0;  // m for fixed-size sampling
  // Poisson sampling in secret: every connected member trains and uploads every round, and the
  // enclave adds only the sampled members' updates (docs/privacy.md, "Hiding the cohort").
  bool hide_cohort = false;
  std::string conversion = "improved";       // RDP → (ε, δ): "improved" or "classic"
  std::string orders = "opacus";             // RDP orders grid: "opacus" or "tfp"
  bool adaptive_clipping = false;     // Andrew et al. 2021
  double target_quantile = 0.5;       // γ
  double clip_learning_rate = 0.2;    // η_C
  double clip_count_stddev = 0;       // σ_b; 0 = 0.05 × expected participants per round
};

// Pairwise masking (SecAgg+) under the enclave's aggregation (docs/masking.md). Zero means
// "derived" for k, t, bits and r; protocol/masking_config.h fills them at load from the roster
// size and checks the whole set (secagg::ValidateParams).
struct MaskingConfig {
  bool enabled = false;
  std::uint32_t neighborhood_size = 0;    // k, odd, participant included; 0 = min(7, n) made odd
  std::uint32_t threshold = 0;            // t; 0 = ⌊(k + c)/2⌋ + 1
  std::uint32_t quantization_bits = 0;    // 0 = the largest with n·(2^bits − 1) < 2^32
  double clip_range = 0;                  // r; 0 = privacy.clip_norm with DP, else 1
  std::uint32_t modulus_bits = 32;        // the ring Z_{2^32} (only 32 is implemented)
  double expected_dropout_rate = 0;       // δ
  double max_abort_probability = 0.01;
  std::uint32_t max_colluding = 0;        // c
  double stage_timeout_s = 30;            // keys, shares and unmasking stages each
  std::uint64_t weight_examples = 0;      // W: FedAvg weight min(examples, W)/W; 0 = equal weights
};

struct FederationConfig {
  std::string id;                          // names the federation in every signed result
  std::uint32_t rounds = 10;               // rounds to run
  std::uint32_t min_participants = 2;      // quorum: commits a round needs to complete
  double round_timeout_s = 300;            // deadline from the offer to the last accepted commit
  double start_timeout_s = 0;              // wait for a quorum of connections; 0 = forever
  double cohort_wait_s = 2;                // with a quorum but not the whole roster: wait this long
  std::string on_quorum_failure = "retry"; // "retry" the round or "fail" the federation
  std::uint32_t max_round_retries = 3;
  std::uint32_t chunk_bytes = 1u << 20;    // plaintext bytes per data-plane chunk
  Encoding encoding = Encoding::kFloat32;  // transport of updates and models
  double eval_timeout_s = 30;              // after the last round: wait for evaluation reports
  double max_update_norm = 0;              // reject updates whose L2 norm exceeds this (0 = off)
  // Tabular features: "site" (each site standardizes with its own statistics), "federated"
  // (pooled mean and std computed in the enclave from each site's moments; only the pooled
  // values are released), or "none".
  std::string standardization = "site";
  Task task;                               // local training (per round)
  model::ModelConfig model;
  std::string initial_model_sha256;        // hex; SHA-256 of the initial float32 parameters
  StrategyConfig strategy;
  PrivacyConfig privacy;
  MaskingConfig masking;
  // Mutual attestation: the [participant_attestation] table re-emitted as TOML (an attestation
  // policy, docs/attestation.md); when set, every participant must present evidence that
  // passes it. Parsed by the aggregator (common/attestation); empty = not required.
  std::string participant_attestation_policy;
  std::vector<RosterEntry> roster;
  // What the federation runs (federation.mode): "training" (rounds only), "analytics" (the
  // [[queries]] only; no [model] needed) or "both" (the queries first, then the rounds).
  std::string mode = "training";
  // Clean-room queries ([[queries]], docs/analytics.md), validated at load; attested like the rest.
  std::vector<analytics::QuerySpec> queries;

  bool runs_training() const { return mode != "analytics"; }
  bool runs_analytics() const { return mode != "training"; }

  const RosterEntry* FindById(std::string_view participant) const;
  const RosterEntry* FindByKey(const Key32& key) const;
};

// Deployment of the aggregator (not attested).
struct ServerConfig {
  std::string listen = "tcp://127.0.0.1:7700";    // attestation endpoint
  std::string control_listen = "";                // "" = same host, ephemeral port
  std::string data_listen = "";                   // "" = same host, ephemeral port
  std::string state_dir = "cairn-state";
  std::uint32_t max_concurrent_uploads = 2;       // staging slots (memory: one model each)
  double upload_idle_timeout_s = 30;              // a slot with no chunk opened this long is freed (0 = off)
  std::uint64_t memory_limit_mb = 0;              // refuse configurations above this (0 = off)
  std::string sim_platform_key = "";              // sim: the platform key file
  std::uint64_t init_seed = 1;                    // seed of the built-in initialization
};

struct LoadedFederation {
  FederationConfig federation;
  ServerConfig server;
  std::string canonical_text;                     // attested bytes
};

// Strict: unknown keys anywhere are errors naming key, file and line.
Result<LoadedFederation> LoadFederationFile(const std::filesystem::path& path);
// Relative paths in the file (model files) resolve against base_dir.
Result<LoadedFederation> ParseFederationText(std::string_view text, std::string source_name,
                                             const std::filesystem::path& base_dir);
// Parses the attested canonical text a participant received (no [server] allowed).
Result<FederationConfig> ParseAttestedFederation(std::string_view canonical_text);

// Participant ids: [A-Za-z0-9._-], 1..64 characters.
bool IsValidParticipantId(std::string_view id);

}  // namespace cairn::protocol
