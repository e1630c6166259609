#include "aggregator/masked_round.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "aggregator/round_engine.h"
#include "common/core/log.h"
#include "common/crypto/crypto.h"
#include "common/secagg/aggregator.h"
#include "common/secagg/messages.h"
#include "common/secagg/quantize.h"
#include "protocol/masking_config.h"

namespace cairn::aggregator {

using protocol::RejectCode;

namespace {
// Elements copied per AddMaskedChunk call when folding a staged upload (1 MiB of ring values).
constexpr std::size_t kFoldElements = 1u << 18;
}  // namespace

const char* MaskedStageName(MaskedRound::Stage stage) {
  switch (stage) {
    case MaskedRound::Stage::kKeys: return "keys";
    case MaskedRound::Stage::kShares: return "shares";
    case MaskedRound::Stage::kInputs: return "inputs";
    case MaskedRound::Stage::kReveals: return "reveals";
    case MaskedRound::Stage::kUnmasked: return "unmasked";
    case MaskedRound::Stage::kBelowQuorum: return "below-quorum";
    case MaskedRound::Stage::kAborted: return "aborted";
  }
  return "unknown";
}

struct MaskedRound::Impl {
  Options options;
  secagg::Params params;
  secagg::RoundSetup setup;
  std::optional<secagg::Aggregator> aggregator;
  std::map<std::string, std::uint32_t> index;  // roster id → cohort index
  Clock::TimePoint stage_deadline{};
  std::size_t u1 = 0, u2 = 0, committed = 0, responders = 0;
  std::set<std::uint32_t> advertised, shared, answered;
  std::vector<std::uint32_t> u2_members;
  std::optional<secagg::UnmaskedSum> unmasked;
  std::optional<secagg::AbortReason> abort;

