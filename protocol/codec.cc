#include "protocol/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

#include "protocol/cairn.capnp.h"
#include "protocol/limits.h"
#include "protocol/text.h"

namespace cairn::protocol {
namespace {

// ---------------------------------------------------------------------------------------------
// Encoding

capnp::Data::Reader DataOf(ByteSpan b) { return capnp::Data::Reader(b.data(), b.size()); }
template <std::size_t N>
capnp::Data::Reader DataOf(const std::array<std::uint8_t, N>& a) {
  return capnp::Data::Reader(a.data(), N);
}

void SetMetrics(capnp::List<wire::Metric>::Builder list, const std::vector<Metric>& metrics) {
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    list[i].setName(metrics[i].name);
    list[i].setValue(metrics[i].value);
  }
}

void SetDoubles(capnp::List<double>::Builder list, const std::vector<double>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) list.set(static_cast<unsigned>(i), values[i]);
}

void FillBundle(wire::Evidence::Builder b, const EvidenceBundle& e) {
  b.setPlatform(static_cast<wire::Platform>(e.platform));
  b.setReport(DataOf(e.report));
  auto certs = b.initCertificates(static_cast<unsigned>(e.certificates.size()));
  for (std::size_t i = 0; i < e.certificates.size(); ++i) certs.set(i, DataOf(e.certificates[i]));
  b.setCollateral(DataOf(e.collateral));
}

void FillModel(wire::ModelDownload::Builder b, const ModelDownload& m) {
  b.setModelVersion(m.model_version);
  b.setModelHash(DataOf(m.model_hash));
  b.setNumParams(m.num_params);
  b.setKey(DataOf(m.key));
  b.setNoncePrefix(DataOf(m.nonce_prefix));
  b.setChunks(m.chunks);
  b.setChunkBytes(m.chunk_bytes);
  b.setEncoding(static_cast<wire::Encoding>(m.encoding));
}

void FillTask(wire::Task::Builder b, const Task& t) {
  b.setLocalEpochs(t.local_epochs);
  b.setBatchSize(t.batch_size);
  b.setLearningRate(t.learning_rate);
  b.setOptimizer(t.optimizer);
  b.setMomentum(t.momentum);
  b.setProximalMu(t.proximal_mu);
  b.setClipNorm(t.clip_norm);
  b.setSeed(t.seed);
  b.setReportClipBit(t.report_clip_bit);
  SetDoubles(b.initFeatureMean(static_cast<unsigned>(t.feature_mean.size())), t.feature_mean);
  SetDoubles(b.initFeatureStd(static_cast<unsigned>(t.feature_std.size())), t.feature_std);
}

void FillResult(wire::RoundResult::Builder b, const RoundResult& m) {
  b.setFederationId(m.federation_id);
  b.setRound(m.round);
  b.setStatus(static_cast<wire::RoundStatus>(m.status));
  b.setDetail(m.detail);
  auto c = b.initContributors(static_cast<unsigned>(m.contributors.size()));
  for (std::size_t i = 0; i < m.contributors.size(); ++i) c.set(i, m.contributors[i]);
  b.setNumExamples(m.num_examples);
  b.setModelVersion(m.model_version);
  b.setModelHash(DataOf(m.model_hash));
  b.setNumParams(m.num_params);
  b.setStrategy(m.strategy);
  SetMetrics(b.initStrategyParams(static_cast<unsigned>(m.strategy_params.size())), m.strategy_params);
  b.setPlatform(m.platform);
  b.setConfigHash(DataOf(m.config_hash));
  b.setEpsilonSpent(m.epsilon_spent);
  b.setDelta(m.delta);
  b.setNoiseMultiplier(m.noise_multiplier);
  b.setClipNorm(m.clip_norm);
  b.setPrevHash(DataOf(m.prev_hash));
  b.setUnixMillis(m.unix_millis);
  b.setSignature(DataOf(m.signature));
  b.setFinal(m.final);
  if (m.model) FillModel(b.initModel(), *m.model);
  SetMetrics(b.initMetrics(static_cast<unsigned>(m.metrics.size())), m.metrics);
  SetMetrics(b.initExtensions(static_cast<unsigned>(m.extensions.size())), m.extensions);
}

struct BodyFiller {
  wire::Envelope::Body::Builder body;

