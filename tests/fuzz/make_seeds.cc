// make_fuzz_seeds OUT_DIR: writes the seed corpus of every fuzz target, OUT_DIR/<target>/<name>.
//
// The committed tests/fuzz/corpus/ was made with it (scripts/fuzz.sh does not regenerate it):
//   build-fuzz/bin/make_fuzz_seeds tests/fuzz/corpus
// Seeds are small, valid inputs: protocol messages made with protocol::Encode, signed round
// results as results.jsonl lines, SNP/TDX/sim evidence from the attestation tests' run-time key
// hierarchies (tests/attestation/test_pki.h; nothing comes from ../shared), certificates and
// CRLs of those hierarchies, and TOML/CSV samples. Keys are random, so two runs differ byte for
// byte; both are equally good seeds.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "common/attestation/attestation.h"
#include "common/attestation/x509.h"
#include "common/crypto/crypto.h"
#include "participant/config.h"
#include "participant/data/csv.h"
#include "protocol/codec.h"
#include "protocol/federation_config.h"
#include "protocol/round_result.h"
#include "tests/attestation/test_pki.h"
#include "tests/fuzz/csv_options.h"
#include "tests/fuzz/fuzz_util.h"

using namespace cairn;
namespace fs = std::filesystem;
namespace at = cairn::attestation;
namespace pt = cairn::protocol;

