#include "participant/config.h"

#include "common/core/toml_reader.h"
#include "protocol/federation_config.h"

namespace cairn::participant {
namespace {

std::filesystem::path Resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty()) return {};
  std::filesystem::path path(p);
  return path.is_absolute() ? path : base / path;
}

}  // namespace

Result<ParticipantConfig> LoadParticipantConfig(const std::filesystem::path& path) {
  CAIRN_ASSIGN_OR_RETURN(TomlReader t, TomlReader::ParseFile(path));
  auto base = path.parent_path();
  ParticipantConfig c;
  CAIRN_RETURN_IF_ERROR(t.Require("id", c.id));
  if (!protocol::IsValidParticipantId(c.id)) {
    return Fail(ErrorCode::kInvalidArgument, t.Where("id") + " must be 1-64 characters of [A-Za-z0-9._-]");
  }
  CAIRN_RETURN_IF_ERROR(t.Require("aggregator", c.aggregator));
  if (c.aggregator.rfind("tcp://", 0) != 0) {
    return Fail(ErrorCode::kInvalidArgument, t.Where("aggregator") + " must look like tcp://HOST:PORT");
  }
  std::string key_file, policy, state_dir, torchscript, sim_platform_key;
  CAIRN_RETURN_IF_ERROR(t.Require("key_file", key_file));
  CAIRN_RETURN_IF_ERROR(t.Get("policy", policy));
  CAIRN_RETURN_IF_ERROR(t.Get("state_dir", state_dir));
  CAIRN_RETURN_IF_ERROR(t.Get("torchscript", torchscript));
  CAIRN_RETURN_IF_ERROR(t.GetEnum("attestation", c.attestation, {"none", "sim", "sev-snp", "tdx", "auto"}));
  CAIRN_RETURN_IF_ERROR(t.Get("sim_platform_key", sim_platform_key));
  CAIRN_RETURN_IF_ERROR(t.Get("threads", c.threads, 1u, 256u));
  c.key_file = Resolve(base, key_file);
  c.policy = Resolve(base, policy);
  c.state_dir = Resolve(base, state_dir.empty() ? "state-" + c.id : state_dir);
  c.torchscript = Resolve(base, torchscript);
  c.sim_platform_key = Resolve(base, sim_platform_key);
  if (c.attestation == "sim" && c.sim_platform_key.empty()) {
    return Fail(ErrorCode::kInvalidArgument, t.Where("attestation") +
                                                 " = \"sim\" needs sim_platform_key (a key from cairn-aggregator sim-keygen)");
  }

  CAIRN_ASSIGN_OR_RETURN(auto connect, t.Table("connect"));
  if (connect) {
    CAIRN_RETURN_IF_ERROR(connect->Get("attempts", c.connect.attempts, 1u, 1000u));
    CAIRN_RETURN_IF_ERROR(connect->Get("initial_backoff_ms", c.connect.initial_backoff_ms, 1u, 600000u));
    CAIRN_RETURN_IF_ERROR(connect->Get("max_backoff_ms", c.connect.max_backoff_ms, 1u, 3600000u));
    CAIRN_RETURN_IF_ERROR(connect->Get("request_timeout_ms", c.connect.request_timeout_ms, 10u, 3600000u));
    CAIRN_RETURN_IF_ERROR(connect->Get("idle_timeout_s", c.connect.idle_timeout_s, 1u, 7u * 86400u));
    CAIRN_RETURN_IF_ERROR(connect->Finish());
  }
  CAIRN_ASSIGN_OR_RETURN(auto data, t.Table("data"));
  if (data) {
    std::string train, eval, dir;
    CAIRN_RETURN_IF_ERROR(data->GetEnum("format", c.data.format, {"csv", "fashion-mnist"}));
    CAIRN_RETURN_IF_ERROR(data->Get("train", train));
    CAIRN_RETURN_IF_ERROR(data->Get("eval", eval));
    CAIRN_RETURN_IF_ERROR(data->Get("label_column", c.data.label_column));
    CAIRN_RETURN_IF_ERROR(data->Get("holdout_fraction", c.data.holdout_fraction, 0.0, 0.9));
    CAIRN_RETURN_IF_ERROR(data->Get("fashion_mnist_dir", dir));
    std::int64_t seed = static_cast<std::int64_t>(c.data.seed);
    CAIRN_RETURN_IF_ERROR(data->Get("seed", seed, 0));
    c.data.seed = static_cast<std::uint64_t>(seed);
    c.data.train = Resolve(base, train);
    c.data.eval = Resolve(base, eval);
    c.data.fashion_mnist_dir = Resolve(base, dir);
    CAIRN_RETURN_IF_ERROR(data->Finish());
  }
  CAIRN_ASSIGN_OR_RETURN(auto analytics_table, t.Table("analytics"));
  if (analytics_table) {
    AnalyticsConfig a;
    std::string table;
    CAIRN_RETURN_IF_ERROR(analytics_table->Require("table", table));
    a.table = Resolve(base, table);
    CAIRN_ASSIGN_OR_RETURN(a.policy, analytics::ParsePartyPolicy(*analytics_table));
    CAIRN_RETURN_IF_ERROR(analytics_table->Finish());
    c.analytics = std::move(a);
  }
  CAIRN_RETURN_IF_ERROR(t.Finish());
  return c;
}

}  // namespace cairn::participant
