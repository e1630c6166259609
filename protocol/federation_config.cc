#include "protocol/federation_config.h"

#include <cmath>
#include <set>

#include "common/core/file.h"
#include "common/core/toml_reader.h"
#include "common/net/net.h"
#include "protocol/limits.h"
#include "protocol/masking_config.h"

namespace cairn::protocol {
namespace {

Status ParseFederationTable(TomlReader& t, FederationConfig& f) {
  CAIRN_RETURN_IF_ERROR(t.Require("id", f.id));
  if (f.id.empty() || f.id.size() > 128) {
    return Fail(ErrorCode::kInvalidArgument, t.Where("id") + " must have 1 to 128 characters");
  }
  CAIRN_RETURN_IF_ERROR(t.Get("rounds", f.rounds, 1u, 1'000'000u));
  CAIRN_RETURN_IF_ERROR(t.Get("min_participants", f.min_participants, 1u,
                              static_cast<std::uint32_t>(kMaxParticipants)));
  CAIRN_RETURN_IF_ERROR(t.Get("round_timeout_s", f.round_timeout_s, 0.1, 7 * 86400.0));
  CAIRN_RETURN_IF_ERROR(t.Get("start_timeout_s", f.start_timeout_s, 0.0, 30 * 86400.0));
  CAIRN_RETURN_IF_ERROR(t.Get("cohort_wait_s", f.cohort_wait_s, 0.0, 86400.0));
  CAIRN_RETURN_IF_ERROR(t.GetEnum("on_quorum_failure", f.on_quorum_failure, {"retry", "fail"}));
  CAIRN_RETURN_IF_ERROR(t.Get("max_round_retries", f.max_round_retries, 0u, 1000u));
  CAIRN_RETURN_IF_ERROR(t.Get("chunk_bytes", f.chunk_bytes, kMinChunkBytes, kMaxChunkBytes));
  if (f.chunk_bytes % 4 != 0) {
    return Fail(ErrorCode::kInvalidArgument, t.Where("chunk_bytes") + " must be a multiple of 4");
  }
  std::string encoding = EncodingName(f.encoding);
  CAIRN_RETURN_IF_ERROR(t.GetEnum("encoding", encoding, {"float32", "bfloat16", "float16"}));
  f.encoding = encoding == "bfloat16"  ? Encoding::kBFloat16
               : encoding == "float16" ? Encoding::kFloat16
                                       : Encoding::kFloat32;
  CAIRN_RETURN_IF_ERROR(t.Get("eval_timeout_s", f.eval_timeout_s, 0.0, 86400.0));
  CAIRN_RETURN_IF_ERROR(t.Get("max_update_norm", f.max_update_norm, 0.0, 1e12));
  CAIRN_RETURN_IF_ERROR(t.GetEnum("mode", f.mode, {"training", "analytics", "both"}));
  CAIRN_RETURN_IF_ERROR(t.GetEnum("standardization", f.standardization, {"site", "federated", "none"}));
  CAIRN_RETURN_IF_ERROR(t.Get("initial_model_sha256", f.initial_model_sha256));
  if (!f.initial_model_sha256.empty() &&
      (f.initial_model_sha256.size() != 64 || !HexDecode(f.initial_model_sha256))) {
    return Fail(ErrorCode::kInvalidArgument, t.Where("initial_model_sha256") + " must be 64 hex digits");
  }
  return t.Finish();
}

Status ParseTask(TomlReader& t, Task& task) {
  CAIRN_RETURN_IF_ERROR(t.Get("local_epochs", task.local_epochs, 1u, 10000u));
  CAIRN_RETURN_IF_ERROR(t.Get("batch_size", task.batch_size, 1u, 1u << 20));
  CAIRN_RETURN_IF_ERROR(t.Get("learning_rate", task.learning_rate, 0.0, 1e6));
  CAIRN_RETURN_IF_ERROR(t.GetEnum("optimizer", task.optimizer, {"sgd", "adam"}));
  CAIRN_RETURN_IF_ERROR(t.Get("momentum", task.momentum, 0.0, 1.0));
  CAIRN_RETURN_IF_ERROR(t.Get("proximal_mu", task.proximal_mu, 0.0, 1e6));
  std::int64_t seed = static_cast<std::int64_t>(task.seed);
  CAIRN_RETURN_IF_ERROR(t.Get("seed", seed, 0));
  task.seed = static_cast<std::uint64_t>(seed);
  return t.Finish();
}

Status ParseStrategy(TomlReader& t, StrategyConfig& s) {
  CAIRN_RETURN_IF_ERROR(t.Get("name", s.name));
  CAIRN_ASSIGN_OR_RETURN(auto params, t.Table("params"));
  if (params) {
    for (const std::string& key : params->Keys()) {
      double v = 0;
      CAIRN_RETURN_IF_ERROR(params->Require(key, v));
      s.params[key] = v;
    }
    CAIRN_RETURN_IF_ERROR(params->Finish());
  }
  return t.Finish();
}

Status ParsePrivacy(TomlReader& t, PrivacyConfig& p) {
  CAIRN_RETURN_IF_ERROR(t.Get("enabled", p.enabled));
  CAIRN_RETURN_IF_ERROR(t.Get("noise_multiplier", p.noise_multiplier, 0.0, 1e6));
  CAIRN_RETURN_IF_ERROR(t.Get("clip_norm", p.clip_norm, 1e-12, 1e12));
  CAIRN_RETURN_IF_ERROR(t.Get("epsilon_budget", p.epsilon_budget, 1e-9, 1e9));
  CAIRN_RETURN_IF_ERROR(t.Get("delta", p.delta, 1e-300, 1.0));
  if (p.delta >= 1.0) return Fail(ErrorCode::kInvalidArgument, t.Where("delta") + " must be below 1");
  CAIRN_RETURN_IF_ERROR(t.GetEnum("sampling", p.sampling, {"poisson", "fixed"}));
  CAIRN_RETURN_IF_ERROR(t.Get("sampling_rate", p.sampling_rate, 1e-9, 1.0));
  CAIRN_RETURN_IF_ERROR(t.Get("participants_per_round", p.participants_per_round, 0u,
                              static_cast<std::uint32_t>(kMaxParticipants)));
  CAIRN_RETURN_IF_ERROR(t.Get("hide_cohort", p.hide_cohort));
  if (p.hide_cohort && !p.enabled) {
    return Fail(ErrorCode::kInvalidArgument,
                t.Where("hide_cohort") + " hides a differentially private sample: it needs privacy.enabled = true");
  }
  if (p.hide_cohort && p.sampling != "poisson") {
    return Fail(ErrorCode::kInvalidArgument,
                t.Where("hide_cohort") + " samples in secret at rate sampling_rate: it needs sampling = \"poisson\"");
  }
  CAIRN_RETURN_IF_ERROR(t.GetEnum("conversion", p.conversion, {"improved", "classic"}));
  CAIRN_RETURN_IF_ERROR(t.GetEnum("orders", p.orders, {"opacus", "tfp"}));
  CAIRN_RETURN_IF_ERROR(t.Get("adaptive_clipping", p.adaptive_clipping));
  CAIRN_RETURN_IF_ERROR(t.Get("target_quantile", p.target_quantile, 0.0, 1.0));
  CAIRN_RETURN_IF_ERROR(t.Get("clip_learning_rate", p.clip_learning_rate, 0.0, 10.0));
  CAIRN_RETURN_IF_ERROR(t.Get("clip_count_stddev", p.clip_count_stddev, 0.0, 1e6));
  if (p.enabled && p.sampling == "fixed" && p.participants_per_round == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                t.Where("participants_per_round") + " must be set (> 0) when sampling = \"fixed\"");
  }
  return t.Finish();
}

Status ParseRoster(TomlReader& root, FederationConfig& f) {
  CAIRN_ASSIGN_OR_RETURN(auto entries, root.TableArray("participants"));
  if (entries.size() > kMaxParticipants) {
    return Fail(ErrorCode::kInvalidArgument, root.source_name() + ": the roster lists " +
                                                 std::to_string(entries.size()) +
                                                 " participants, above the limit of " +
                                                 std::to_string(kMaxParticipants));
  }
  std::set<std::string> ids;
  std::set<Key32> keys;
  for (auto& e : entries) {
    RosterEntry r;
    CAIRN_RETURN_IF_ERROR(e.Require("id", r.id));
    if (!IsValidParticipantId(r.id)) {
      return Fail(ErrorCode::kInvalidArgument,
                  e.Where("id") + " = \"" + r.id + "\" must be 1-64 characters of [A-Za-z0-9._-]");
    }
    std::string key;
    CAIRN_RETURN_IF_ERROR(e.Require("curve_key", key));
    auto parsed = net::ParseCurveKey(key);
    if (!parsed) return Fail(ErrorCode::kInvalidArgument, e.Where("curve_key") + ": " + parsed.error().message());
    std::copy(parsed->begin(), parsed->end(), r.curve_key.begin());
    if (!ids.insert(r.id).second) {
      return Fail(ErrorCode::kInvalidArgument, e.Where("id") + ": participant '" + r.id + "' is listed twice");
    }
    if (!keys.insert(r.curve_key).second) {
      return Fail(ErrorCode::kInvalidArgument, e.Where("curve_key") + ": this key is listed twice in the roster");
    }
    CAIRN_RETURN_IF_ERROR(e.Finish());
    f.roster.push_back(std::move(r));
  }
  return Ok();
}

Status ParseServer(TomlReader& t, ServerConfig& s) {
  CAIRN_RETURN_IF_ERROR(t.Get("listen", s.listen));
  CAIRN_RETURN_IF_ERROR(t.Get("control_listen", s.control_listen));
  CAIRN_RETURN_IF_ERROR(t.Get("data_listen", s.data_listen));
  CAIRN_RETURN_IF_ERROR(t.Get("state_dir", s.state_dir));
  CAIRN_RETURN_IF_ERROR(t.Get("max_concurrent_uploads", s.max_concurrent_uploads, 1u, 1024u));
  CAIRN_RETURN_IF_ERROR(t.Get("upload_idle_timeout_s", s.upload_idle_timeout_s, 0.0, 86400.0));
  std::int64_t mem = static_cast<std::int64_t>(s.memory_limit_mb);
  CAIRN_RETURN_IF_ERROR(t.Get("memory_limit_mb", mem, 0, 1 << 30));
  s.memory_limit_mb = static_cast<std::uint64_t>(mem);
  CAIRN_RETURN_IF_ERROR(t.Get("sim_platform_key", s.sim_platform_key));
  std::int64_t seed = static_cast<std::int64_t>(s.init_seed);
  CAIRN_RETURN_IF_ERROR(t.Get("init_seed", seed, 0));
  s.init_seed = static_cast<std::uint64_t>(seed);
  return t.Finish();
}

// Parses every attested section of `root` into `f`.
Status ParseAttested(TomlReader& root, FederationConfig& f, const std::filesystem::path& base_dir) {
  CAIRN_ASSIGN_OR_RETURN(auto fed, root.Table("federation"));
  if (!fed) return Fail(ErrorCode::kInvalidArgument, root.source_name() + ": the [federation] table is missing");
  CAIRN_RETURN_IF_ERROR(ParseFederationTable(*fed, f));
  CAIRN_ASSIGN_OR_RETURN(auto model_table, root.Table("model"));
  if (model_table) {
    CAIRN_ASSIGN_OR_RETURN(f.model, model::ParseModelTable(*model_table, base_dir));
  } else if (f.mode == "analytics") {
    // Analytics only: no model is trained or sent; the engine keeps this 4-parameter placeholder.
    f.model.kind = "logreg";
    f.model.input_shape = {1};
    f.model.classes = 2;
  } else {
    return Fail(ErrorCode::kInvalidArgument, root.source_name() + ": the [model] table is missing");
  }
  CAIRN_ASSIGN_OR_RETURN(f.queries, analytics::ParseQueries(root));
  if (f.mode == "training" && !f.queries.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                root.source_name() + ": " + std::to_string(f.queries.size()) +
                    " [[queries]] are declared but federation.mode = \"training\" would never run them: set "
                    "federation.mode = \"analytics\" or \"both\"");
  }
  if (f.mode != "training" && f.queries.empty()) {
    return Fail(ErrorCode::kInvalidArgument, root.source_name() + ": federation.mode = \"" + f.mode +
                                                 "\" needs at least one [[queries]] entry");
  }
  CAIRN_ASSIGN_OR_RETURN(auto task, root.Table("task"));
  if (task) CAIRN_RETURN_IF_ERROR(ParseTask(*task, f.task));
  CAIRN_ASSIGN_OR_RETURN(auto strategy, root.Table("strategy"));
  if (strategy) CAIRN_RETURN_IF_ERROR(ParseStrategy(*strategy, f.strategy));
  CAIRN_ASSIGN_OR_RETURN(auto privacy, root.Table("privacy"));
  if (privacy) CAIRN_RETURN_IF_ERROR(ParsePrivacy(*privacy, f.privacy));
  CAIRN_ASSIGN_OR_RETURN(auto masking, root.Table("masking"));
  if (masking) CAIRN_RETURN_IF_ERROR(ParseMaskingTable(*masking, f));
  CAIRN_ASSIGN_OR_RETURN(auto participant_policy, root.TableText("participant_attestation"));
  if (participant_policy) f.participant_attestation_policy = std::move(*participant_policy);
  CAIRN_RETURN_IF_ERROR(ParseRoster(root, f));
  if (f.roster.empty()) {
    return Fail(ErrorCode::kInvalidArgument, root.source_name() +
                                                 ": the roster is empty: add [[participants]] entries with id and curve_key");
  }
  if (f.min_participants > f.roster.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                root.source_name() + ": federation.min_participants = " + std::to_string(f.min_participants) +
                    " exceeds the " + std::to_string(f.roster.size()) + " participants in the roster");
  }
  if (f.privacy.enabled && f.standardization == "federated") {
    return Fail(ErrorCode::kInvalidArgument,
                root.source_name() + ": federation.standardization = \"federated\" releases pooled feature "
                                     "moments without differential-privacy noise, outside the DP guarantee; with "
                                     "privacy.enabled use \"site\" or \"none\"");
  }
  CAIRN_RETURN_IF_ERROR(ResolveMasking(f, root.source_name()));
  if (f.privacy.hide_cohort && f.masking.enabled) {
    return Fail(ErrorCode::kInvalidArgument,
                root.source_name() + ": privacy.hide_cohort leaves unsampled updates out of the sum inside the enclave, "
                                     "but a masked update cannot be left out on its own (its masks cancel only in the "
                                     "full sum); use one or the other");
  }
  if (f.privacy.enabled) f.task.clip_norm = f.privacy.clip_norm;
  else if (f.max_update_norm > 0) f.task.clip_norm = f.max_update_norm;
  f.task.report_clip_bit = f.privacy.enabled && f.privacy.adaptive_clipping;
  return Ok();
}

}  // namespace