  void operator()(const GetEvidence& m) {
    auto b = body.initGetEvidence();
    b.setNonce(DataOf(m.nonce));
    b.setParticipantId(m.participant_id);
  }
  void operator()(const Evidence& m) {
    auto b = body.initEvidence();
    FillBundle(b, m.bundle);
    b.setCurveKey(DataOf(m.curve_key));
    b.setHpkeKey(DataOf(m.hpke_key));
    b.setSigningKey(DataOf(m.signing_key));
    b.setFederationConfig(DataOf(AsBytes(m.federation_config)));
    b.setControlPort(m.control_port);
    b.setDataPort(m.data_port);
    b.setSoftwareVersion(m.software_version);
    b.setChallenge(DataOf(m.challenge));
  }
  void operator()(const Hello& m) {
    auto b = body.initHello();
    b.setConfigHash(DataOf(m.config_hash));
    b.setLastRound(m.last_round);
    b.setLastResultHash(DataOf(m.last_result_hash));
    b.setHasMutualEvidence(m.mutual_evidence.has_value());
    if (m.mutual_evidence) FillBundle(b.initMutualEvidence(), *m.mutual_evidence);
    b.setChallenge(DataOf(m.challenge));
  }
  void operator()(const Welcome& m) {
    auto b = body.initWelcome();
    b.setSession(DataOf(m.session));
    b.setHeadRound(m.head_round);
    b.setHeadHash(DataOf(m.head_hash));
    b.setModelVersion(m.model_version);
    b.setNonce(DataOf(m.nonce));
    b.setWantFeatureStats(m.want_feature_stats);
    auto c = b.initCatchUp(static_cast<unsigned>(m.catch_up.size()));
    for (std::size_t i = 0; i < m.catch_up.size(); ++i) FillResult(c[static_cast<unsigned>(i)], m.catch_up[i]);
  }
  void operator()(const RoundOffer& m) {
    auto b = body.initRoundOffer();
    b.setRound(m.round);
    FillModel(b.initModel(), m.model);
    FillTask(b.initTask(), m.task);
    b.setDeadlineMs(m.deadline_ms);
    b.setUploadChunkBytes(m.upload_chunk_bytes);
    b.setUploadEncoding(static_cast<wire::Encoding>(m.upload_encoding));
    b.setCohortSize(m.cohort_size);
    if (m.masking) {
      b.setHasMasking(true);
      auto mb = b.initMasking();
      mb.setGraphSeed(DataOf(m.masking->graph_seed));
      auto c = mb.initCohort(static_cast<unsigned>(m.masking->cohort.size()));
      for (std::size_t i = 0; i < m.masking->cohort.size(); ++i) c.set(i, m.masking->cohort[i]);
    }
  }
  void operator()(const UploadBegin& m) {
    auto b = body.initUploadBegin();
    b.setRound(m.round);
    b.setEnc(DataOf(m.enc));
    b.setChunks(m.chunks);
    b.setTotalBytes(m.total_bytes);
  }
  void operator()(const UploadReady& m) { body.initUploadReady().setRound(m.round); }
  void operator()(const Commit& m) {
    auto b = body.initCommit();
    b.setRound(m.round);
    b.setEnc(DataOf(m.enc));
    b.setChunks(m.chunks);
    b.setDigest(DataOf(m.digest));
    b.setNumExamples(m.num_examples);
    SetMetrics(b.initMetrics(static_cast<unsigned>(m.metrics.size())), m.metrics);
    b.setWithinClip(m.within_clip);
  }
  void operator()(const CommitAck& m) { body.initCommitAck().setRound(m.round); }
  void operator()(const Rejected& m) {
    auto b = body.initRejected();
    b.setRound(m.round);
    b.setCode(static_cast<wire::RejectCode>(m.code));
    b.setDetail(m.detail);
  }
  void operator()(const RoundResult& m) { FillResult(body.initRoundResult(), m); }
  void operator()(const EvalReport& m) {
    auto b = body.initEvalReport();
    b.setModelVersion(m.model_version);
    b.setRound(m.round);
    SetMetrics(b.initMetrics(static_cast<unsigned>(m.metrics.size())), m.metrics);
  }
  void operator()(const ErrorReply& m) {
    auto b = body.initError();
    b.setCode(static_cast<wire::RejectCode>(m.code));
    b.setMessage(m.message);
  }
  void operator()(const Goodbye& m) { body.initGoodbye().setReason(m.reason); }
  void operator()(const Ping&) { body.setPing(); }
  void operator()(const SecaggMessage& m) { body.setSecagg(DataOf(m.data)); }
  void operator()(const FeatureStats& m) {
    auto b = body.initFeatureStats();
    b.setCount(m.count);
    SetDoubles(b.initSum(static_cast<unsigned>(m.sum.size())), m.sum);
    SetDoubles(b.initSumSquares(static_cast<unsigned>(m.sum_squares.size())), m.sum_squares);
  }
  void operator()(const AnalyticsData& m) { body.setAnalytics(DataOf(m.payload)); }
  void operator()(const CatchUpRequest& m) { body.initCatchUpRequest().setAfterRound(m.after_round); }
  void operator()(const CatchUp& m) {
    auto b = body.initCatchUp();
    b.setHeadRound(m.head_round);
    b.setHeadHash(DataOf(m.head_hash));
    auto c = b.initResults(static_cast<unsigned>(m.results.size()));
    for (std::size_t i = 0; i < m.results.size(); ++i) FillResult(c[static_cast<unsigned>(i)], m.results[i]);
  }
};

