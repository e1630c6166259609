// The participant's own configuration (participant.toml). Relative paths resolve against the
// file's folder. Strict: unknown keys are errors naming key, file and line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/analytics/party_policy.h"
#include "common/core/error.h"

namespace cairn::participant {

struct ConnectOptions {
  std::uint32_t attempts = 10;              // evidence requests before giving up
  std::uint32_t initial_backoff_ms = 250;   // doubled after each failed attempt
  std::uint32_t max_backoff_ms = 5000;
  std::uint32_t request_timeout_ms = 5000;  // per request (evidence, welcome, model window)
  std::uint32_t idle_timeout_s = 600;       // silence on the control channel before re-attesting;
                                            // also the longest an upload chunk waits to be taken
};

struct DataConfig {
  std::string format = "csv";               // "csv" | "fashion-mnist"
  std::filesystem::path train;              // csv: training rows; fashion-mnist: index file of rows
  std::filesystem::path eval;               // optional held-out set (csv file, or index file)
  std::string label_column = "label";
  double holdout_fraction = 0.2;            // without `eval`: share of the local rows held out
  std::filesystem::path fashion_mnist_dir;  // fashion-mnist: folder of the IDX files
  std::uint64_t seed = 1;                   // local shuffles and hold-out split
};

// Clean-room analytics ([analytics] in participant.toml, docs/configuration.md): this party's own
// table and policy. Never shared: the aggregator learns only which queries it declines and why.
struct AnalyticsConfig {
  std::filesystem::path table;              // the CSV the party's partials are computed over
  analytics::PartyPolicy policy;            // allowed columns and kinds, minimum protections
};

struct ParticipantConfig {
  std::string id;                           // this participant's id in the federation roster
  std::string aggregator;                   // attestation endpoint, tcp://host:port
  std::filesystem::path key_file;           // Curve key pair (cairn-participant keygen)
  std::filesystem::path policy;             // attestation policy (may be given by --policy)
  std::filesystem::path state_dir;          // last verified round result (rollback detection)
  std::filesystem::path torchscript;        // local copy of a TorchScript model, when the federation uses one
  // Mutual attestation: where this participant's own evidence comes from when the federation
  // requires it ("none", "sim", "sev-snp", "tdx", "auto"; as cairn-aggregator --attestation).
  std::string attestation = "none";
  std::filesystem::path sim_platform_key;   // sim only: the platform key file (development)
  std::uint32_t threads = 1;                // training threads
  ConnectOptions connect;
  DataConfig data;
  std::optional<AnalyticsConfig> analytics; // absent: this party declines every query
};

Result<ParticipantConfig> LoadParticipantConfig(const std::filesystem::path& path);

}  // namespace cairn::participant
