// Pairwise masking (SecAgg+) wired into the round (issue 8; docs/masking.md, "Wiring it into the
// round"): config checks, masked rounds end to end in process (ParticipantClient) and by hand
// (RawParticipant driving participant::MaskingSession), dropouts recovered and aborts signed,
// malformed secagg input refused while the round goes on, what the enclave holds, and masked
// rounds between participants in separate processes with the real cairn-aggregator.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <unistd.h>

#include "common/model/model_files.h"
#include "common/secagg/messages.h"
#include "common/secagg/params.h"
#include "common/secagg/quantize.h"
#include "participant/keys.h"
#include "participant/masking_session.h"
#include "participant/synthetic_workload.h"
#include "protocol/federation_config.h"
#include "protocol/masking_config.h"
#include "protocol/round_result.h"
#include "tests/integration/harness.h"

namespace cairn {
namespace {

using namespace std::chrono_literals;
using testing::FederationSpec;
using testing::RawParticipant;
using testing::TestFederation;

std::optional<double> Extension(const protocol::RoundResult& r, const std::string& name) {
  for (const auto& m : r.extensions) {
    if (m.name == name) return m.value;
  }
  return std::nullopt;
}

// A federation body with masking on. logreg (inputs + 1)·classes parameters.
std::string MaskedBody(int rounds, int quorum, double round_timeout_s, const std::string& masking_extra,
                       int inputs = 4, int classes = 2, const std::string& federation_extra = "") {
  std::ostringstream b;
  b << "[federation]\nrounds = " << rounds << "\nmin_participants = " << quorum
    << "\nround_timeout_s = " << round_timeout_s << "\ncohort_wait_s = 60\neval_timeout_s = 5\n" << federation_extra
    << "[model]\nkind = \"logreg\"\ninputs = " << inputs << "\nclasses = " << classes
    << "\n[masking]\nenabled = true\n" << masking_extra;
  return b.str();
}

// A roster of n fresh Curve keys, for config-only checks.
std::string Roster(int n) {
  static const std::filesystem::path dir = testing::MakeTempDir("masking-roster");
  static std::map<int, std::string> made;  // key files are written once per roster size
  if (made.contains(n)) return made[n];
  std::string r;
  for (int i = 0; i < n; ++i) {
    auto key = participant::GenerateKeyFile(dir / ("k" + std::to_string(i) + "-" + std::to_string(n)));
    EXPECT_TRUE(key);
    r += "\n[[participants]]\nid = \"p" + std::to_string(i) + "\"\ncurve_key = \"" + key.value_or("") + "\"\n";
  }
  made[n] = r;
  return r;
}

Result<protocol::LoadedFederation> Parse(const std::string& body, int n) {
  return protocol::ParseFederationText("[federation]\nid = \"m\"\n" + body + Roster(n), "test.toml", {});
}

// ---------------------------------------------------------------------------------------------
// Configuration

TEST(Masking, ConfigDerivesDefaultsAndValidatesParams) {
  auto ok = Parse("rounds = 1\nmin_participants = 4\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n"
                  "[masking]\nenabled = true\n",
                  8);
  ASSERT_TRUE(ok) << ok.error().ToString();
  const auto& m = ok->federation.masking;
  EXPECT_EQ(m.neighborhood_size, 7u);
  EXPECT_EQ(m.threshold, 4u);
  EXPECT_EQ(m.quantization_bits, secagg::MaxQuantizationBits(8));
  EXPECT_EQ(m.quantization_bits, 29u);
  EXPECT_DOUBLE_EQ(m.clip_range, 1.0);
  EXPECT_TRUE(secagg::ValidateParams(protocol::MaskingParams(ok->federation)));

  struct Case {
    std::string extra;       // [masking] keys
    std::string federation;  // [federation] keys (after rounds/min_participants)
    std::string strategy;    // a [strategy] table
    std::string expect;      // a fragment the error must contain
  };
  const std::vector<Case> cases = {
      {"neighborhood_size = 5\nthreshold = 6\n", "", "", "threshold"},             // t > k
      {"neighborhood_size = 6\n", "", "", "neighborhood_size"},                   // k even
      {"neighborhood_size = 7\nthreshold = 3\n", "", "", "threshold"},            // 2t <= k: unsafe
      {"quantization_bits = 30\n", "", "", "quantization_bits"},                  // 8·(2^30−1) ≥ 2^32
      {"expected_dropout_rate = 0.1\n", "", "", "abort"},                         // t too small for δ
      {"modulus_bits = 64\n", "", "", "modulus_bits"},
      {"", "max_update_norm = 5\n", "", "max_update_norm"},
      {"", "", "[strategy]\nname = \"median\"\n", "median"},
      {"", "", "[strategy]\nname = \"krum\"\n", "krum"},
      {"", "", "[strategy]\nname = \"fedavg\"\n[strategy.params]\nnorm_bound = 2\n", "norm_bound"},
  };
  for (const auto& c : cases) {
    std::string body = "rounds = 1\nmin_participants = 4\n" + c.federation +
                       "[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n" + c.strategy +
                       "[masking]\nenabled = true\n" + c.extra;
    auto r = Parse(body, 8);
    ASSERT_FALSE(r) << "accepted: " << c.extra << c.federation << c.strategy;
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  // A quorum below t could never unmask.
  auto low = Parse("rounds = 1\nmin_participants = 2\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n"
                   "[masking]\nenabled = true\n",
                   8);
  ASSERT_FALSE(low);
  EXPECT_NE(low.error().message().find("min_participants"), std::string::npos) << low.error().message();
  // Unknown keys are refused like everywhere else in the config.
  auto unknown = Parse("rounds = 1\nmin_participants = 4\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n"
                       "[masking]\nenabled = true\nk = 7\n",
                       8);
  ASSERT_FALSE(unknown);
  // Masking off: the same strategies stay allowed.
  auto off = Parse("rounds = 1\nmin_participants = 2\n[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n"
                   "[strategy]\nname = \"median\"\n[masking]\nenabled = false\n",
                   8);
  EXPECT_TRUE(off) << off.error().ToString();
}

TEST(Masking, QuantizationRoundTripAndOverflowBounds) {
  // n = 8 at the derived bits: the largest value sum fits below 2^32, one more bit would not.
  std::uint32_t bits = secagg::MaxQuantizationBits(8);
  EXPECT_LT(8.0 * (std::ldexp(1.0, static_cast<int>(bits)) - 1), std::ldexp(1.0, 32));
  EXPECT_GE(8.0 * (std::ldexp(1.0, static_cast<int>(bits) + 1) - 1), std::ldexp(1.0, 32));
  secagg::Params p;
  p.num_participants = 8;
  p.neighborhood_size = 7;
  p.threshold = 4;
  p.quantization_bits = bits;
  p.clip_range = 0.5;
  ASSERT_TRUE(secagg::ValidateParams(p));
  // Eight vectors at the range's edges: the ring sum is exact (no wrap-around) and dequantizes
  // to the float sum within n·Δ per coordinate.
  const std::size_t P = 4096;
  Bytes key(32, 7);
  auto q = secagg::Quantizer::Create(p, key);
  ASSERT_TRUE(q);
  std::vector<std::uint32_t> ring(P, 0), one(P);
  std::vector<double> truth(P, 0);
  for (int i = 0; i < 8; ++i) {
    std::vector<float> x(P);
    for (std::size_t e = 0; e < P; ++e) {
      x[e] = (e % 3 == 0) ? 0.5f : (e % 3 == 1) ? -0.5f : static_cast<float>(0.37 * std::sin(double(e + i)));
      truth[e] += x[e];
    }
    ASSERT_TRUE(q->Quantize(x, 0, one));
    for (std::size_t e = 0; e < P; ++e) ring[e] += one[e];
  }
  std::vector<double> back(P);
  ASSERT_TRUE(secagg::DequantizeSum(p, ring, 8, back));
  double step = secagg::QuantizationStep(p);
  for (std::size_t e = 0; e < P; ++e) ASSERT_NEAR(back[e], truth[e], 8 * step + 1e-6) << e;
  p.quantization_bits = bits + 1;
  EXPECT_FALSE(secagg::ValidateParams(p));
}

// ---------------------------------------------------------------------------------------------
// In-process federations with ParticipantClient

// Runs `n` synthetic clients with constant updates; returns the final model.
std::vector<float> RunClients(TestFederation& fed, const std::vector<float>& values,
                              const std::vector<std::uint64_t>& examples, std::size_t num_params) {
  std::vector<std::unique_ptr<participant::SyntheticWorkload>> workloads;
  std::vector<std::future<Status>> runs;
  for (std::size_t i = 0; i < values.size(); ++i) {
    participant::SyntheticOptions o;
    o.num_params = num_params;
    o.constant = values[i];
    o.num_examples = examples[i];
    workloads.push_back(std::make_unique<participant::SyntheticWorkload>(o));
    runs.push_back(fed.RunParticipant(static_cast<int>(i), *workloads.back()));
  }
  for (auto& r : runs) {
    auto s = r.get();
    EXPECT_TRUE(s) << s.error().ToString();
  }
  auto joined = fed.JoinAggregator();
  EXPECT_TRUE(joined) << joined.error().ToString();
  auto model = model::ReadFlatParameters(fed.state_dir() / "global.f32", num_params);
  EXPECT_TRUE(model) << model.error().ToString();
  return model ? *model : std::vector<float>();
}

TEST(Masking, MaskedFedAvgEqualsPlainWithinQuantizationError) {
  constexpr std::size_t kParams = 4 * 2 + 2;
  const std::vector<float> values = {0.1f, 0.2f, 0.3f};
  const std::vector<std::uint64_t> examples = {100, 200, 300};

  FederationSpec plain_spec;
  plain_spec.body = "[federation]\nrounds = 2\nmin_participants = 3\nround_timeout_s = 30\ncohort_wait_s = 60\n"
                    "[model]\nkind = \"logreg\"\ninputs = 4\nclasses = 2\n";
  auto plain = TestFederation::Create("masking-plain", plain_spec);
  ASSERT_TRUE(plain);
  ASSERT_TRUE(plain->StartAggregator());
  std::vector<float> initial = plain->app().state().model;
  std::vector<float> plain_model = RunClients(*plain, values, examples, kParams);
  ASSERT_EQ(plain_model.size(), kParams);

  // Masked, FedAvg weights by pre-multiplication: W = 300 gives w = 1/3, 2/3, 1, the same
  // proportions as the example counts.
  FederationSpec spec;
  spec.body = MaskedBody(2, 3, 30, "weight_examples = 300\n");
  auto fed = TestFederation::Create("masking-fedavg", spec);
  ASSERT_TRUE(fed);
  int float_observations = 0;
  ASSERT_TRUE(fed->StartAggregator([&](aggregator::RoundEngine& e) {
    e.SetUpdateObserverForTesting([&](const std::string&, std::span<const float>) { ++float_observations; });
  }));
  std::vector<float> masked_initial = fed->app().state().model;
  std::vector<float> masked = RunClients(*fed, values, examples, kParams);
  ASSERT_EQ(masked.size(), kParams);
  EXPECT_EQ(float_observations, 0) << "the enclave saw a float update in a masked federation";

  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 2u);
  auto loaded = protocol::LoadFederationFile(fed->federation_file());
  ASSERT_TRUE(loaded);
  double step = secagg::QuantizationStep(protocol::MaskingParams(loaded->federation));
  for (const auto& r : results) {
    EXPECT_EQ(r.status, protocol::RoundStatus::kCompleted) << r.detail;
    EXPECT_EQ(r.contributors.size(), 3u);
    EXPECT_EQ(Extension(r, "masking_k"), 3.0);
    EXPECT_EQ(Extension(r, "masking_t"), 2.0);
    EXPECT_EQ(Extension(r, "masking_committed"), 3.0);
  }
  // Error per coordinate of the weighted mean: below |S|·Δ / Σw per round, plus float rounding.
  double tolerance = 2 * (3 * step / 2.0) + 2e-6;
  for (std::size_t i = 0; i < kParams; ++i) {
    EXPECT_NEAR(masked[i] - masked_initial[i], plain_model[i] - initial[i], tolerance) << i;
    EXPECT_NEAR(masked[i] - masked_initial[i], 2 * (140.0 / 600.0), tolerance) << i;
  }
}

TEST(Masking, DifferentialPrivacyNoiseIsAddedAfterUnmasking) {
  constexpr std::size_t kParams = 4 * 2 + 2;
  FederationSpec spec;
  spec.body = MaskedBody(1, 3, 30, "[privacy]\nenabled = true\nnoise_multiplier = 0.5\nclip_norm = 0.5\n"
                                   "epsilon_budget = 1000\ndelta = 1e-5\nsampling_rate = 1.0\n");
  auto fed = TestFederation::Create("masking-dp", spec);
  ASSERT_TRUE(fed);
  ASSERT_TRUE(fed->StartAggregator());
  std::vector<float> initial = fed->app().state().model;
  std::vector<float> model = RunClients(*fed, {0.01f, 0.01f, 0.01f}, {10, 20, 30}, kParams);
  ASSERT_EQ(model.size(), kParams);
  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 1u);
  const auto& r = results[0];
  EXPECT_EQ(r.status, protocol::RoundStatus::kCompleted) << r.detail;
  EXPECT_GT(r.epsilon_spent, 0.0);
  EXPECT_DOUBLE_EQ(r.noise_multiplier, 0.5);
  EXPECT_EQ(Extension(r, "masking_clip_range"), 0.5);  // derived from privacy.clip_norm
  // Gaussian noise of stddev z·C/3 ≈ 0.083 on the mean: the model is not the noiseless mean.
  double off = 0;
  for (std::size_t i = 0; i < kParams; ++i) off = std::max(off, std::abs((model[i] - initial[i]) - 0.01));
  EXPECT_GT(off, 1e-4);
}

// Uniformity of a masked vector: χ² over the top 4 bits (16 bins) and the share of values near
// the quantized update. True when it looks uniformly random.
bool LooksMasked(const std::vector<std::uint32_t>& v, std::uint32_t quantized) {
  std::array<double, 16> bins{};
  std::size_t near = 0;
  for (std::uint32_t x : v) {
    bins[x >> 28] += 1;
    std::uint32_t d = x > quantized ? x - quantized : quantized - x;
    if (d <= 2) ++near;
  }
  double expected = static_cast<double>(v.size()) / 16;
  double chi2 = 0;
  for (double b : bins) chi2 += (b - expected) * (b - expected) / expected;
  // 15 degrees of freedom: P[χ² > 50] ≈ 1e-5.
  return chi2 < 50 && near * 100 < v.size();
}

TEST(Masking, EnclaveNeverHoldsAnUnmaskedSingleUpdate) {
  // 999 inputs × 10 classes: 10 000 parameters, enough for the statistics.
  constexpr std::size_t kParams = 1000 * 10;
  FederationSpec spec;
  spec.body = MaskedBody(1, 3, 60, "", 999, 10);
  auto fed = TestFederation::Create("masking-visibility", spec);
  ASSERT_TRUE(fed);
  std::mutex mu;
  std::map<std::string, std::vector<std::uint32_t>> seen;
  int float_observations = 0;
  ASSERT_TRUE(fed->StartAggregator([&](aggregator::RoundEngine& e) {
    e.SetUpdateObserverForTesting([&](const std::string&, std::span<const float>) { ++float_observations; });
    e.SetMaskedInputObserverForTesting(
        [&](const std::string& p, std::uint64_t offset, std::span<const std::uint32_t> values) {
          std::lock_guard lock(mu);
          auto& v = seen[p];
          if (v.size() < offset + values.size()) v.resize(offset + values.size());
          std::copy(values.begin(), values.end(), v.begin() + static_cast<std::ptrdiff_t>(offset));
        });
  }));
  const std::vector<float> values = {0.25f, 0.25f, -0.5f};  // constant updates: the worst case
  RunClients(*fed, values, {10, 10, 10}, kParams);
  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, protocol::RoundStatus::kCompleted) << results[0].detail;
  EXPECT_EQ(float_observations, 0);
  auto loaded = protocol::LoadFederationFile(fed->federation_file());
  ASSERT_TRUE(loaded);
  auto params = protocol::MaskingParams(loaded->federation);
  double step = secagg::QuantizationStep(params);
  ASSERT_EQ(seen.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& v = seen[fed->id(i)];
    ASSERT_EQ(v.size(), kParams);
    auto q = static_cast<std::uint32_t>(std::llround((values[i] + params.clip_range) / step));
    EXPECT_TRUE(LooksMasked(v, q)) << fed->id(i) << ": the enclave held something that is not uniformly masked";
    // The check has teeth: the unmasked quantized update fails it.
    EXPECT_FALSE(LooksMasked(std::vector<std::uint32_t>(kParams, q), q));
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-driven masked participants (RawParticipant + MaskingSession)

class MaskedRaw {
 public:
  static std::unique_ptr<MaskedRaw> Connect(TestFederation& fed, int i) {
    auto raw = RawParticipant::Connect(fed, i);
    EXPECT_TRUE(raw) << raw.error().ToString();
    if (!raw) return nullptr;
    auto m = std::make_unique<MaskedRaw>();
    m->raw = std::move(*raw);
    m->id = fed.id(i);
    return m;
  }

  // Waits for the offer and makes the masking session.
  ::testing::AssertionResult Offer(const protocol::LoadedFederation& loaded, std::size_t num_params) {
    auto o = raw->WaitFor<protocol::RoundOffer>(20s);
    if (!o) return ::testing::AssertionFailure() << id << ": no round offer";
    offer = *o;
    if (!offer.masking) return ::testing::AssertionFailure() << id << ": the offer carries no masking setup";
    auto hash = crypto::Sha256(AsBytes(loaded.canonical_text));
    auto s = participant::MaskingSession::Create(loaded.federation, hash, offer, id, num_params);
    if (!s) return ::testing::AssertionFailure() << s.error().ToString();
    session = std::move(*s);
    auto it = std::find(offer.masking->cohort.begin(), offer.masking->cohort.end(), id);
    index = static_cast<std::uint32_t>(it - offer.masking->cohort.begin());
    return ::testing::AssertionSuccess();
  }
  Status Advertise() { return raw->Send(protocol::SecaggMessage{session->Advertisement()}); }
  // Handles the next secagg message; sends the reply if there is one. Keeps a decoded KeysRelay.
  ::testing::AssertionResult Step() {
    auto m = raw->WaitFor<protocol::SecaggMessage>(20s);
    if (!m) return ::testing::AssertionFailure() << id << ": no secagg message";
    auto decoded = secagg::Decode(m->data, secagg::DecodeLimits{});
    if (decoded) {
      if (auto* k = std::get_if<secagg::KeysRelay>(&*decoded)) keys = *k;
    }
    auto reply = session->Handle(m->data);
    if (!reply) return ::testing::AssertionFailure() << id << ": " << reply.error().ToString();
    if (*reply) {
      auto s = raw->Send(protocol::SecaggMessage{**reply});
      if (!s) return ::testing::AssertionFailure() << s.error().ToString();
    }
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult Upload(float value) {
    std::size_t P = offer.model.num_params;
    std::vector<float> update(P, value);
    std::vector<std::uint32_t> ring(P);
    if (auto s = session->Mask(update, 1.0, 0, ring); !s) return ::testing::AssertionFailure() << s.error().ToString();
    std::vector<float> bits(P);
    std::memcpy(bits.data(), ring.data(), P * 4);
    if (auto s = raw->BeginUpload(offer, bits); !s) return ::testing::AssertionFailure() << s.error().ToString();
    if (auto s = raw->SendAllChunks(); !s) return ::testing::AssertionFailure() << s.error().ToString();
    if (auto s = raw->Send(raw->MakeCommit(10)); !s) return ::testing::AssertionFailure() << s.error().ToString();
    if (!raw->WaitFor<protocol::CommitAck>(20s)) return ::testing::AssertionFailure() << id << ": no CommitAck";
    if (auto s = session->Committed(); !s) return ::testing::AssertionFailure() << s.error().ToString();
    return ::testing::AssertionSuccess();
  }
  // The next message, which must be of type T; anything else (a secagg message in particular)
  // is recorded in `unexpected`.
  template <typename T>
  std::optional<T> Expect(std::chrono::milliseconds timeout, std::vector<std::string>& unexpected) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = raw->Receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (!m || !*m) return std::nullopt;
      if (auto* t = std::get_if<T>(&**m)) return *t;
      unexpected.push_back(protocol::MessageName(**m));
    }
    return std::nullopt;
  }
  std::vector<std::uint32_t> Neighbors() const {
    std::vector<std::uint32_t> out;
    if (keys) {
      for (const auto& n : keys->neighbors) out.push_back(n.index);
    }
    return out;
  }

  std::unique_ptr<RawParticipant> raw;
  std::unique_ptr<participant::MaskingSession> session;
  protocol::RoundOffer offer;
  std::optional<secagg::KeysRelay> keys;
  std::string id;
  std::uint32_t index = 0;
};

struct MaskedCohort {
  std::unique_ptr<TestFederation> fed;
  protocol::LoadedFederation loaded;
  std::vector<std::unique_ptr<MaskedRaw>> members;  // by roster index (= cohort index: all connect)
  std::vector<float> initial;

