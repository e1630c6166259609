#include "common/metrics/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <nlohmann/json.hpp>

namespace cairn::metrics {

void HealthState::Set(std::uint64_t round, std::string_view phase, bool ok) {
  std::lock_guard lock(mu_);
  status_.ok = ok;
  status_.round = round;
  status_.phase = std::string(phase);
}

HealthStatus HealthState::Get() const {
  std::lock_guard lock(mu_);
  return status_;
}

Result<HostPort> ParseHostPort(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument,
                "'" + std::string(text) + "' is not HOST:PORT (" + why + "); e.g. 127.0.0.1:9464 or [::1]:0");
  };
  HostPort hp;
  std::string_view port_text;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return bad("no ']' after the IPv6 address");
    hp.host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad("no ':PORT' after ']'");
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no ':PORT'");
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return bad("write IPv6 addresses in brackets");
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) return bad("empty host");
  if (port_text.empty() || port_text.size() > 5) return bad("the port must be 0 to 65535");
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return bad("the port must be 0 to 65535");
  }
  hp.port = static_cast<std::uint16_t>(port);
  return hp;
}

std::string HealthJson(const HealthStatus& status) {
  nlohmann::ordered_json j;
  j["status"] = status.ok ? "ok" : "failing";
  j["round"] = status.round;
  j["phase"] = status.phase;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::atomic<bool> finished{false};  // listen_after_bind returned
  bool stopped = false;
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsServerOptions& options,
                                                            const Registry& registry, HealthFunction health) {
  CAIRN_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(options.listen));
  if (options.threads == 0) return Fail(ErrorCode::kInvalidArgument, "metrics server: threads must be at least 1");
  auto self = std::unique_ptr<MetricsServer>(new MetricsServer());
  self->impl_ = std::make_unique<Impl>();
  httplib::Server& s = self->impl_->server;
  std::size_t threads = options.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(options.io_timeout);
  s.set_write_timeout(options.io_timeout);
  s.set_keep_alive_timeout(options.io_timeout.count());
  s.set_payload_max_length(1024);
  // httplib's default sets SO_REUSEPORT on Linux, which lets a second process bind the same port
  // and take a share of the connections: a stale or rogue instance would answer scrapes. Use
  // SO_REUSEADDR only (a restart can still bind while old connections sit in TIME_WAIT).
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  s.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.RenderText(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/healthz", [health = std::move(health)](const httplib::Request&, httplib::Response& res) {
    HealthStatus st;
    if (health) st = health();
    res.status = st.ok ? 200 : 503;
    res.set_content(HealthJson(st), "application/json");
  });
  // A throwing health function is a bug; answer 500 rather than let httplib's default handler
  // echo the exception text.
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content("internal error\n", "text/plain");
  });

  int port = hp.port;
  if (hp.port == 0) {
    port = s.bind_to_any_port(hp.host);
    if (port < 0) {
      return Fail(ErrorCode::kUnavailable, "metrics server: cannot bind to " + options.listen +
                                               " (is the host an address of this machine?)");
    }
  } else if (!s.bind_to_port(hp.host, hp.port)) {
    return Fail(ErrorCode::kAlreadyExists, "metrics server: cannot bind to " + options.listen +
                                               " (port in use, or the host is not an address of this machine)");
  }
  self->host_ = hp.host;
  self->port_ = static_cast<std::uint16_t>(port);
  Impl* impl = self->impl_.get();
  self->thread_ = std::thread([impl] {
    impl->server.listen_after_bind();
    impl->finished.store(true);
  });
  // httplib's stop() is a no-op until the loop has started (is_running()); wait for that, so a
  // Stop() right after Start() cannot be lost. The window is the thread's start-up: microseconds.
  while (!impl->server.is_running() && !impl->finished.load()) std::this_thread::yield();
  if (impl->finished.load()) {
    self->thread_.join();
    impl->stopped = true;
    return Fail(ErrorCode::kInternal, "metrics server on " + options.listen + " stopped as soon as it started");
  }
  return self;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server.stop();
  if (thread_.joinable()) thread_.join();
}

std::string MetricsServer::url() const {
  bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

}  // namespace cairn::metrics
