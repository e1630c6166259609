// The logic of cairn-participant's subcommands (main.cc only parses flags).
#pragma once

#include <atomic>
#include <filesystem>
#include <ostream>
#include <string>

namespace cairn::participant {

// keygen: writes a Curve key pair (mode 0600), prints the public key for the roster.
int RunKeygen(const std::filesystem::path& out_path, std::ostream& out, std::ostream& err);

struct RunOptions {
  std::filesystem::path config;
  std::filesystem::path policy;   // overrides the config's policy
  std::filesystem::path data;     // overrides [data] train
  std::string aggregator;         // overrides the config's aggregator endpoint
  // Research only: an attack spec (participant/attack_workload.h) that makes this participant
  // send poisoned updates; empty = honest.
  std::string attack;
  std::string attestation;        // overrides the config's attestation (mutual attestation)
};
int RunParticipant(const RunOptions& options, const std::atomic<int>& stop_signals, std::ostream& out,
                   std::ostream& err);

struct AttestOptions {
  std::string aggregator;         // tcp://HOST:PORT
  std::filesystem::path policy;
  std::filesystem::path config;   // optional: also check this participant's roster entry
  bool json = false;
};
// Fetches and verifies the evidence, prints the verdict and every check; joins nothing.
// Exit 0 accept, 1 reject, 2 unreadable input or unreachable aggregator.
int RunAttest(const AttestOptions& options, std::ostream& out, std::ostream& err);

struct CentralOptions {
  std::filesystem::path federation;  // federation.toml: model and task
  std::filesystem::path train;       // pooled training CSV
  std::filesystem::path test;        // test CSV
  std::string label_column = "label";
  int epochs = 0;                    // 0 = rounds × local_epochs of the federation
  bool json = false;
};
// Trains the federation's model centrally on pooled data: the baseline the demo prints.
int RunCentral(const CentralOptions& options, std::ostream& out, std::ostream& err);

}  // namespace cairn::participant