namespace {

fs::path g_out;
int g_written = 0;

void Write(std::string_view target, std::string_view name, ByteSpan data) {
  fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) {
    std::fprintf(stderr, "make_fuzz_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
  ++g_written;
}
void Write(std::string_view target, std::string_view name, std::string_view text) {
  Write(target, name, AsBytes(text));
}

template <std::size_t N>
std::array<std::uint8_t, N> Filled(std::uint8_t v) {
  std::array<std::uint8_t, N> a;
  a.fill(v);
  return a;
}

Bytes HashOf(const pt::RoundResult& r) {
  const auto h = pt::ResultHash(r);
  return Bytes(h.begin(), h.end());
}

pt::RoundResult SampleResult(std::uint64_t round, const Bytes& prev_hash) {
  pt::RoundResult r;
  r.federation_id = "hospital-demo";
  r.round = round;
  r.contributors = {"hospital-1", "hospital-2", "hospital-3"};
  r.num_examples = 341;
  r.model_version = round;
  r.model_hash = Filled<32>(0x4D);
  r.num_params = 530;
  r.strategy = "fedadam";
  r.strategy_params = {{"eta", 0.01}, {"beta1", 0.9}, {"beta2", 0.99}, {"tau", 1e-3}};
  r.platform = "sim";
  r.config_hash = Filled<32>(0xC0);
  r.epsilon_spent = 1.25;
  r.delta = 1e-5;
  r.noise_multiplier = 1.1;
  r.clip_norm = 1.0;
  r.prev_hash = prev_hash;
  r.unix_millis = 1767225600000 + static_cast<std::int64_t>(round) * 1000;
  r.metrics = {{"train_loss", 0.31}, {"accuracy", 0.97}};
  r.extensions = {{"clip_fraction", 0.5}};
  return r;
}

void ProtocolSeeds(const crypto::Ed25519KeyPair& key) {
  constexpr std::string_view kT = "fuzz_message_decode";
  pt::GetEvidence ge;
  ge.nonce = Filled<32>(0x01);
  ge.participant_id = "hospital-1";
  Write(kT, "get_evidence", pt::Encode(ge));

  pt::Evidence ev;
  ev.bundle.platform = pt::Platform::kSevSnp;
  ev.bundle.report = Bytes(1184, 0x07);
  ev.bundle.certificates = {Bytes(64, 0x30), Bytes(32, 0x31)};
  ev.bundle.collateral = ToBytes("{\"tcb_info\":\"{}\"}");
  ev.curve_key = Filled<32>(0x0C);
  ev.hpke_key = Filled<32>(0x0E);
  ev.signing_key = Filled<32>(0x05);
  ev.federation_config = "[federation]\nid = \"hospital-demo\"\n";
  ev.control_port = 7701;
  ev.data_port = 7702;
  ev.software_version = "cairn 0.1.0";
  Write(kT, "evidence", pt::Encode(ev));

  pt::Hello hello;
  hello.config_hash = Filled<32>(0xC0);
  hello.last_round = 3;
  hello.last_result_hash = Bytes(32, 0xAB);
  Write(kT, "hello", pt::Encode(hello));
  pt::EvidenceBundle mutual;
  mutual.platform = pt::Platform::kSim;
  mutual.report = Bytes(at::kSimReportBytes, 0x5A);
  hello.mutual_evidence = mutual;
  Write(kT, "hello_mutual", pt::Encode(hello));

  pt::Welcome w;
  w.session = Filled<16>(0x5E);
  w.head_round = 3;
  w.head_hash = Bytes(32, 0xAB);
  w.model_version = 3;
  w.nonce = Filled<32>(0x02);
  w.want_feature_stats = true;
  Write(kT, "welcome", pt::Encode(w));

  pt::RoundOffer offer;
  offer.round = 4;
  offer.model.model_version = 3;
  offer.model.model_hash = Filled<32>(0x4D);
  offer.model.num_params = 530;
  offer.model.key = Bytes(32, 0x4B);
  offer.model.nonce_prefix = Filled<4>(0x4E);
  offer.model.chunks = 1;
  offer.model.chunk_bytes = 1u << 20;
  offer.model.encoding = pt::Encoding::kBFloat16;
  offer.task.local_epochs = 2;
  offer.task.batch_size = 16;
  offer.task.learning_rate = 0.05;
  offer.task.optimizer = "sgd";
  offer.task.momentum = 0.9;
  offer.task.clip_norm = 1.0;
  offer.task.seed = 7;
  offer.task.feature_mean = {0.5, 1.5};
  offer.task.feature_std = {1.0, 2.0};
  offer.deadline_ms = 60000;
  offer.upload_chunk_bytes = 1u << 20;
  offer.upload_encoding = pt::Encoding::kFloat16;
  offer.cohort_size = 3;
  Write(kT, "round_offer", pt::Encode(offer));

  pt::UploadBegin ub;
  ub.round = 4;
  ub.enc = Filled<32>(0xE0);
  ub.chunks = 1;
  ub.total_bytes = 2120;
  Write(kT, "upload_begin", pt::Encode(ub));
  Write(kT, "upload_ready", pt::Encode(pt::UploadReady{4}));

  pt::Commit c;
  c.round = 4;
  c.enc = Filled<32>(0xE0);
  c.chunks = 1;
  c.digest = Filled<32>(0xD1);
  c.num_examples = 114;
  c.metrics = {{"train_loss", 0.3}, {"accuracy", 0.95}};
  c.within_clip = true;
  Write(kT, "commit", pt::Encode(c));
  Write(kT, "commit_ack", pt::Encode(pt::CommitAck{4}));
  Write(kT, "rejected", pt::Encode(pt::Rejected{4, pt::RejectCode::kNormTooLarge, "norm 3.2 above 1"}));

  pt::RoundResult first = SampleResult(1, {});
  pt::SignResult(first, key);
  pt::RoundResult second = SampleResult(2, HashOf(first));
  second.final = true;
  pt::ModelDownload md = offer.model;
  md.model_version = 2;
  second.model = md;
  pt::SignResult(second, key);
  Write(kT, "round_result", pt::Encode(first));
  Write(kT, "round_result_with_model", pt::Encode(second));
  Write(kT, "catch_up_request", pt::Encode(pt::CatchUpRequest{1}));
  pt::CatchUp cu;
  cu.head_round = 2;
  cu.head_hash = HashOf(second);
  cu.results = {first, second};
  Write(kT, "catch_up", pt::Encode(cu));

  pt::EvalReport er;
  er.model_version = 2;
  er.round = 2;
  er.metrics = {{"accuracy", 0.99}, {"loss", 0.05}};
  Write(kT, "eval_report", pt::Encode(er));
  Write(kT, "error", pt::Encode(pt::ErrorReply{pt::RejectCode::kVersionMismatch, "protocol 2.0"}));
  Write(kT, "goodbye", pt::Encode(pt::Goodbye{"federation finished"}));
  Write(kT, "ping", pt::Encode(pt::Ping{}));
  pt::FeatureStats fs;
  fs.count = 114;
  fs.sum = {1.0, 2.0, 3.0};
  fs.sum_squares = {10.0, 20.0, 30.0};
  Write(kT, "feature_stats", pt::Encode(fs));

  pt::ChunkHeader h;
  h.session = Filled<16>(0x5E);
  h.kind = pt::ChunkKind::kUpdateChunk;
  h.round = 4;
  h.index = 0;
  h.last = true;
  h.end = 2120;
  Write(kT, "chunk_header_update", pt::EncodeChunkHeader(h));
  h.kind = pt::ChunkKind::kModelRequest;
  h.last = false;
  h.end = 0;
  Write(kT, "chunk_header_model_request", pt::EncodeChunkHeader(h));

  constexpr std::string_view kJ = "fuzz_round_result_json";
  Write(kJ, "first_round", pt::ResultToJson(first));
  Write(kJ, "final_round", pt::ResultToJson(second));
  pt::RoundResult failed = SampleResult(3, HashOf(second));
  failed.status = pt::RoundStatus::kFailedQuorum;
  failed.detail = "2 of 3 committed; quorum is 3";
  failed.contributors.clear();
  failed.metrics.clear();
  pt::SignResult(failed, key);
  Write(kJ, "failed_quorum", pt::ResultToJson(failed));
}

void SnpSeeds() {
  constexpr std::string_view kT = "fuzz_evidence_snp";
  auto& pki = at::testing::SnpTestPki::Get(1024);
  const auto root = at::internal::Sha256Of(pki.ark.der);
  Write(kT, "vcek_v3", fuzz::EncodeEvidenceFrame(root, pki.MakeEvidence()));
  Write(kT, "vlek_v3", fuzz::EncodeEvidenceFrame(root, pki.MakeVlekEvidence()));
  for (std::uint32_t version : {2u, 5u}) {
    at::Evidence e = pki.MakeEvidence();
    e.report = pki.BaseReportUnsigned(version);
    at::testing::SnpTestPki::SignReport(e.report, pki.vcek.key.get());
    Write(kT, "vcek_v" + std::to_string(version), fuzz::EncodeEvidenceFrame(root, e));
  }
  // Chain in another order and without the ARK (the verifier must find the pieces).
  at::Evidence shuffled = pki.MakeEvidence();
  shuffled.certificates = {pki.ask.der, pki.vcek.der};
  Write(kT, "vcek_chain_partial", fuzz::EncodeEvidenceFrame(root, shuffled));

  constexpr std::string_view kC = "fuzz_certificates";
  Write(kC, "snp_ark.der", pki.ark.der);
  Write(kC, "snp_vcek.der", pki.vcek.der);
  Write(kC, "snp_vlek.der", pki.vlek.der);
}

void TdxSeeds() {
  constexpr std::string_view kT = "fuzz_evidence_tdx";
  auto& pki = at::testing::TdxTestPki::Get();
  const auto root = at::internal::Sha256Of(pki.root.der);
  at::testing::TdxQuoteSpec spec;
  spec.report_data.fill(0x22);
  at::Evidence e;
  e.platform = at::Platform::kTdx;
  e.report = pki.MakeQuote(spec);
  Write(kT, "quote_v4", fuzz::EncodeEvidenceFrame(root, e));
  e.collateral = ToBytes(pki.MakeCollateral("UpToDate", pki.pce_svn, {}));
  Write(kT, "quote_v4_collateral", fuzz::EncodeEvidenceFrame(root, e));
  spec.version = 5;
  spec.v5_body_type = 3;
  e.report = pki.MakeQuote(spec);
  e.collateral = ToBytes(pki.MakeCollateral("OutOfDate", pki.pce_svn, {"INTEL-SA-00837"}));
  Write(kT, "quote_v5_td15_collateral", fuzz::EncodeEvidenceFrame(root, e));
  spec.v5_body_type = 2;
  spec.td_attributes = 1;
  e.report = pki.MakeQuote(spec);
  e.collateral.clear();
  Write(kT, "quote_v5_debug", fuzz::EncodeEvidenceFrame(root, e));

  constexpr std::string_view kC = "fuzz_certificates";
  Write(kC, "tdx_pck_chain.pem", pki.PckChainPem());
  Write(kC, "tdx_pck.der", pki.pck.der);
  Write(kC, "tdx_root_crl.der", pki.root_crl_der);
  Write(kC, "tdx_pck_crl.pem.hex", HexEncode(pki.pck_crl_der));
  Write(kC, "rfc3339", std::string_view("2024-03-13T00:00:00.5+01:00"));
}

void SimSeeds() {
  constexpr std::string_view kT = "fuzz_evidence_sim";
  auto key = at::SimPlatformKey::Generate();
  if (!key) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", key.error().ToString().c_str());
    std::exit(1);
  }
  at::ReportData rd;
  rd.fill(0x22);
  Bytes measurement(at::kMeasurementBytes, 0x11);
  auto report = key->MakeReport(measurement, rd, fuzz::FuzzInstant());
  if (!report) std::exit(1);
  at::Evidence e;
  e.platform = at::Platform::kSim;
  e.report = *report;
  Write(kT, "sim_report", fuzz::EncodeEvidenceFrame(key->public_key(), e));
  Write(kT, "sim_report_hex",
        fuzz::EncodeEvidenceFrame(key->public_key(), at::Evidence{at::Platform::kSim, ToBytes(HexEncode(*report)), {}, {}}));
}

void TextSeeds() {
  constexpr std::string_view kF = "fuzz_federation_config";
  Write(kF, "hospital.toml", R"([federation]
id = "hospital-demo"
rounds = 20
min_participants = 3
round_timeout_s = 60
cohort_wait_s = 30
encoding = "bfloat16"
standardization = "federated"

[model]
kind = "mlp"
inputs = 30
hidden = [16]
classes = 2

[task]
local_epochs = 1
batch_size = 16
learning_rate = 0.05
optimizer = "sgd"
momentum = 0.9
seed = 7

[strategy]
name = "fedadam"
params = { eta = 0.01, beta1 = 0.9 }

[privacy]
enabled = false

[[participants]]
id = "hospital-1"
curve_key = "01fL=eh])&syVk]GPzN#U!d{5*#[nb2OOmdg^sPj"

[[participants]]
id = "hospital-2"
curve_key = "b}}zIqcW:OEtB8USKfB.!.]=!0sP+*eJu9)s.8C%"

[[participants]]
id = "hospital-3"
curve_key = "n(YnmC7CQsQog@y=E}pE}umAHcnvRMqE9%SEU<qY"

[server]
listen = "tcp://127.0.0.1:0"
state_dir = "aggregator-state"
sim_platform_key = "sim-platform.key"
max_concurrent_uploads = 2
)");
  Write(kF, "dp_cnn.toml", R"([federation]
id = "fmnist"
rounds = 5
min_participants = 2
on_quorum_failure = "fail"
max_update_norm = 10.0

[model]
kind = "cnn"
input_shape = [1, 28, 28]
channels = [8, 16]
classes = 10

[privacy]
enabled = true
noise_multiplier = 1.1
clip_norm = 1.0
epsilon_budget = 8.0
delta = 1e-5
sampling = "fixed"
participants_per_round = 2
adaptive_clipping = true
target_quantile = 0.5

[[participants]]
id = "a"
curve_key = "0000000000000000000000000000000000000000000000000000000000000000"

[[participants]]
id = "b"
curve_key = "1111111111111111111111111111111111111111111111111111111111111111"
)");
  Write(kF, "dp_hidden_cohort.toml", R"([federation]
id = "hidden"
rounds = 5
min_participants = 2

[model]
kind = "logreg"
inputs = 4
classes = 2

[privacy]
enabled = true
noise_multiplier = 1.1
clip_norm = 1.0
epsilon_budget = 8.0
delta = 1e-5
sampling = "poisson"
sampling_rate = 0.5
hide_cohort = true
adaptive_clipping = true

[[participants]]
id = "a"
curve_key = "0000000000000000000000000000000000000000000000000000000000000000"

[[participants]]
id = "b"
curve_key = "1111111111111111111111111111111111111111111111111111111111111111"
)");
  Write(kF, "torchscript.toml", R"([federation]
id = "ts"
min_participants = 1

[model]
kind = "torchscript"
path = "model.pt"
sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
layout = "layout.json"
classes = 3
inputs = 4
initial_parameters = "init.f32"

[[participants]]
id = "only"
curve_key = "01fL=eh])&syVk]GPzN#U!d{5*#[nb2OOmdg^sPj"
)");

  constexpr std::string_view kP = "fuzz_participant_config";
  Write(kP, "hospital.toml", R"(id = "hospital-1"
aggregator = "tcp://127.0.0.1:7700"
key_file = "keys/hospital-1.key"
policy = "policy.toml"
state_dir = "state-hospital-1"
threads = 2

[connect]
attempts = 20
initial_backoff_ms = 100
max_backoff_ms = 2000
request_timeout_ms = 5000
idle_timeout_s = 600

[data]
format = "csv"
train = "data/site-1.csv"
eval = "data/test.csv"
label_column = "diagnosis"
holdout_fraction = 0.2
seed = 3
)");
  Write(kP, "fmnist.toml", R"(id = "clinic.b"
aggregator = "tcp://aggregator.example:7700"
key_file = "/etc/cairn/participant.key"
torchscript = "model.pt"
attestation = "sim"
sim_platform_key = "participant-sim.key"

[data]
format = "fashion-mnist"
train = "rows-b.txt"
fashion_mnist_dir = "/usr/share/datasets/fashion-mnist"
)");

  constexpr std::string_view kPol = "fuzz_policy";
  Write(kPol, "sim.toml", R"(platforms = ["sim"]
max_evidence_age_seconds = 600

[sim]
platform_key = "8f6c3a1e2d4b5c6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a"
measurements = ["111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"]

[federation]
min_cohort = 3
max_epsilon = 8.0
max_delta = 1e-5
allowed_strategies = ["fedavg", "fedadam"]
require_secure_aggregation = false
)");
  Write(kPol, "snp_tdx.toml", R"(platforms = ["sev-snp", "tdx"]
use_builtin_roots = true
extra_roots = ["00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"]

[sev-snp]
measurements = ["000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"]
allow_debug = false
allow_migration_agent = false
allow_smt = true
max_vmpl = 0
min_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115, fmc = 0 }
min_guest_svn = 1
allow_vlek = true
host_data = ["0000000000000000000000000000000000000000000000000000000000000000"]
require_single_socket = false

[tdx]
mrtd = ["333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333"]
rtmr1 = ["414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141"]
mr_config_id = ["000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"]
allow_debug = false
accepted_tcb_status = ["UpToDate", "SWHardeningNeeded"]
forbidden_advisory_ids = ["INTEL-SA-00837"]
min_pce_svn = 11
)");

