// The metrics endpoint: GET /metrics (Prometheus text format 0.0.4) and GET /healthz, served by
// cpp-httplib on its own threads, enabled with `--metrics-listen HOST:PORT`.
//
// Exposure: everything served here is metadata (docs/operations.md lists each metric); the
// endpoint has no authentication and no TLS, so bind it to an address only the operator's
// monitoring can reach (inside a CVM, the pod or host network, never a public interface).
// Requests other than GET of these two paths get 404; request bodies are refused past 1 KiB.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/core/error.h"
#include "common/metrics/metrics.h"

namespace cairn::metrics {

struct HealthStatus {
  bool ok = true;          // false: /healthz answers 503 with status "failing"
  std::uint64_t round = 0; // the round in progress (or the next one)
  std::string phase;       // e.g. "waiting", "collecting", "evaluating", "done"
};
// Called on an HTTP worker thread for every /healthz request: must be thread-safe and quick.
using HealthFunction = std::function<HealthStatus()>;

// A thread-safe holder of the health status, for the engine's thread to update and /healthz to
// read (HealthState::Function() is a HealthFunction over it; the state must outlive the server).
class HealthState {
 public:
  void Set(std::uint64_t round, std::string_view phase, bool ok = true);
  HealthStatus Get() const;
  HealthFunction Function() const {
    return [this] { return Get(); };
  }

 private:
  mutable std::mutex mu_;
  HealthStatus status_;
};

// "HOST:PORT" or "[IPv6]:PORT"; PORT 0..65535 (0 = ephemeral). Names the problem on error.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
Result<HostPort> ParseHostPort(std::string_view text);

struct MetricsServerOptions {
  // Where to listen: "HOST:PORT" (port 0 picks a free port; port() tells which).
  std::string listen = "127.0.0.1:9464";
  // HTTP worker threads (scrapes are rare: two is plenty and bounds the threads a client can tie up).
  std::size_t threads = 2;
  // Per-connection read and write timeouts (a slow client cannot hold a worker longer).
  std::chrono::seconds io_timeout{5};
};

// Owns the HTTP server and its listening thread. Move-only through the unique_ptr; the registry
// and the health function's state are borrowed and must outlive the server (or Stop()).
class MetricsServer {
 public:
  // Binds (a port in use or a bad address is an error naming it) and starts serving before it
  // returns. `health` may be empty: /healthz then reports ok with round 0 and phase "".
  static Result<std::unique_ptr<MetricsServer>> Start(const MetricsServerOptions& options,
                                                      const Registry& registry, HealthFunction health);
  ~MetricsServer();  // Stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Stops listening and joins the thread; in-flight requests finish first. Idempotent.
  void Stop();

  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  // "http://HOST:PORT" with the bound port (IPv6 hosts in brackets).
  std::string url() const;

 private:
  struct Impl;
  MetricsServer() = default;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::string host_;
  std::uint16_t port_ = 0;
};

// The /healthz body: {"status":"ok"|"failing","round":N,"phase":"…"}.
std::string HealthJson(const HealthStatus& status);

}  // namespace cairn::metrics