  // Starts the aggregator, connects all n, and runs masking rounds 1 and 2 for everyone.
  ::testing::AssertionResult Start(const std::string& name, int n, const std::string& body) {
    FederationSpec spec;
    spec.participants = n;
    spec.body = body;
    fed = TestFederation::Create(name, spec);
    if (!fed) return ::testing::AssertionFailure() << "federation";
    if (auto s = fed->StartAggregator(); !s) return ::testing::AssertionFailure() << s.error().ToString();
    initial = fed->app().state().model;
    auto l = protocol::LoadFederationFile(fed->federation_file());
    if (!l) return ::testing::AssertionFailure() << l.error().ToString();
    loaded = std::move(*l);
    for (int i = 0; i < n; ++i) {
      members.push_back(MaskedRaw::Connect(*fed, i));
      if (!members.back()) return ::testing::AssertionFailure() << "connect " << i;
    }
    for (auto& m : members) {
      auto r = m->Offer(loaded, initial.size());
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult ExchangeKeys() {
    for (auto& m : members) {
      if (auto s = m->Advertise(); !s) return ::testing::AssertionFailure() << s.error().ToString();
    }
    for (auto& m : members) {  // KeysRelay → ShareKeys
      auto r = m->Step();
      if (!r) return r;
    }
    return ::testing::AssertionSuccess();
  }
  MaskedRaw& At(std::uint32_t cohort_index) { return *members.at(cohort_index); }
};

TEST(Masking, DropoutsAfterSharingAreRecoveredWhenNeighbourhoodsKeepT) {
  // Seven participants on a ring with k = 5, t = 3: two that drop after sharing their keys, at
  // ring distance 3, so every affected neighbourhood keeps three committed members and the five
  // survivors stay connected under the masking graph. (With k = 3 the same two would split the
  // survivors into a path of 3 and a path of 2, whose sums unmasking would reveal separately;
  // the enclave abandons such a round before asking for any share: docs/masking.md.)
  MaskedCohort c;
  ASSERT_TRUE(c.Start("masking-dropout", 7, MaskedBody(1, 3, 8, "neighborhood_size = 5\nthreshold = 3\n")));
  ASSERT_TRUE(c.ExchangeKeys());
  // The graph, from each member's keys relay: C_7(1, 2), so the two members that are not
  // neighbours of X are the ones at ring distance 3 from it; Y is one of them.
  std::map<std::uint32_t, std::vector<std::uint32_t>> adj;
  for (auto& m : c.members) adj[m->index] = m->Neighbors();
  for (auto& [i, nb] : adj) ASSERT_EQ(nb.size(), 4u) << i;
  std::uint32_t x = 0;
  std::uint32_t y = 0;
  for (std::uint32_t i = 1; i < 7; ++i) {
    if (std::find(adj[x].begin(), adj[x].end(), i) == adj[x].end()) y = i;
  }
  ASSERT_NE(y, 0u) << "no participant at ring distance 3 on a ring of 7";
  std::set<std::uint32_t> dropped = {x, y};
  {  // the survivors are connected (else the round would rightly abort)
    std::set<std::uint32_t> reached;
    std::vector<std::uint32_t> todo = {y == 1 ? 2u : 1u};
    while (!todo.empty()) {
      auto i = todo.back();
      todo.pop_back();
      if (dropped.contains(i) || !reached.insert(i).second) continue;
      todo.insert(todo.end(), adj[i].begin(), adj[i].end());
    }
    ASSERT_EQ(reached.size(), 5u);
  }
  for (auto d : dropped) c.At(d).raw->Close();  // gone after sharing: in U2, never commit
  for (auto& m : c.members) {
    if (dropped.contains(m->index)) continue;
    ASSERT_TRUE(m->Step());  // SharesRelay
  }
  double sum = 0;
  for (auto& m : c.members) {
    if (dropped.contains(m->index)) continue;
    float v = 0.01f * static_cast<float>(m->index + 1);
    sum += v;
    ASSERT_TRUE(m->Upload(v));
  }
  // After the round deadline the enclave asks the five survivors for shares.
  for (auto& m : c.members) {
    if (dropped.contains(m->index)) continue;
    ASSERT_TRUE(m->Step());  // UnmaskRequest → UnmaskResponse
  }
  std::vector<std::string> unexpected;
  std::optional<protocol::RoundResult> result;
  for (auto& m : c.members) {
    if (dropped.contains(m->index)) continue;
    result = m->Expect<protocol::RoundResult>(30s, unexpected);
    break;
  }
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, protocol::RoundStatus::kCompleted) << result->detail;
  EXPECT_EQ(result->contributors.size(), 5u);
  EXPECT_EQ(Extension(*result, "masking_shared"), 7.0);
  EXPECT_EQ(Extension(*result, "masking_committed"), 5.0);
  ASSERT_TRUE(c.fed->JoinAggregator(60s));
  auto model = model::ReadFlatParameters(c.fed->state_dir() / "global.f32", c.initial.size());
  ASSERT_TRUE(model);
  // The dropped participants' pairwise masks were removed: the model moved by the survivors' mean.
  for (std::size_t i = 0; i < c.initial.size(); ++i) EXPECT_NEAR((*model)[i] - c.initial[i], sum / 5, 1e-5) << i;
}

TEST(Masking, TooFewSurvivorsAbortsCleanlyWithASignedReason) {
  // Five on a ring with k = 3, t = 2: a participant and both its neighbours drop after sharing;
  // two commit (the quorum), but some neighbourhood keeps fewer than t members.
  MaskedCohort c;
  ASSERT_TRUE(c.Start("masking-abort", 5, MaskedBody(1, 2, 6, "neighborhood_size = 3\nthreshold = 2\n")));
  ASSERT_TRUE(c.ExchangeKeys());
  std::set<std::uint32_t> dropped = {0};
  for (auto n : c.At(0).Neighbors()) dropped.insert(n);
  ASSERT_EQ(dropped.size(), 3u);
  for (auto d : dropped) c.At(d).raw->Close();
  std::vector<MaskedRaw*> survivors;
  for (auto& m : c.members) {
    if (!dropped.contains(m->index)) survivors.push_back(m.get());
  }
  ASSERT_EQ(survivors.size(), 2u);
  for (auto* m : survivors) ASSERT_TRUE(m->Step());  // SharesRelay
  for (auto* m : survivors) ASSERT_TRUE(m->Upload(0.1f));
  for (auto* m : survivors) {
    std::vector<std::string> unexpected;
    auto result = m->Expect<protocol::RoundResult>(30s, unexpected);
    ASSERT_TRUE(result);
    // Nothing was asked of anyone: the abort came before the unmask request.
    EXPECT_TRUE(std::find(unexpected.begin(), unexpected.end(), "Secagg") == unexpected.end())
        << m->id << " was sent a secagg message after committing";
    EXPECT_EQ(result->status, protocol::RoundStatus::kAborted);
    EXPECT_NE(result->detail.find("aborted (unmasking)"), std::string::npos) << result->detail;
    EXPECT_NE(result->detail.find("t = 2"), std::string::npos) << result->detail;
    EXPECT_NE(result->detail.find("nothing further is revealed"), std::string::npos) << result->detail;
    auto available = Extension(*result, "masking_abort_available");
    ASSERT_TRUE(available);
    EXPECT_LT(*available, 2.0);
    EXPECT_TRUE(Extension(*result, "masking_abort_participant"));
    EXPECT_EQ(Extension(*result, "masking_t"), 2.0);
  }
  c.fed->StopAggregator();
  (void)c.fed->JoinAggregator(60s);
  auto results = testing::ReadResults(c.fed->state_dir());
  ASSERT_GE(results.size(), 1u);
  EXPECT_EQ(results[0].status, protocol::RoundStatus::kAborted);  // signed and logged
  EXPECT_EQ(results[0].model_version, 0u);                         // the model did not move
}

TEST(Masking, MalformedSecaggInputIsRefusedAndTheRoundGoesOn) {
  MaskedCohort c;
  ASSERT_TRUE(c.Start("masking-malformed", 3, MaskedBody(1, 3, 30, "")));
  std::vector<std::string> skipped;
  // Undecodable bytes.
  ASSERT_TRUE(c.At(0).raw->Send(protocol::SecaggMessage{Bytes{'c', 's', 'a', 'g', 1, 1, 0}}));
  auto r0 = c.At(0).Expect<protocol::Rejected>(10s, skipped);
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->code, protocol::RejectCode::kMalformed);
  EXPECT_NE(r0->detail.find("secagg message refused"), std::string::npos) << r0->detail;
  // Another participant's index as sender.
  auto adv = secagg::DecodeAs<secagg::AdvertiseKeys>(c.At(1).session->Advertisement(), secagg::DecodeLimits{});
  ASSERT_TRUE(adv);
  adv->sender = 0;
  ASSERT_TRUE(c.At(1).raw->Send(protocol::SecaggMessage{secagg::Encode(*adv)}));
  auto r1 = c.At(1).Expect<protocol::Rejected>(10s, skipped);
  ASSERT_TRUE(r1);
  EXPECT_NE(r1->detail.find("names sender index 0"), std::string::npos) << r1->detail;
  // An index outside the cohort.
  adv->sender = 7;
  ASSERT_TRUE(c.At(2).raw->Send(protocol::SecaggMessage{secagg::Encode(*adv)}));
  auto r2 = c.At(2).Expect<protocol::Rejected>(10s, skipped);
  ASSERT_TRUE(r2);
  EXPECT_NE(r2->detail.find("secagg message refused"), std::string::npos) << r2->detail;
  // A message only the aggregator may send.
  secagg::UnmaskRequest fake;
  fake.round_id = c.At(2).offer.round;
  fake.committed = {0, 1, 2};
  ASSERT_TRUE(c.At(2).raw->Send(protocol::SecaggMessage{secagg::Encode(fake)}));
  auto r3 = c.At(2).Expect<protocol::Rejected>(10s, skipped);
  ASSERT_TRUE(r3);
  EXPECT_NE(r3->detail.find("may not send"), std::string::npos) << r3->detail;