Bytes ToBytes(capnp::MallocMessageBuilder& builder) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Decoder {
 public:
  Result<Message> Body(wire::Envelope::Body::Reader body);
  Result<ChunkHeader> Header(wire::ChunkHeader::Reader r);

 private:
  Error Bad(std::string what) { return Error(ErrorCode::kInvalidArgument, std::move(what)); }

  Result<Bytes> Data(capnp::Data::Reader d, std::size_t max, const char* field) {
    if (d.size() > max) {
      return Fail(Bad(std::string(field) + " is " + std::to_string(d.size()) +
                      " bytes, above the limit of " + std::to_string(max)));
    }
    return Bytes(d.begin(), d.end());
  }
  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> Fixed(capnp::Data::Reader d, const char* field) {
    if (d.size() != N) {
      return Fail(Bad(std::string(field) + " must be " + std::to_string(N) + " bytes, got " +
                      std::to_string(d.size())));
    }
    std::array<std::uint8_t, N> out;
    std::memcpy(out.data(), d.begin(), N);
    return out;
  }
  Result<std::string> Text(capnp::Text::Reader t, std::size_t max, const char* field) {
    if (t.size() > max) {
      return Fail(Bad(std::string(field) + " is " + std::to_string(t.size()) +
                      " bytes, above the limit of " + std::to_string(max)));
    }
    // Cap'n Proto declares Text UTF-8 but does not check it; the texts end up in log lines,
    // rejection details and JSON files, whose writers must never see anything else.
    std::string_view text(t.cStr(), t.size());
    if (!IsValidUtf8(text)) return Fail(Bad(std::string(field) + " is not valid UTF-8"));
    return std::string(text);
  }
  // `self_reported`: metrics a participant chose (Commit, EvalReport); their names become JSON
  // keys and log values, so they must be 1 to 64 characters of [A-Za-z0-9._-].
  Result<std::vector<Metric>> Metrics(capnp::List<wire::Metric>::Reader list, const char* field,
                                      bool self_reported = false) {
    if (list.size() > kMaxMetrics) {
      return Fail(Bad(std::string(field) + " has " + std::to_string(list.size()) +
                      " entries, above the limit of " + std::to_string(kMaxMetrics)));
    }
    std::vector<Metric> out;
    out.reserve(list.size());
    for (auto m : list) {
      const std::string which = std::string(field) + ": the name of metric " + std::to_string(out.size());
      CAIRN_ASSIGN_OR_RETURN(std::string name, Text(m.getName(), kMaxMetricNameBytes, which.c_str()));
      if (self_reported && !IsValidMetricName(name)) {
        return Fail(Bad(which + " must be 1 to " + std::to_string(kMaxMetricNameChars) +
                        " characters of [A-Za-z0-9._-]"));
      }
      out.push_back(Metric{std::move(name), m.getValue()});
    }
    return out;
  }
  Result<std::vector<double>> Doubles(capnp::List<double>::Reader list, const char* field) {
    if (list.size() > kMaxFeatures) {
      return Fail(Bad(std::string(field) + " has " + std::to_string(list.size()) +
                      " entries, above the limit of " + std::to_string(kMaxFeatures)));
    }
    std::vector<double> out;
    out.reserve(list.size());
    for (double v : list) out.push_back(v);
    return out;
  }
  Result<Encoding> Enc(wire::Encoding e, const char* field) {
    auto v = static_cast<unsigned>(e);
    if (v > static_cast<unsigned>(Encoding::kRing32)) return Fail(Bad(std::string(field) + " is an unknown encoding"));
    return static_cast<Encoding>(v);
  }
  Result<EvidenceBundle> Bundle(wire::Evidence::Reader r) {
    EvidenceBundle e;
    auto p = static_cast<unsigned>(r.getPlatform());
    if (p > static_cast<unsigned>(Platform::kTdx)) return Fail(Bad("evidence platform is unknown"));
    e.platform = static_cast<Platform>(p);
    CAIRN_ASSIGN_OR_RETURN(e.report, Data(r.getReport(), kMaxEvidenceReportBytes, "evidence report"));
    auto certs = r.getCertificates();
    if (certs.size() > kMaxCertificates) {
      return Fail(Bad("evidence has " + std::to_string(certs.size()) +
                      " certificates, above the limit of " + std::to_string(kMaxCertificates)));
    }
    for (auto c : certs) {
      CAIRN_ASSIGN_OR_RETURN(Bytes der, Data(c, kMaxCertificateBytes, "evidence certificate"));
      e.certificates.push_back(std::move(der));
    }
    CAIRN_ASSIGN_OR_RETURN(e.collateral, Data(r.getCollateral(), kMaxCollateralBytes, "evidence collateral"));
    return e;
  }
  Result<ModelDownload> Model(wire::ModelDownload::Reader r) {
    ModelDownload m;
    m.model_version = r.getModelVersion();
    CAIRN_ASSIGN_OR_RETURN(m.model_hash, Fixed<32>(r.getModelHash(), "model hash"));
    m.num_params = r.getNumParams();
    if (m.num_params > kMaxParams) return Fail(Bad("model has too many parameters"));
    CAIRN_ASSIGN_OR_RETURN(m.key, Data(r.getKey(), 32, "model key"));
    CAIRN_ASSIGN_OR_RETURN(m.nonce_prefix, Fixed<4>(r.getNoncePrefix(), "model nonce prefix"));
    m.chunks = r.getChunks();
    m.chunk_bytes = r.getChunkBytes();
    if (m.chunks > kMaxChunks) return Fail(Bad("model chunk count is above the limit"));
    if (m.chunk_bytes > kMaxChunkBytes) return Fail(Bad("model chunk size is above the limit"));
    CAIRN_ASSIGN_OR_RETURN(m.encoding, Enc(r.getEncoding(), "model encoding"));
    return m;
  }
  Result<RoundResult> ResultOf(wire::RoundResult::Reader r) {
    RoundResult m;
    CAIRN_ASSIGN_OR_RETURN(m.federation_id, Text(r.getFederationId(), kMaxTextBytes, "federation id"));
    m.round = r.getRound();
    auto status = static_cast<unsigned>(r.getStatus());
    if (status > static_cast<unsigned>(RoundStatus::kAborted)) return Fail(Bad("unknown round status"));
    m.status = static_cast<RoundStatus>(status);
    CAIRN_ASSIGN_OR_RETURN(m.detail, Text(r.getDetail(), kMaxTextBytes, "result detail"));
    auto contributors = r.getContributors();
    if (contributors.size() > kMaxParticipants) return Fail(Bad("too many contributors"));
    for (auto c : contributors) {
      CAIRN_ASSIGN_OR_RETURN(std::string id, Text(c, kMaxParticipantIdBytes, "contributor"));
      m.contributors.push_back(std::move(id));
    }
    m.num_examples = r.getNumExamples();
    m.model_version = r.getModelVersion();
    CAIRN_ASSIGN_OR_RETURN(m.model_hash, Fixed<32>(r.getModelHash(), "model hash"));
    m.num_params = r.getNumParams();
    CAIRN_ASSIGN_OR_RETURN(m.strategy, Text(r.getStrategy(), kMaxMetricNameBytes, "strategy"));
    CAIRN_ASSIGN_OR_RETURN(m.strategy_params, Metrics(r.getStrategyParams(), "strategy params"));
    CAIRN_ASSIGN_OR_RETURN(m.platform, Text(r.getPlatform(), kMaxMetricNameBytes, "platform"));
    CAIRN_ASSIGN_OR_RETURN(m.config_hash, Fixed<32>(r.getConfigHash(), "config hash"));
    m.epsilon_spent = r.getEpsilonSpent();
    m.delta = r.getDelta();
    m.noise_multiplier = r.getNoiseMultiplier();
    m.clip_norm = r.getClipNorm();
    CAIRN_ASSIGN_OR_RETURN(m.prev_hash, Data(r.getPrevHash(), 32, "previous hash"));
    m.unix_millis = r.getUnixMillis();
    CAIRN_ASSIGN_OR_RETURN(m.signature, Fixed<64>(r.getSignature(), "signature"));
    m.final = r.getFinal();
    if (r.hasModel()) {
      CAIRN_ASSIGN_OR_RETURN(ModelDownload md, Model(r.getModel()));
      m.model = std::move(md);
    }
    CAIRN_ASSIGN_OR_RETURN(m.metrics, Metrics(r.getMetrics(), "result metrics"));
    CAIRN_ASSIGN_OR_RETURN(m.extensions, Metrics(r.getExtensions(), "result extensions"));
    return m;
  }
  Result<Task> TaskOf(wire::Task::Reader r) {
    Task t;
    t.local_epochs = r.getLocalEpochs();
    t.batch_size = r.getBatchSize();
    t.learning_rate = r.getLearningRate();
    CAIRN_ASSIGN_OR_RETURN(t.optimizer, Text(r.getOptimizer(), 32, "task optimizer"));
    t.momentum = r.getMomentum();
    t.proximal_mu = r.getProximalMu();
    t.clip_norm = r.getClipNorm();
    t.seed = r.getSeed();
    t.report_clip_bit = r.getReportClipBit();
    CAIRN_ASSIGN_OR_RETURN(t.feature_mean, Doubles(r.getFeatureMean(), "feature mean"));
    CAIRN_ASSIGN_OR_RETURN(t.feature_std, Doubles(r.getFeatureStd(), "feature std"));
    if (t.feature_mean.size() != t.feature_std.size()) return Fail(Bad("feature mean and std differ in length"));
    return t;
  }
};

