// Policy TOML parsing. Every key is documented in docs/attestation.md.
#include <algorithm>

#include "common/attestation/attestation.h"
#include "common/core/file.h"
#include "common/core/toml_reader.h"

namespace cairn::attestation {
namespace {

Result<Bytes> DecodeHexValue(const TomlReader& r, std::string_view key, const std::string& text,
                             std::size_t index, std::size_t want_bytes) {
  auto bytes = HexDecode(text);
  if (!bytes) {
    return Fail(ErrorCode::kInvalidArgument, r.Where(key) + " element " + std::to_string(index) +
                                                 ": " + bytes.error().message());
  }
  if (want_bytes != 0 && bytes->size() != want_bytes) {
    return Fail(ErrorCode::kInvalidArgument,
                r.Where(key) + " element " + std::to_string(index) + " has " +
                    std::to_string(bytes->size()) + " bytes (" + std::to_string(text.size()) +
                    " hex digits), expected " + std::to_string(want_bytes) + " bytes");
  }
  return bytes;
}

// An array of hex strings of `want_bytes` bytes each.
Status GetHexList(TomlReader& r, std::string_view key, std::size_t want_bytes, std::vector<Bytes>& out) {
  std::vector<std::string> texts;
  CAIRN_RETURN_IF_ERROR(r.Get(key, texts));
  out.clear();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(Bytes b, DecodeHexValue(r, key, texts[i], i, want_bytes));
    out.push_back(std::move(b));
  }
  return Ok();
}

Status GetU8(TomlReader& r, std::string_view key, std::uint8_t& out) {
  std::int64_t v = out;
  CAIRN_RETURN_IF_ERROR(r.Get(key, v, 0, 255));
  out = static_cast<std::uint8_t>(v);
  return Ok();
}

Status ParseSevSnp(TomlReader& t, SevSnpPolicy& p) {
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "measurements", 48, p.measurements));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_debug", p.allow_debug));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_migration_agent", p.allow_migration_agent));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_smt", p.allow_smt));
  CAIRN_RETURN_IF_ERROR(t.Get("max_vmpl", p.max_vmpl, 0, 3));
  CAIRN_RETURN_IF_ERROR(t.Get("min_guest_svn", p.min_guest_svn));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_vlek", p.allow_vlek));
  CAIRN_RETURN_IF_ERROR(t.Get("require_single_socket", p.require_single_socket));
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "host_data", 32, p.host_data));
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "id_key_digests", 48, p.id_key_digests));
  CAIRN_ASSIGN_OR_RETURN(auto tcb, t.Table("min_tcb"));
  if (tcb) {
    CAIRN_RETURN_IF_ERROR(GetU8(*tcb, "bootloader", p.min_tcb.bootloader));
    CAIRN_RETURN_IF_ERROR(GetU8(*tcb, "tee", p.min_tcb.tee));
    CAIRN_RETURN_IF_ERROR(GetU8(*tcb, "snp", p.min_tcb.snp));
    CAIRN_RETURN_IF_ERROR(GetU8(*tcb, "microcode", p.min_tcb.microcode));
    CAIRN_RETURN_IF_ERROR(GetU8(*tcb, "fmc", p.min_tcb.fmc));
    CAIRN_RETURN_IF_ERROR(tcb->Finish());
  }
  return t.Finish();
}

const std::vector<std::string>& KnownTcbStatuses() {
  static const std::vector<std::string> kStatuses = {
      "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
      "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked", "Unknown"};
  return kStatuses;
}

Status ParseTdx(TomlReader& t, TdxPolicy& p, const std::filesystem::path& base_dir) {
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "mrtd", 48, p.mrtd));
  for (int i = 0; i < 4; ++i) {
    CAIRN_RETURN_IF_ERROR(GetHexList(t, "rtmr" + std::to_string(i), 48, p.rtmr[i]));
  }
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "mr_config_id", 48, p.mr_config_id));
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "mr_owner", 48, p.mr_owner));
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "mr_owner_config", 48, p.mr_owner_config));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_debug", p.allow_debug));
  CAIRN_RETURN_IF_ERROR(t.Get("accepted_tcb_status", p.accepted_tcb_status));
  for (const auto& s : p.accepted_tcb_status) {
    const auto& known = KnownTcbStatuses();
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return Fail(ErrorCode::kInvalidArgument, t.Where("accepted_tcb_status") + ": \"" + s +
                                                   "\" is not a TCB status (" + list + ")");
    }
  }
  CAIRN_RETURN_IF_ERROR(t.Get("forbidden_advisory_ids", p.forbidden_advisory_ids));
  CAIRN_RETURN_IF_ERROR(t.Get("min_pce_svn", p.min_pce_svn, 0, 65535));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_migration", p.allow_migration));
  CAIRN_RETURN_IF_ERROR(t.Get("allow_missing_crls", p.allow_missing_crls));
  CAIRN_RETURN_IF_ERROR(t.Get("min_tcb_evaluation_data_number", p.min_tcb_evaluation_data_number, 0, 1'000'000));
  CAIRN_RETURN_IF_ERROR(t.Get("collateral", p.collateral_files));
  if (!p.collateral_files.empty()) {
    std::vector<std::filesystem::path> paths;
    for (const auto& f : p.collateral_files) {
      std::filesystem::path path(f);
      paths.push_back(path.is_absolute() || base_dir.empty() ? path : base_dir / path);
    }
    auto merged = ReadCollateralFiles(paths);
    if (!merged) return Fail(ErrorCode::kInvalidArgument, t.Where("collateral") + ": " + merged.error().message());
    p.pinned_collateral = std::move(*merged);
  }
  return t.Finish();
}