  // Everyone then runs the round properly, and it completes.
  ASSERT_TRUE(c.ExchangeKeys());
  for (auto& m : c.members) ASSERT_TRUE(m->Step());  // SharesRelay
  for (auto& m : c.members) ASSERT_TRUE(m->Upload(0.05f));
  for (auto& m : c.members) ASSERT_TRUE(m->Step());  // unmask
  auto result = c.At(0).Expect<protocol::RoundResult>(30s, skipped);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, protocol::RoundStatus::kCompleted) << result->detail;
  ASSERT_TRUE(c.fed->JoinAggregator(60s));
  auto model = model::ReadFlatParameters(c.fed->state_dir() / "global.f32", c.initial.size());
  ASSERT_TRUE(model);
  for (std::size_t i = 0; i < c.initial.size(); ++i) EXPECT_NEAR((*model)[i] - c.initial[i], 0.05, 1e-5) << i;
}

// ---------------------------------------------------------------------------------------------
// Separate processes: the real cairn-aggregator and participants in child processes (this test
// binary re-executed with MaskingChild.Participant selected).

constexpr const char* kChildEnv = "CAIRN_MASKING_CHILD";

// Child entry point: skipped unless the parent set the environment.
TEST(MaskingChild, Participant) {
  const char* spec = std::getenv(kChildEnv);
  if (spec == nullptr) GTEST_SKIP() << "runs only as a child of SeparateProcessesInteroperate";
  // dir|index|endpoint|value|params
  std::vector<std::string> f;
  std::stringstream ss(spec);
  for (std::string part; std::getline(ss, part, '|');) f.push_back(part);
  ASSERT_EQ(f.size(), 5u);
  std::filesystem::path dir = f[0];
  int i = std::stoi(f[1]);
  SystemClock clock;
  participant::ClientOptions o;
  o.config.id = "p" + std::to_string(i);
  o.config.aggregator = f[2];
  o.config.key_file = dir / ("p" + std::to_string(i) + ".key");
  o.config.policy = dir / "policy.toml";
  o.config.state_dir = dir / ("state-p" + std::to_string(i));
  o.config.connect.attempts = 5;
  o.config.connect.initial_backoff_ms = 50;
  o.config.connect.request_timeout_ms = 5000;
  auto policy = attestation::LoadPolicy(o.config.policy);
  ASSERT_TRUE(policy) << policy.error().ToString();
  o.policy = std::move(*policy);
  o.clock = &clock;
  participant::SyntheticOptions so;
  so.num_params = std::stoull(f[4]);
  so.constant = std::stof(f[3]);
  participant::SyntheticWorkload workload(so);
  auto client = participant::ParticipantClient::Create(std::move(o), workload);
  ASSERT_TRUE(client) << client.error().ToString();
  std::atomic<int> stop{0};
  auto s = (*client)->Run(stop);
  ASSERT_TRUE(s) << s.error().ToString();
  std::printf("masking-child: done rounds=%llu\n", static_cast<unsigned long long>((*client)->summary().rounds_contributed));
  std::fflush(stdout);
}