Result<Message> Decoder::Body(wire::Envelope::Body::Reader body) {
  switch (body.which()) {
    case wire::Envelope::Body::GET_EVIDENCE: {
      auto r = body.getGetEvidence();
      GetEvidence m;
      CAIRN_ASSIGN_OR_RETURN(m.nonce, Fixed<32>(r.getNonce(), "nonce"));
      CAIRN_ASSIGN_OR_RETURN(m.participant_id, Text(r.getParticipantId(), kMaxParticipantIdBytes, "participant id"));
      return m;
    }
    case wire::Envelope::Body::EVIDENCE: {
      auto r = body.getEvidence();
      Evidence m;
      CAIRN_ASSIGN_OR_RETURN(m.bundle, Bundle(r));
      CAIRN_ASSIGN_OR_RETURN(m.curve_key, Fixed<32>(r.getCurveKey(), "curve key"));
      CAIRN_ASSIGN_OR_RETURN(m.hpke_key, Fixed<32>(r.getHpkeKey(), "HPKE key"));
      CAIRN_ASSIGN_OR_RETURN(m.signing_key, Fixed<32>(r.getSigningKey(), "signing key"));
      CAIRN_ASSIGN_OR_RETURN(Bytes cfg, Data(r.getFederationConfig(), kMaxFederationConfigBytes, "federation config"));
      m.federation_config.assign(cfg.begin(), cfg.end());
      m.control_port = r.getControlPort();
      m.data_port = r.getDataPort();
      CAIRN_ASSIGN_OR_RETURN(m.software_version, Text(r.getSoftwareVersion(), kMaxTextBytes, "software version"));
      CAIRN_ASSIGN_OR_RETURN(m.challenge, Data(r.getChallenge(), 32, "evidence challenge"));
      return m;
    }
    case wire::Envelope::Body::HELLO: {
      auto r = body.getHello();
      Hello m;
      CAIRN_ASSIGN_OR_RETURN(m.config_hash, Fixed<32>(r.getConfigHash(), "config hash"));
      m.last_round = r.getLastRound();
      CAIRN_ASSIGN_OR_RETURN(m.last_result_hash, Data(r.getLastResultHash(), 32, "last result hash"));
      if (r.getHasMutualEvidence()) {
        CAIRN_ASSIGN_OR_RETURN(EvidenceBundle e, Bundle(r.getMutualEvidence()));
        m.mutual_evidence = std::move(e);
      }
      CAIRN_ASSIGN_OR_RETURN(m.challenge, Data(r.getChallenge(), 32, "hello challenge"));
      return m;
    }
    case wire::Envelope::Body::WELCOME: {
      auto r = body.getWelcome();
      Welcome m;
      CAIRN_ASSIGN_OR_RETURN(m.session, Fixed<16>(r.getSession(), "session"));
      m.head_round = r.getHeadRound();
      CAIRN_ASSIGN_OR_RETURN(m.head_hash, Data(r.getHeadHash(), 32, "head hash"));
      m.model_version = r.getModelVersion();
      CAIRN_ASSIGN_OR_RETURN(m.nonce, Fixed<32>(r.getNonce(), "welcome nonce"));
      m.want_feature_stats = r.getWantFeatureStats();
      auto catch_up = r.getCatchUp();
      if (catch_up.size() > kMaxCatchUpResults) return Fail(Bad("welcome: too many catch-up results"));
      for (auto c : catch_up) {
        CAIRN_ASSIGN_OR_RETURN(RoundResult cr, ResultOf(c));
        m.catch_up.push_back(std::move(cr));
      }
      return m;
    }
    case wire::Envelope::Body::ROUND_OFFER: {
      auto r = body.getRoundOffer();
      RoundOffer m;
      m.round = r.getRound();
      CAIRN_ASSIGN_OR_RETURN(m.model, Model(r.getModel()));
      CAIRN_ASSIGN_OR_RETURN(m.task, TaskOf(r.getTask()));
      m.deadline_ms = r.getDeadlineMs();
      m.upload_chunk_bytes = r.getUploadChunkBytes();
      if (m.upload_chunk_bytes > kMaxChunkBytes) return Fail(Bad("upload chunk size is above the limit"));
      CAIRN_ASSIGN_OR_RETURN(m.upload_encoding, Enc(r.getUploadEncoding(), "upload encoding"));
      m.cohort_size = r.getCohortSize();
      if (r.getHasMasking()) {
        auto mr = r.getMasking();
        MaskingSetup ms;
        CAIRN_ASSIGN_OR_RETURN(ms.graph_seed, Fixed<32>(mr.getGraphSeed(), "masking graph seed"));
        auto cohort = mr.getCohort();
        if (cohort.size() > kMaxParticipants) return Fail(Bad("the masking cohort lists too many participants"));
        for (auto c : cohort) {
          CAIRN_ASSIGN_OR_RETURN(std::string id, Text(c, kMaxParticipantIdBytes, "masking cohort id"));
          ms.cohort.push_back(std::move(id));
        }
        if (ms.cohort.size() != m.cohort_size) return Fail(Bad("the masking cohort does not match the cohort size"));
        m.masking = std::move(ms);
      }
      return m;
    }
    case wire::Envelope::Body::UPLOAD_BEGIN: {
      auto r = body.getUploadBegin();
      UploadBegin m;
      m.round = r.getRound();
      CAIRN_ASSIGN_OR_RETURN(m.enc, Fixed<32>(r.getEnc(), "enc"));
      m.chunks = r.getChunks();
      m.total_bytes = r.getTotalBytes();
      return m;
    }
    case wire::Envelope::Body::UPLOAD_READY:
      return UploadReady{body.getUploadReady().getRound()};
    case wire::Envelope::Body::COMMIT: {
      auto r = body.getCommit();
      Commit m;
      m.round = r.getRound();
      CAIRN_ASSIGN_OR_RETURN(m.enc, Fixed<32>(r.getEnc(), "enc"));
      m.chunks = r.getChunks();
      CAIRN_ASSIGN_OR_RETURN(m.digest, Fixed<32>(r.getDigest(), "digest"));
      m.num_examples = r.getNumExamples();
      CAIRN_ASSIGN_OR_RETURN(m.metrics, Metrics(r.getMetrics(), "commit metrics", /*self_reported=*/true));
      m.within_clip = r.getWithinClip();
      return m;
    }
    case wire::Envelope::Body::COMMIT_ACK:
      return CommitAck{body.getCommitAck().getRound()};
    case wire::Envelope::Body::REJECTED: {
      auto r = body.getRejected();
      Rejected m;
      m.round = r.getRound();
      auto code = static_cast<unsigned>(r.getCode());
      if (code > static_cast<unsigned>(RejectCode::kAttestationFailed)) return Fail(Bad("unknown reject code"));
      m.code = static_cast<RejectCode>(code);
      CAIRN_ASSIGN_OR_RETURN(m.detail, Text(r.getDetail(), kMaxTextBytes, "reject detail"));
      return m;
    }
    case wire::Envelope::Body::ROUND_RESULT: {
      CAIRN_ASSIGN_OR_RETURN(RoundResult m, ResultOf(body.getRoundResult()));
      return m;
    }
    case wire::Envelope::Body::EVAL_REPORT: {
      auto r = body.getEvalReport();
      EvalReport m;
      m.model_version = r.getModelVersion();
      m.round = r.getRound();
      CAIRN_ASSIGN_OR_RETURN(m.metrics, Metrics(r.getMetrics(), "evaluation metrics", /*self_reported=*/true));
      return m;
    }
    case wire::Envelope::Body::ERROR: {
      auto r = body.getError();
      ErrorReply m;
      auto code = static_cast<unsigned>(r.getCode());
      if (code > static_cast<unsigned>(RejectCode::kAttestationFailed)) return Fail(Bad("unknown error code"));
      m.code = static_cast<RejectCode>(code);
      CAIRN_ASSIGN_OR_RETURN(m.message, Text(r.getMessage(), kMaxTextBytes, "error message"));
      return m;
    }
    case wire::Envelope::Body::GOODBYE: {
      Goodbye m;
      CAIRN_ASSIGN_OR_RETURN(m.reason, Text(body.getGoodbye().getReason(), kMaxTextBytes, "goodbye reason"));
      return m;
    }
    case wire::Envelope::Body::PING:
      return Ping{};
    case wire::Envelope::Body::SECAGG: {
      SecaggMessage m;
      CAIRN_ASSIGN_OR_RETURN(m.data, Data(body.getSecagg(), kMaxControlMessageBytes, "secagg message"));
      return m;
    }
    case wire::Envelope::Body::FEATURE_STATS: {
      auto r = body.getFeatureStats();
      FeatureStats m;
      m.count = r.getCount();
      CAIRN_ASSIGN_OR_RETURN(m.sum, Doubles(r.getSum(), "feature sums"));
      CAIRN_ASSIGN_OR_RETURN(m.sum_squares, Doubles(r.getSumSquares(), "feature sums of squares"));
      if (m.sum.size() != m.sum_squares.size()) return Fail(Bad("feature sums and sums of squares differ in length"));
      return m;
    }
    case wire::Envelope::Body::ANALYTICS: {
      // Bounded by the envelope's own size limit; the content is checked by DecodeAnalytics.
      auto d = body.getAnalytics();
      return AnalyticsData{Bytes(d.begin(), d.end())};
    }
    case wire::Envelope::Body::CATCH_UP_REQUEST:
      return CatchUpRequest{body.getCatchUpRequest().getAfterRound()};
    case wire::Envelope::Body::CATCH_UP: {
      auto r = body.getCatchUp();
      CatchUp m;
      m.head_round = r.getHeadRound();
      CAIRN_ASSIGN_OR_RETURN(m.head_hash, Data(r.getHeadHash(), 32, "head hash"));
      if (!m.head_hash.empty() && m.head_hash.size() != 32) return Fail(Bad("catch-up: the head hash must be 32 bytes"));
      auto results = r.getResults();
      if (results.size() > kMaxCatchUpResults) return Fail(Bad("catch-up: too many results"));
      for (auto c : results) {
        CAIRN_ASSIGN_OR_RETURN(RoundResult cr, ResultOf(c));
        m.results.push_back(std::move(cr));
      }
      return m;
    }
  }
  return Fail(Bad("unknown message type " + std::to_string(static_cast<unsigned>(body.which()))));
}