  // fuzz_csv: the first byte picks the option set (fuzz_csv.cc, OptionsFor).
  constexpr std::string_view kC = "fuzz_csv";
  Write(kC, "integer_labels", std::string("\x00", 1) + "label,a,b\n0,0.5,1e-3\n1,-2,+3.25\n2,  4 ,\"5\"\n");
  Write(kC, "class_names", std::string("\x01", 1) +
                               "\xEF\xBB\xBFid,label,radius\r\n1,benign,12.5\r\n\r\n2,\"malignant\",20.1\r\n");
  Write(kC, "feature_subset", std::string("\x02", 1) + "a,b,c,label\n1,2,3,x\n4,5,6,y\n");
  Write(kC, "num_classes", std::string("\x03", 1) + "label,f\n0,1.5\n2,2.5\n");
  Write(kC, "small_bounds", std::string("\x04", 1) + "y,a\n\"q\"\"uote\",1\n z ,2\n");
  Write(kC, "string_classes", std::string("\x05", 1) + "label,v\n0,1\n2,3\n1,4\n");
}

// Prints, for every text seed, whether the real parser accepts it (seeds that parse reach deeper
// code; a refusal is shown with its reason so a stale seed is noticed when formats change).
void ReportTextSeeds() {
  auto each = [](std::string_view target, auto&& parse) {
    for (const auto& entry : fs::directory_iterator(g_out / target)) {
      std::ifstream f(entry.path(), std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      std::string why = parse(text);
      std::printf("  %s/%s: %s\n", std::string(target).c_str(), entry.path().filename().c_str(),
                  why.empty() ? "accepted" : ("refused: " + why).c_str());
    }
  };
  each("fuzz_federation_config", [](const std::string& t) -> std::string {
    auto r = pt::ParseFederationText(t, "seed", "/nonexistent-cairn-fuzz");
    return r ? "" : r.error().ToString();
  });
  each("fuzz_policy", [](const std::string& t) -> std::string {
    auto r = at::ParsePolicy(t, "seed");
    return r ? "" : r.error().ToString();
  });
  fuzz::MemFile file("participant.toml");
  each("fuzz_participant_config", [&file](const std::string& t) -> std::string {
    auto r = participant::LoadParticipantConfig(file.Write(AsBytes(t)));
    return r ? "" : r.error().ToString();
  });
  each("fuzz_csv", [](const std::string& t) -> std::string {
    if (t.empty()) return "empty";
    auto r = data::ParseCsv(std::string_view(t).substr(1), "seed", fuzz::CsvOptionsFor(static_cast<std::uint8_t>(t[0])));
    return r ? "" : r.error().ToString();
  });
  auto evidence = [](at::Platform platform) {
    return [platform](const std::string& t) -> std::string {
      fuzz::EvidenceFrame f = fuzz::DecodeEvidenceFrame(AsBytes(t), platform);
      at::Policy policy = fuzz::PermissivePolicy(platform, f.root);
      if (platform == at::Platform::kSim) {
        policy.extra_roots.clear();
        policy.sim.platform_key = f.root;
      }
      at::VerifyOptions options;
      options.at = fuzz::FuzzInstant();
      auto v = at::VerifyEvidence(f.evidence, policy, options);
      if (!v) return v.error().ToString();
      return v->accepted ? "" : v->FirstFailure();
    };
  };
  each("fuzz_evidence_snp", evidence(at::Platform::kSevSnp));
  each("fuzz_evidence_tdx", evidence(at::Platform::kTdx));
  each("fuzz_evidence_sim", evidence(at::Platform::kSim));
  each("fuzz_round_result_json", [](const std::string& t) -> std::string {
    auto r = pt::ResultFromJson(t);
    return r ? "" : r.error().ToString();
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds OUT_DIR\n");
    return 2;
  }
  g_out = argv[1];
  if (!crypto::Init()) return 1;
  auto key = crypto::Ed25519KeyPair::Generate();
  if (!key) return 1;
  ProtocolSeeds(*key);
  SnpSeeds();
  TdxSeeds();
  SimSeeds();
  TextSeeds();
  ReportTextSeeds();
  std::printf("make_fuzz_seeds: wrote %d seeds under %s\n", g_written, g_out.c_str());
  return 0;
}