  const std::string& Id(std::uint32_t i) const { return options.cohort.at(i); }
  void Send(Outbox& outbox, std::uint32_t recipient, const secagg::Message& m) {
    protocol::SecaggMessage out{secagg::Encode(m)};
    (void)outbox.Send(Id(recipient), out);  // a participant that is gone drops out of the round
  }
};

MaskedRound::MaskedRound(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MaskedRound::~MaskedRound() = default;

std::unique_ptr<MaskedRound> MaskedRound::Create(Options options) {
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.options = std::move(options);
  const auto& fed = *s.options.federation;
  s.params = protocol::MaskingParams(fed);
  s.setup.round_id = s.options.round_id;
  s.setup.cohort_size = static_cast<std::uint32_t>(s.options.cohort.size());
  s.setup.num_elements = s.options.num_elements;
  crypto::RandomBytes(s.setup.graph_seed);
  s.setup.context = protocol::MaskingContext(fed, s.options.config_hash);
  for (std::uint32_t i = 0; i < s.options.cohort.size(); ++i) s.index[s.options.cohort[i]] = i;
  s.stage_deadline = s.options.now + DurationFromSeconds(fed.masking.stage_timeout_s);
  std::unique_ptr<MaskedRound> round(new MaskedRound(std::move(impl)));

  secagg::AggregatorOptions ao;
  ao.params = s.params;
  ao.setup = s.setup;
  ao.unmask_threads = std::max<std::uint32_t>(1, s.options.unmask_threads);
  if (s.options.observer) {
    // Tests only: the hook sees exactly what the library receives.
    Impl* self = &s;
    ao.observe_masked_input_for_testing = [self](std::uint32_t sender, std::uint64_t offset,
                                                 std::span<const std::uint32_t> values) {
      self->options.observer(self->Id(sender), offset, values);
    };
  }
  auto agg = secagg::Aggregator::Create(std::move(ao));
  if (!agg) {
    round->AbortWith(agg.error());
    return round;
  }
  s.aggregator.emplace(std::move(*agg));
  // Field names come from the logger's allowlist (common/core/log.cc): metadata only.
  log::Info("masked_round_started",
            {{"round", s.setup.round_id}, {"cohort", s.setup.cohort_size},
             {"masking", "k=" + std::to_string(s.params.neighborhood_size) + " t=" +
                             std::to_string(s.params.threshold) + " bits=" + std::to_string(s.params.quantization_bits)}});
  return round;
}

protocol::MaskingSetup MaskedRound::Setup() const {
  protocol::MaskingSetup m;
  m.graph_seed = impl_->setup.graph_seed;
  m.cohort = impl_->options.cohort;
  return m;
}

void MaskedRound::AbortWith(const Error& error) {
  Impl& s = *impl_;
  stage_ = Stage::kAborted;
  if (s.aggregator && s.aggregator->abort_reason()) s.abort = *s.aggregator->abort_reason();
  abort_detail_ = "masking: " + error.message();
  if (s.abort && s.abort->participant != secagg::AbortReason::kWholeRound &&
      s.abort->participant < s.options.cohort.size()) {
    abort_detail_ += " [participant " + std::to_string(s.abort->participant) + " is '" +
                     s.Id(s.abort->participant) + "']";
  }
  s.unmasked.reset();
  log::Error("masked_round_aborted", {{"round", s.setup.round_id}, {"reason", abort_detail_}});
}

std::optional<Rejection> MaskedRound::OnMessage(const std::string& participant, ByteSpan bytes) {
  Impl& s = *impl_;
  if (!s.aggregator || stage_ == Stage::kAborted) {
    return Rejection{RejectCode::kWrongRound, "the masked round has aborted"};
  }
  auto it = s.index.find(participant);
  if (it == s.index.end()) return Rejection{RejectCode::kNotInCohort, "not in this masked round's cohort"};
  const std::uint32_t self = it->second;
  auto m = secagg::Decode(bytes, s.aggregator->decode_limits());
  if (!m) return Rejection{RejectCode::kMalformed, "secagg message refused: " + m.error().message()};
  auto check_sender = [&](std::uint32_t sender, const char* what) -> std::optional<Rejection> {
    if (sender != self) {
      return Rejection{RejectCode::kMalformed, std::string("secagg ") + what + " names sender index " +
                                                   std::to_string(sender) + ", but this channel belongs to index " +
                                                   std::to_string(self)};
    }
    return std::nullopt;
  };
  auto refused = [&](const Error& e, const char* what) -> std::optional<Rejection> {
    RejectCode code = e.code() == ErrorCode::kAlreadyExists ? RejectCode::kDuplicate : RejectCode::kMalformed;
    if (e.code() == ErrorCode::kAborted) AbortWith(e);
    return Rejection{code, std::string("secagg ") + what + " refused: " + e.message()};
  };
  if (auto* a = std::get_if<secagg::AdvertiseKeys>(&*m)) {
    if (auto r = check_sender(a->sender, "AdvertiseKeys")) return r;
    if (auto st = s.aggregator->HandleAdvertiseKeys(*a); !st) return refused(st.error(), "AdvertiseKeys");
    s.advertised.insert(self);
    return std::nullopt;
  }
  if (auto* k = std::get_if<secagg::ShareKeys>(&*m)) {
    if (auto r = check_sender(k->sender, "ShareKeys")) return r;
    if (auto st = s.aggregator->HandleShareKeys(*k); !st) return refused(st.error(), "ShareKeys");
    s.shared.insert(self);
    return std::nullopt;
  }
  if (auto* u = std::get_if<secagg::UnmaskResponse>(&*m)) {
    if (auto r = check_sender(u->sender, "UnmaskResponse")) return r;
    if (auto st = s.aggregator->HandleUnmaskResponse(*u); !st) return refused(st.error(), "UnmaskResponse");
    s.answered.insert(self);
    return std::nullopt;
  }
  if (std::holds_alternative<secagg::MaskedInput>(*m)) {
    return Rejection{RejectCode::kMalformed, "secagg MaskedInput travels on the data plane (ring32 upload), not the control plane"};
  }
  return Rejection{RejectCode::kMalformed, std::string("a participant may not send secagg ") +
                                               secagg::MessageTypeName(secagg::TypeOf(*m))};
}

std::optional<Rejection> MaskedRound::FoldCommitted(const std::string& participant, std::span<const float> staged) {
  Impl& s = *impl_;
  if (stage_ != Stage::kInputs || !s.aggregator) {
    return Rejection{RejectCode::kLateCommit, std::string("the masked round is not collecting inputs (stage ") +
                                                  MaskedStageName(stage_) + ")"};
  }
  auto it = s.index.find(participant);
  if (it == s.index.end()) return Rejection{RejectCode::kNotInCohort, "not in this masked round's cohort"};
  const std::uint32_t sender = it->second;
  if (!std::binary_search(s.u2_members.begin(), s.u2_members.end(), sender)) {
    return Rejection{RejectCode::kNotInCohort,
                     "did not send its encrypted shares before the shares stage closed: its masked input cannot be "
                     "unmasked this round"};
  }
  if (staged.size() != s.setup.num_elements) {
    return Rejection{RejectCode::kWrongShape, "the masked upload has " + std::to_string(staged.size()) +
                                                  " elements; the round has " + std::to_string(s.setup.num_elements)};
  }
  // The staging buffer holds the decrypted ring32 bytes (protocol::DecodeValues copies them
  // verbatim); copy them out chunk by chunk as uint32 rather than alias the float buffer.
  std::vector<std::uint32_t> chunk(std::min<std::size_t>(kFoldElements, staged.size()));
  for (std::size_t off = 0; off < staged.size(); off += chunk.size()) {
    std::size_t n = std::min(chunk.size(), staged.size() - off);
    std::memcpy(chunk.data(), staged.data() + off, n * sizeof(std::uint32_t));
    if (auto st = s.aggregator->AddMaskedChunk(sender, off, std::span<const std::uint32_t>(chunk.data(), n)); !st) {
      // A half-folded sender would abort the round at unmasking; the library refuses before
      // folding anything of a wrong chunk, so this is reported and the upload dropped.
      return Rejection{RejectCode::kMalformed, "secagg masked input refused: " + st.error().message()};
    }
  }
  if (auto st = s.aggregator->CommitInput(sender); !st) {
    return Rejection{RejectCode::kMalformed, "secagg commit refused: " + st.error().message()};
  }
  ++s.committed;
  return std::nullopt;
}

void MaskedRound::Advance(Clock::TimePoint now, Clock::TimePoint input_deadline, std::size_t committed,
                          std::size_t quorum, Outbox& outbox) {
  Impl& s = *impl_;
  const double stage_timeout = s.options.federation->masking.stage_timeout_s;
  // Each pass may close several stages (e.g. keys and shares when everyone was fast).
  for (int guard = 0; guard < 5; ++guard) {
    Stage before = stage_;
    switch (stage_) {
      case Stage::kKeys: {
        if (s.advertised.size() < s.setup.cohort_size && now < s.stage_deadline) return;
        auto relays = s.aggregator->CloseKeys();
        if (!relays) return AbortWith(relays.error());
        s.u1 = relays->size();
        for (const auto& r : *relays) s.Send(outbox, r.recipient, r);
        stage_ = Stage::kShares;
        s.stage_deadline = now + DurationFromSeconds(stage_timeout);
        log::Info("masking_keys_closed", {{"round", s.setup.round_id}, {"count", s.u1},
                                          {"cohort", s.setup.cohort_size}});
        break;
      }
      case Stage::kShares: {
        if (s.shared.size() < s.u1 && now < s.stage_deadline) return;
        auto relays = s.aggregator->CloseShares();
        if (!relays) return AbortWith(relays.error());
        s.u2 = relays->size();
        s.u2_members.clear();
        for (const auto& r : *relays) {
          s.u2_members.push_back(r.recipient);
          s.Send(outbox, r.recipient, r);
        }
        std::sort(s.u2_members.begin(), s.u2_members.end());
        stage_ = Stage::kInputs;
        log::Info("masking_shares_closed", {{"round", s.setup.round_id}, {"count", s.u2}, {"cohort", s.u1}});
        break;
      }
      case Stage::kInputs: {
        if (committed < s.u2 && now < input_deadline) return;
        if (committed < quorum) {
          // Below the quorum nothing is unmasked: no share is requested, the sum is dropped.
          stage_ = Stage::kBelowQuorum;
          s.aggregator.reset();
          log::Warn("masking_below_quorum", {{"round", s.setup.round_id}, {"committed", committed},
                                             {"quorum", quorum}});
          return;
        }
        auto request = s.aggregator->BeginUnmasking();
        if (!request) return AbortWith(request.error());
        for (std::uint32_t i : request->committed) s.Send(outbox, i, *request);
        stage_ = Stage::kReveals;
        s.stage_deadline = now + DurationFromSeconds(stage_timeout);
        log::Info("masking_unmask_requested", {{"round", s.setup.round_id}, {"committed", request->committed.size()},
                                               {"count", s.u2}});
        break;
      }
      case Stage::kReveals: {
        if (s.answered.size() < s.committed && now < s.stage_deadline) return;
        s.responders = s.answered.size();
        auto sum = s.aggregator->Finalize();
        if (!sum) return AbortWith(sum.error());
        s.unmasked = std::move(*sum);
        stage_ = Stage::kUnmasked;
        log::Info("masking_unmasked", {{"round", s.setup.round_id}, {"committed", s.committed},
                                       {"count", s.responders}});
        return;
      }
      case Stage::kUnmasked:
      case Stage::kBelowQuorum:
      case Stage::kAborted:
        return;
    }
    if (stage_ == before) return;
  }
}

Clock::TimePoint MaskedRound::NextDeadline(Clock::TimePoint input_deadline) const {
  switch (stage_) {
    case Stage::kKeys:
    case Stage::kShares:
    case Stage::kReveals:
      return impl_->stage_deadline;
    case Stage::kInputs:
      return input_deadline;
    default:
      return input_deadline;
  }
}

Status MaskedRound::TakeSum(std::vector<double>& sum) {
  Impl& s = *impl_;
  if (stage_ != Stage::kUnmasked || !s.unmasked) {
    return Fail(ErrorCode::kFailedPrecondition, std::string("the masked round has no unmasked sum (stage ") +
                                                    MaskedStageName(stage_) + ")");
  }
  sum.assign(s.unmasked->ring_sum.size(), 0.0);
  CAIRN_RETURN_IF_ERROR(secagg::DequantizeSum(s.params, s.unmasked->ring_sum,
                                              static_cast<std::uint32_t>(s.unmasked->committed.size()), sum));
  crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(s.unmasked->ring_sum.data()),
                               s.unmasked->ring_sum.size() * sizeof(std::uint32_t)));
  s.unmasked->ring_sum = {};
  return Ok();
}