Result<ChunkHeader> Decoder::Header(wire::ChunkHeader::Reader r) {
  if (r.getMajor() != kProtocolMajor) {
    return Fail(ErrorCode::kFailedPrecondition,
                "chunk header speaks protocol " + std::to_string(r.getMajor()) + ".x; this build speaks " +
                    std::to_string(kProtocolMajor) + ".x");
  }
  ChunkHeader h;
  CAIRN_ASSIGN_OR_RETURN(h.session, Fixed<16>(r.getSession(), "session"));
  auto kind = static_cast<unsigned>(r.getKind());
  if (kind > static_cast<unsigned>(ChunkKind::kUpdateChunk)) return Fail(Bad("unknown chunk kind"));
  h.kind = static_cast<ChunkKind>(kind);
  h.round = r.getRound();
  h.index = r.getIndex();
  h.last = r.getLast();
  h.end = r.getEnd();
  return h;
}

// Runs `fn(reader)` over a flat Cap'n Proto message in `bytes`, converting Cap'n Proto's
// exceptions (malformed pointers, traversal limit) into errors.
template <typename Fn>
auto WithReader(ByteSpan bytes, std::size_t max_bytes, Fn&& fn)
    -> decltype(fn(std::declval<capnp::FlatArrayMessageReader&>())) {
  if (bytes.size() > max_bytes) {
    return Fail(ErrorCode::kInvalidArgument, "message is " + std::to_string(bytes.size()) +
                                                 " bytes, above the limit of " + std::to_string(max_bytes));
  }
  if (bytes.size() % sizeof(capnp::word) != 0 || bytes.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "message of " + std::to_string(bytes.size()) + " bytes is not whole Cap'n Proto words");
  }
  // ZeroMQ gives no alignment guarantee: copy into word-aligned memory (control messages are small).
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  // Each word may legitimately be visited a few times; more means a crafted message.
  options.traversalLimitInWords = words.size() * 4 + 64;
  options.nestingLimit = 16;
  try {
    capnp::FlatArrayMessageReader reader(words.asPtr(), options);
    return fn(reader);
  } catch (const kj::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("malformed message: ") + e.getDescription().cStr());
  }
}

}  // namespace