bool IsValidParticipantId(std::string_view id) {
  if (id.empty() || id.size() > kMaxParticipantIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const RosterEntry* FederationConfig::FindById(std::string_view participant) const {
  for (const auto& r : roster) {
    if (r.id == participant) return &r;
  }
  return nullptr;
}

const RosterEntry* FederationConfig::FindByKey(const Key32& key) const {
  for (const auto& r : roster) {
    if (r.curve_key == key) return &r;
  }
  return nullptr;
}

Result<LoadedFederation> ParseFederationText(std::string_view text, std::string source_name,
                                             const std::filesystem::path& base_dir) {
  CAIRN_ASSIGN_OR_RETURN(TomlReader root, TomlReader::ParseString(text, std::move(source_name)));
  LoadedFederation out;
  CAIRN_RETURN_IF_ERROR(ParseAttested(root, out.federation, base_dir));
  CAIRN_ASSIGN_OR_RETURN(auto server, root.Table("server"));
  if (server) CAIRN_RETURN_IF_ERROR(ParseServer(*server, out.server));
  CAIRN_RETURN_IF_ERROR(root.Finish());
  out.canonical_text = root.CanonicalText({"server"});
  if (out.canonical_text.size() > kMaxFederationConfigBytes) {
    return Fail(ErrorCode::kOutOfRange, root.source_name() + ": the attested configuration is " +
                                            std::to_string(out.canonical_text.size()) +
                                            " bytes, above the limit of " +
                                            std::to_string(kMaxFederationConfigBytes));
  }
  return out;
}

Result<LoadedFederation> LoadFederationFile(const std::filesystem::path& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, 4u << 20));
  return ParseFederationText(text, path.string(), path.parent_path());
}

Result<FederationConfig> ParseAttestedFederation(std::string_view canonical_text) {
  CAIRN_ASSIGN_OR_RETURN(TomlReader root,
                         TomlReader::ParseString(canonical_text, "attested federation config"));
  FederationConfig f;
  CAIRN_RETURN_IF_ERROR(ParseAttested(root, f, std::filesystem::path()));
  CAIRN_RETURN_IF_ERROR(root.Finish());
  return f;
}

}  // namespace cairn::protocol
