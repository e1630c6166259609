// Plain value types for every protocol message. Cap'n Proto readers never leave protocol/: the
// codec converts at the edge, validating every bound in protocol/limits.h.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/core/bytes.h"

namespace cairn::protocol {

constexpr std::uint16_t kProtocolMajor = 1;
constexpr std::uint16_t kProtocolMinor = 1;  // 1.1: CatchUpRequest and CatchUp

using Key32 = std::array<std::uint8_t, 32>;

enum class Platform : std::uint8_t { kSim = 0, kSevSnp = 1, kTdx = 2 };

struct Metric {
  std::string name;
  double value = 0;
  bool operator==(const Metric&) const = default;
};

struct GetEvidence {
  std::array<std::uint8_t, 32> nonce{};
  std::string participant_id;
};

struct EvidenceBundle {
  Platform platform = Platform::kSim;
  Bytes report;
  std::vector<Bytes> certificates;
  Bytes collateral;
  bool operator==(const EvidenceBundle&) const = default;
};

struct Evidence {
  EvidenceBundle bundle;
  Key32 curve_key{};
  Key32 hpke_key{};
  Key32 signing_key{};
  std::string federation_config;  // canonical JSON; SHA-256 of these exact bytes is attested
  std::uint16_t control_port = 0;
  std::uint16_t data_port = 0;
  std::string software_version;
  Bytes challenge;  // 32 bytes: the aggregator's challenge for mutual attestation
};

struct Hello {
  std::array<std::uint8_t, 32> config_hash{};
  std::uint64_t last_round = 0;
  Bytes last_result_hash;
  std::optional<EvidenceBundle> mutual_evidence;
  Bytes challenge;  // mutual attestation: the Evidence challenge that mutual_evidence binds
};

struct RoundResult;

struct Welcome {
  std::array<std::uint8_t, 16> session{};
  std::uint64_t head_round = 0;
  Bytes head_hash;
  std::uint64_t model_version = 0;
  std::array<std::uint8_t, 32> nonce{};
  bool want_feature_stats = false;
  // When the participant's last verified result (Hello) is behind the head: the results after it,
  // up to and including the head, from results.jsonl (at most kMaxCatchUpResults). The participant
  // checks that they chain from its last hash to head_hash (docs/protocol.md).
  std::vector<RoundResult> catch_up;
};

enum class Encoding : std::uint8_t { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2, kRing32 = 3 };
std::size_t EncodingBytes(Encoding e);  // bytes per element
const char* EncodingName(Encoding e);

struct Task {
  std::uint32_t local_epochs = 1;
  std::uint32_t batch_size = 32;
  double learning_rate = 0.01;
  std::string optimizer = "sgd";
  double momentum = 0;
  double proximal_mu = 0;
  double clip_norm = 0;
  std::uint64_t seed = 0;
  bool report_clip_bit = false;
  std::vector<double> feature_mean;  // federated standardization (empty = none)
  std::vector<double> feature_std;
  bool operator==(const Task&) const = default;
};

struct ModelDownload {
  std::uint64_t model_version = 0;
  std::array<std::uint8_t, 32> model_hash{};
  std::uint64_t num_params = 0;
  Bytes key;  // 32 bytes; travels only on the Curve control channel
  std::array<std::uint8_t, 4> nonce_prefix{};
  std::uint32_t chunks = 0;
  std::uint32_t chunk_bytes = 0;
  Encoding encoding = Encoding::kFloat32;
  bool operator==(const ModelDownload&) const = default;
};

// Pairwise masking (docs/masking.md): the per-round values the cohort must agree on.
struct MaskingSetup {
  std::array<std::uint8_t, 32> graph_seed{};
  std::vector<std::string> cohort;  // roster ids in roster order; index = position
};

struct RoundOffer {
  std::uint64_t round = 0;
  ModelDownload model;
  Task task;
  std::uint64_t deadline_ms = 0;
  std::uint32_t upload_chunk_bytes = 0;
  Encoding upload_encoding = Encoding::kFloat32;
  std::uint32_t cohort_size = 0;
  std::optional<MaskingSetup> masking;  // set when the federation masks updates
};

struct UploadBegin {
  std::uint64_t round = 0;
  std::array<std::uint8_t, 32> enc{};
  std::uint32_t chunks = 0;
  std::uint64_t total_bytes = 0;
};

struct UploadReady {
  std::uint64_t round = 0;
};

struct Commit {
  std::uint64_t round = 0;
  std::array<std::uint8_t, 32> enc{};
  std::uint32_t chunks = 0;
  std::array<std::uint8_t, 32> digest{};
  std::uint64_t num_examples = 0;
  std::vector<Metric> metrics;
  bool within_clip = false;
};

enum class RejectCode : std::uint8_t {
  kMalformed = 0,
  kWrongRound = 1,
  kNotInCohort = 2,
  kDuplicate = 3,
  kWrongShape = 4,
  kWrongChunkCount = 5,
  kBadChunk = 6,
  kNonFinite = 7,
  kNormTooLarge = 8,
  kOversized = 9,
  kLateCommit = 10,
  kNoUpload = 11,
  kDigestMismatch = 12,
  kVersionMismatch = 13,
  kConfigMismatch = 14,
  kRollback = 15,
  kBusy = 16,
  kAttestationFailed = 17,
};
const char* RejectCodeName(RejectCode c);

struct CommitAck {
  std::uint64_t round = 0;
};

struct Rejected {
  std::uint64_t round = 0;
  RejectCode code = RejectCode::kMalformed;
  std::string detail;
};

struct EvalReport {
  std::uint64_t model_version = 0;
  std::uint64_t round = 0;
  std::vector<Metric> metrics;
};

enum class RoundStatus : std::uint8_t { kCompleted = 0, kFailedQuorum = 1, kAborted = 2 };
const char* RoundStatusName(RoundStatus s);

// A round result: the signed record of one round. Values, not readers: copyable. The signature
// covers SigningBytes() (protocol/round_result.h), i.e. every field but `signature`.
struct RoundResult {
  std::string federation_id;
  std::uint64_t round = 0;
  RoundStatus status = RoundStatus::kCompleted;
  std::string detail;
  std::vector<std::string> contributors;
  std::uint64_t num_examples = 0;
  std::uint64_t model_version = 0;
  std::array<std::uint8_t, 32> model_hash{};
  std::uint64_t num_params = 0;
  std::string strategy;
  std::vector<Metric> strategy_params;
  std::string platform;
  std::array<std::uint8_t, 32> config_hash{};
  double epsilon_spent = 0;
  double delta = 0;
  double noise_multiplier = 0;
  double clip_norm = 0;
  Bytes prev_hash;  // empty for the first round
  std::int64_t unix_millis = 0;
  bool final = false;
  std::vector<Metric> metrics;
  std::vector<Metric> extensions;
  std::array<std::uint8_t, 64> signature{};
  // Not signed: how to fetch the model it names (the key is per download, not part of history).
  std::optional<ModelDownload> model;
};

struct ErrorReply {
  RejectCode code = RejectCode::kMalformed;
  std::string message;
};

struct Goodbye {
  std::string reason;
};

struct Ping {};

struct FeatureStats {
  std::uint64_t count = 0;
  std::vector<double> sum;
  std::vector<double> sum_squares;
};

// Pairwise masking: one encoded secagg::Message (common/secagg/messages.h), opaque here; the
// round engine and the participant decode it with the round's limits.
struct SecaggMessage {
  Bytes data;
};

// Clean-room analytics (Envelope arm `analytics`): one protocol/analytics_message.h message,
// opaque at this layer.
struct AnalyticsData {
  Bytes payload;
};

// A returning participant's request for the next page of results it missed, after the ones a
// Welcome (or an earlier CatchUp) carried (docs/protocol.md, "Returning participants").
struct CatchUpRequest {
  std::uint64_t after_round = 0;
};

// The answer: the head as it is now and the results after `after_round` (at most
// kMaxCatchUpResults, fewer when they would not fit a control message).
struct CatchUp {
  std::uint64_t head_round = 0;
  Bytes head_hash;
  std::vector<RoundResult> results;
};

using Message = std::variant<GetEvidence, Evidence, Hello, Welcome, RoundOffer, UploadBegin,
                             UploadReady, Commit, CommitAck, Rejected, RoundResult, EvalReport,
                             ErrorReply, Goodbye, Ping, FeatureStats, SecaggMessage,
                             AnalyticsData, CatchUpRequest, CatchUp>;

// "GetEvidence", "Commit", ... for logs and errors.
const char* MessageName(const Message& m);

enum class ChunkKind : std::uint8_t { kModelRequest = 0, kModelChunk = 1, kUpdateChunk = 2 };

struct ChunkHeader {
  std::array<std::uint8_t, 16> session{};
  ChunkKind kind = ChunkKind::kUpdateChunk;
  std::uint64_t round = 0;  // update chunks: round; model chunks and requests: model version
  std::uint32_t index = 0;
  bool last = false;
  std::uint32_t end = 0;
};

}  // namespace cairn::protocol