Bytes EncodeWithVersionForTesting(const Message& message, std::uint16_t major, std::uint16_t minor) {
  capnp::MallocMessageBuilder builder(256);
  auto env = builder.initRoot<wire::Envelope>();
  env.setMajor(major);
  env.setMinor(minor);
  std::visit(BodyFiller{env.initBody()}, message);
  return ToBytes(builder);
}

Bytes Encode(const Message& message) {
  return EncodeWithVersionForTesting(message, kProtocolMajor, kProtocolMinor);
}

Result<Message> Decode(ByteSpan bytes, std::size_t max_bytes) {
  return WithReader(bytes, max_bytes, [](capnp::FlatArrayMessageReader& reader) -> Result<Message> {
    auto env = reader.getRoot<wire::Envelope>();
    if (env.getMajor() != kProtocolMajor) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "peer speaks protocol " + std::to_string(env.getMajor()) + "." +
                      std::to_string(env.getMinor()) + "; this build speaks " +
                      std::to_string(kProtocolMajor) + "." + std::to_string(kProtocolMinor) +
                      " (major versions must match)");
    }
    Decoder d;
    return d.Body(env.getBody());
  });
}

Bytes EncodeChunkHeader(const ChunkHeader& h) {
  capnp::MallocMessageBuilder builder(32);
  auto r = builder.initRoot<wire::ChunkHeader>();
  r.setMajor(kProtocolMajor);
  r.setMinor(kProtocolMinor);
  r.setSession(DataOf(h.session));
  r.setKind(static_cast<wire::ChunkKind>(h.kind));
  r.setRound(h.round);
  r.setIndex(h.index);
  r.setLast(h.last);
  r.setEnd(h.end);
  return ToBytes(builder);
}

Result<ChunkHeader> DecodeChunkHeader(ByteSpan bytes) {
  return WithReader(bytes, kMaxChunkHeaderBytes, [](capnp::FlatArrayMessageReader& reader) {
    Decoder d;
    return d.Header(reader.getRoot<wire::ChunkHeader>());
  });
}

}  // namespace cairn::protocol