Status ParseSim(TomlReader& t, SimPolicy& p) {
  if (t.Has("platform_key")) {
    std::string hex;
    CAIRN_RETURN_IF_ERROR(t.Get("platform_key", hex));
    auto key = HexDecode(hex);
    if (!key || key->size() != 32) {
      return Fail(ErrorCode::kInvalidArgument,
                  t.Where("platform_key") + " must be 64 hex digits (an Ed25519 public key)");
    }
    std::array<std::uint8_t, 32> k{};
    std::copy(key->begin(), key->end(), k.begin());
    p.platform_key = k;
  }
  CAIRN_RETURN_IF_ERROR(GetHexList(t, "measurements", 48, p.measurements));
  return t.Finish();
}

Status ParseFederation(TomlReader& t, FederationRules& f) {
  if (t.Has("min_cohort")) {
    std::int64_t v = 0;
    CAIRN_RETURN_IF_ERROR(t.Get("min_cohort", v, 1, 1'000'000));
    f.min_cohort = v;
  }
  if (t.Has("max_epsilon")) {
    double v = 0;
    CAIRN_RETURN_IF_ERROR(t.Get("max_epsilon", v, 0.0, 1.0e6));
    f.max_epsilon = v;
  }
  if (t.Has("max_delta")) {
    double v = 0;
    CAIRN_RETURN_IF_ERROR(t.Get("max_delta", v, 0.0, 1.0));
    f.max_delta = v;
  }
  CAIRN_RETURN_IF_ERROR(t.Get("allowed_strategies", f.allowed_strategies));
  if (t.Has("require_secure_aggregation")) {
    bool v = false;
    CAIRN_RETURN_IF_ERROR(t.Get("require_secure_aggregation", v));
    f.require_secure_aggregation = v;
  }
  if (t.Has("require_hidden_cohort")) {
    bool v = false;
    CAIRN_RETURN_IF_ERROR(t.Get("require_hidden_cohort", v));
    f.require_hidden_cohort = v;
  }
  return t.Finish();
}

}  // namespace

Result<Policy> ParsePolicy(std::string_view toml_text, std::string source_name,
                           const std::filesystem::path& base_dir) {
  CAIRN_ASSIGN_OR_RETURN(TomlReader root, TomlReader::ParseString(toml_text, source_name));
  Policy policy;
  policy.source = source_name;

  std::vector<std::string> platforms;
  CAIRN_RETURN_IF_ERROR(root.Require("platforms", platforms));
  if (platforms.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                root.Where("platforms") + " is empty: list at least one of sev-snp, tdx, sim");
  }
  for (const auto& name : platforms) {
    auto p = ParsePlatform(name);
    if (!p) return Fail(ErrorCode::kInvalidArgument, root.Where("platforms") + ": " + p.error().message());
    if (std::find(policy.platforms.begin(), policy.platforms.end(), *p) == policy.platforms.end()) {
      policy.platforms.push_back(*p);
    }
  }

  CAIRN_RETURN_IF_ERROR(root.Get("use_builtin_roots", policy.use_builtin_roots));
  std::vector<std::string> extra;
  CAIRN_RETURN_IF_ERROR(root.Get("extra_roots", extra));
  for (std::size_t i = 0; i < extra.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(Bytes fp, DecodeHexValue(root, "extra_roots", extra[i], i, 32));
    Sha256Fingerprint f{};
    std::copy(fp.begin(), fp.end(), f.begin());
    policy.extra_roots.push_back(f);
  }
  if (root.Has("max_evidence_age_seconds")) {
    std::int64_t s = 0;
    CAIRN_RETURN_IF_ERROR(root.Get("max_evidence_age_seconds", s, 1, 10LL * 365 * 86400));
    policy.max_evidence_age = std::chrono::seconds(s);
  }

  CAIRN_ASSIGN_OR_RETURN(auto snp, root.Table("sev-snp"));
  if (snp) CAIRN_RETURN_IF_ERROR(ParseSevSnp(*snp, policy.sev_snp));
  CAIRN_ASSIGN_OR_RETURN(auto tdx, root.Table("tdx"));
  if (tdx) CAIRN_RETURN_IF_ERROR(ParseTdx(*tdx, policy.tdx, base_dir));
  CAIRN_ASSIGN_OR_RETURN(auto sim, root.Table("sim"));
  if (sim) CAIRN_RETURN_IF_ERROR(ParseSim(*sim, policy.sim));
  CAIRN_ASSIGN_OR_RETURN(auto fed, root.Table("federation"));
  if (fed) CAIRN_RETURN_IF_ERROR(ParseFederation(*fed, policy.federation));
  CAIRN_RETURN_IF_ERROR(root.Finish());

  // A policy that accepts sim must pin the key that signs sim reports.
  bool has_sim = std::find(policy.platforms.begin(), policy.platforms.end(), Platform::kSim) !=
                 policy.platforms.end();
  if (has_sim && !policy.sim.platform_key) {
    return Fail(ErrorCode::kInvalidArgument,
                source_name + ": platforms lists \"sim\" but [sim] platform_key is not set "
                              "(the public key printed by the sim key generator)");
  }
  if (!policy.use_builtin_roots && policy.extra_roots.empty() &&
      (has_sim ? policy.platforms.size() > 1 : true)) {
    return Fail(ErrorCode::kInvalidArgument,
                source_name + ": use_builtin_roots = false and extra_roots is empty: no root "
                              "certificate could ever be trusted for sev-snp or tdx");
  }
  return policy;
}

Result<Policy> LoadPolicy(const std::filesystem::path& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadFileText(path, 4u << 20));
  return ParsePolicy(text, path.string(), path.parent_path());
}

}  // namespace cairn::attestation