double MaskedRound::QuantizationNormBound() const {
  return secagg::QuantizationNormBound(impl_->params, impl_->setup.num_elements);
}

std::vector<protocol::Metric> MaskedRound::Extensions() const {
  const Impl& s = *impl_;
  std::vector<protocol::Metric> e = {
      {"masking_k", static_cast<double>(s.params.neighborhood_size)},
      {"masking_t", static_cast<double>(s.params.threshold)},
      {"masking_quantization_bits", static_cast<double>(s.params.quantization_bits)},
      {"masking_clip_range", s.params.clip_range},
      {"masking_quantization_norm_bound", secagg::QuantizationNormBound(s.params, s.setup.num_elements)},
      {"masking_advertised", static_cast<double>(s.u1)},
      {"masking_shared", static_cast<double>(s.u2)},
      {"masking_committed", static_cast<double>(s.committed)},
  };
  if (s.abort) {
    e.push_back({"masking_abort_stage", static_cast<double>(static_cast<int>(s.abort->stage))});
    e.push_back({"masking_abort_participant", s.abort->participant == secagg::AbortReason::kWholeRound
                                                  ? -1.0
                                                  : static_cast<double>(s.abort->participant)});
    e.push_back({"masking_abort_committed", s.abort->committed ? 1.0 : 0.0});
    e.push_back({"masking_abort_available", static_cast<double>(s.abort->available)});
  }
  return e;
}

}  // namespace cairn::aggregator