TEST(Masking, SeparateProcessesInteroperate) {
  constexpr int kN = 5;
  constexpr std::size_t kParams = 4 * 2 + 2;
  FederationSpec spec;
  spec.participants = kN;
  spec.body = MaskedBody(2, 3, 60, "neighborhood_size = 3\nthreshold = 2\n");
  auto fed = TestFederation::Create("masking-processes", spec);
  ASSERT_TRUE(fed);
  auto agg = testing::Subprocess::Start({(testing::BinDir() / "cairn-aggregator").string(), "run", "--config",
                                         fed->federation_file().string(), "--attestation", "sim"},
                                        fed->dir() / "aggregator.stderr", fed->dir());
  ASSERT_TRUE(agg);
  auto ready = agg->WaitForLine("cairn-aggregator: ready", 60s);
  ASSERT_TRUE(ready) << testing::ReadFile(fed->dir() / "aggregator.stderr");
  std::smatch match;
  std::regex re("attestation=(\\S+)");
  ASSERT_TRUE(std::regex_search(*ready, match, re)) << *ready;
  std::string endpoint = match[1];
  // The initial model: written before the ready line, nobody has trained yet.
  auto initial = model::ReadFlatParameters(fed->state_dir() / "global.f32", kParams);
  ASSERT_TRUE(initial) << initial.error().ToString();

  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::unique_ptr<testing::Subprocess>> children;
  double sum = 0;
  for (int i = 0; i < kN; ++i) {
    float v = 0.02f * static_cast<float>(i + 1);
    sum += v;
    std::string env = std::string(kChildEnv) + "=" + fed->dir().string() + "|" + std::to_string(i) + "|" + endpoint +
                      "|" + std::to_string(v) + "|" + std::to_string(kParams);
    children.push_back(testing::Subprocess::Start({"/usr/bin/env", env, self, "--gtest_filter=MaskingChild.Participant"},
                                                  fed->dir() / ("p" + std::to_string(i) + ".stderr"), fed->dir()));
    ASSERT_TRUE(children.back());
  }
  for (int i = 0; i < kN; ++i) {
    auto line = children[i]->WaitForLine("masking-child: done", 180s);
    EXPECT_TRUE(line) << "p" << i << ": " << children[i]->output() << testing::ReadFile(fed->dir() / ("p" + std::to_string(i) + ".stderr"));
    EXPECT_EQ(line.value_or(""), "masking-child: done rounds=2");
    auto st = children[i]->Wait(60s);
    ASSERT_TRUE(st);
    EXPECT_EQ(*st, 0);
  }
  auto st = agg->Wait(60s);
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, 0) << testing::ReadFile(fed->dir() / "aggregator.stderr");
  auto results = testing::ReadResults(fed->state_dir());
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status, protocol::RoundStatus::kCompleted) << r.detail;
    EXPECT_EQ(r.contributors.size(), static_cast<std::size_t>(kN));
    EXPECT_EQ(Extension(r, "masking_committed"), double(kN));
  }
  auto model = model::ReadFlatParameters(fed->state_dir() / "global.f32", kParams);
  ASSERT_TRUE(model);
  for (std::size_t i = 0; i < kParams; ++i) EXPECT_NEAR((*model)[i] - (*initial)[i], 2 * sum / kN, 1e-5) << i;
  // Logs carry metadata only: no masked value or share appears in the aggregator's log.
  std::string log = testing::ReadFile(fed->dir() / "aggregator.stderr");
  EXPECT_NE(log.find("masking_unmasked"), std::string::npos);
}

}  // namespace
}  // namespace cairn
