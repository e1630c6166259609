// `cairn-aggregator run`: loads the federation, produces evidence, serves rounds.
#pragma once

#include <atomic>
#include <filesystem>
#include <ostream>
#include <string>

namespace cairn::aggregator {

struct RunArgs {
  std::filesystem::path config;              // federation.toml
  std::string attestation = "auto";          // sim | sev-snp | tdx | auto
  std::filesystem::path state_dir;           // overrides [server] state_dir when set
  std::string sealing = "auto";              // sim | key-file | sev-snp | auto | none
  std::filesystem::path sealing_key_file;    // for key-file
  std::string configfs_tsm_root;             // overrides the configfs-tsm folder (tests)
  std::string metrics_listen;                // HOST:PORT for /metrics and /healthz; "" = off
};

// Prints "cairn-aggregator: ready attestation=… control=… data=…" on `out` once serving (the
// readiness signal tests and scripts wait for). Returns the process exit code: 0 when the
// federation ran to its end, 1 on errors (printed to `err`), 3 when stopped by a signal.
int RunAggregator(const RunArgs& args, const std::atomic<int>& stop_signals, std::ostream& out,
                  std::ostream& err);

}  // namespace cairn::aggregator
