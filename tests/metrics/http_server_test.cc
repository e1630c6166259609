#include "common/metrics/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "tests/metrics/exposition.h"

namespace cairn::metrics {
namespace {

TEST(HostPort, Parses) {
  auto a = ParseHostPort("127.0.0.1:9464");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9464);
  auto b = ParseHostPort("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  auto c = ParseHostPort("0.0.0.0:65535");
  ASSERT_TRUE(c);
  for (const char* bad : {"", "9464", ":9464", "host:", "host:65536", "host:-1", "host:12x", "::1:80", "[::1]80",
                          "[::1", "host:999999"}) {
    auto r = ParseHostPort(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(MetricsServer, ServesMetricsAndHealth) {
  Registry registry;
  auto c = registry.AddCounter("cairn_bytes_in_total", "help");
  ASSERT_TRUE(c);
  (*c)->Increment(42);
  HealthState health;
  health.Set(3, "collecting");
  MetricsServerOptions o;
  o.listen = "127.0.0.1:0";
  auto server = MetricsServer::Start(o, registry, health.Function());
  ASSERT_TRUE(server) << server.error().message();
  ASSERT_NE((*server)->port(), 0);
  EXPECT_EQ((*server)->url(), "http://127.0.0.1:" + std::to_string((*server)->port()));

  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto parsed = testing_support::ParseExposition(res->body);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->samples.at("cairn_bytes_in_total"), 42);

  // Updates show in the next scrape.
  (*c)->Increment(8);
  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("cairn_bytes_in_total 50\n"), std::string::npos) << res->body;

  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["round"], 3);
  EXPECT_EQ(j["phase"], "collecting");

  health.Set(4, "done", /*ok=*/false);
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["status"], "failing");
  EXPECT_EQ(j["round"], 4);

  // Anything else is not served.
  res = client.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = client.Get("/metrics/../etc/passwd");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_NE(res->status, 200);

  (*server)->Stop();
  (*server)->Stop();  // idempotent
  httplib::Client after("127.0.0.1", (*server)->port());
  after.set_connection_timeout(std::chrono::seconds(2));
  EXPECT_FALSE(after.Get("/metrics"));
}

TEST(MetricsServer, HealthWithoutCallbackIsOk) {
  Registry registry;
  MetricsServerOptions o;
  o.listen = "127.0.0.1:0";
  auto server = MetricsServer::Start(o, registry, nullptr);
  ASSERT_TRUE(server);
  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(nlohmann::json::parse(res->body)["status"], "ok");
}

TEST(MetricsServer, ThrowingHealthFunctionGives500WithoutItsMessage) {
  Registry registry;
  MetricsServerOptions o;
  o.listen = "127.0.0.1:0";
  auto server = MetricsServer::Start(o, registry, []() -> HealthStatus { throw std::runtime_error("secret-detail"); });
  ASSERT_TRUE(server);
  httplib::Client client("127.0.0.1", (*server)->port());
  auto res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body.find("secret-detail"), std::string::npos);
}

// Regression: httplib binds with SO_REUSEPORT by default, so a second server on the same port
// started silently and shared the connections.
TEST(MetricsServer, PortInUseIsAnErrorNamingIt) {
  Registry registry;
  MetricsServerOptions o;
  o.listen = "127.0.0.1:0";
  auto first = MetricsServer::Start(o, registry, nullptr);
  ASSERT_TRUE(first);
  o.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsServer::Start(o, registry, nullptr);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find(o.listen), std::string::npos) << second.error().message();
}

TEST(MetricsServer, StopRightAfterStartReturns) {
  Registry registry;
  MetricsServerOptions o;
  o.listen = "127.0.0.1:0";
  for (int i = 0; i < 20; ++i) {
    auto server = MetricsServer::Start(o, registry, nullptr);
    ASSERT_TRUE(server);
    (*server)->Stop();  // must not hang
  }
}

TEST(MetricsServer, BadListenIsInvalidArgument) {
  Registry registry;
  MetricsServerOptions o;
  o.listen = "localhost";
  auto s = MetricsServer::Start(o, registry, nullptr);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::metrics
