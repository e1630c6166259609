#include "participant/masking_session.h"

#include <algorithm>

#include "common/secagg/messages.h"
#include "common/secagg/participant.h"
#include "protocol/masking_config.h"

namespace cairn::participant {

MaskingSession::~MaskingSession() {
  if (!scratch_.empty()) {
    crypto::Wipe(MutableByteSpan(reinterpret_cast<std::uint8_t*>(scratch_.data()), scratch_.size() * sizeof(float)));
  }
}

Result<std::unique_ptr<MaskingSession>> MaskingSession::Create(const protocol::FederationConfig& federation,
                                                               const crypto::Sha256Digest& config_hash,
                                                               const protocol::RoundOffer& offer,
                                                               const std::string& self, std::uint64_t num_elements) {
  if (!federation.masking.enabled) {
    return Fail(ErrorCode::kFailedPrecondition, "the attested configuration does not enable masking");
  }
  if (!offer.masking) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the attested configuration enables masking, but the round offer carries no masking setup: "
                "refusing to send an unmasked update");
  }
  if (offer.upload_encoding != protocol::Encoding::kRing32) {
    return Fail(ErrorCode::kFailedPrecondition, "a masked round must upload ring32 values");
  }
  const auto& cohort = offer.masking->cohort;
  auto it = std::find(cohort.begin(), cohort.end(), self);
  if (it == cohort.end()) {
    return Fail(ErrorCode::kFailedPrecondition, "this participant is not in the masked round's cohort");
  }
  for (const auto& id : cohort) {
    if (!federation.FindById(id)) {
      return Fail(ErrorCode::kFailedPrecondition, "the masked round's cohort names '" + id +
                                                      "', who is not in the attested roster");
    }
  }
  secagg::ParticipantOptions po;
  po.params = protocol::MaskingParams(federation);
  po.setup.round_id = offer.round;
  po.setup.cohort_size = static_cast<std::uint32_t>(cohort.size());
  po.setup.num_elements = num_elements;
  po.setup.graph_seed = offer.masking->graph_seed;
  po.setup.context = protocol::MaskingContext(federation, config_hash);
  po.index = static_cast<std::uint32_t>(it - cohort.begin());
  CAIRN_ASSIGN_OR_RETURN(secagg::Participant p, secagg::Participant::Create(po));
  std::unique_ptr<MaskingSession> s(new MaskingSession());
  s->round_ = offer.round;
  s->participant_ = std::make_unique<secagg::Participant>(std::move(p));
  return s;
}

Bytes MaskingSession::Advertisement() const { return secagg::Encode(participant_->advertisement()); }

bool MaskingSession::ready_to_mask() const { return participant_->state() == secagg::Participant::State::kMasking; }

Result<std::optional<Bytes>> MaskingSession::Handle(ByteSpan bytes) {
  auto m = secagg::Decode(bytes, participant_->decode_limits());
  if (!m) return Fail(m.error().Context("secagg message from the aggregator"));
  if (auto* relay = std::get_if<secagg::KeysRelay>(&*m)) {
    CAIRN_ASSIGN_OR_RETURN(secagg::ShareKeys shares, participant_->HandleKeysRelay(*relay));
    shares_sent_ = true;
    return std::optional<Bytes>(secagg::Encode(shares));
  }
  if (auto* relay = std::get_if<secagg::SharesRelay>(&*m)) {
    CAIRN_RETURN_IF_ERROR(participant_->HandleSharesRelay(*relay));
    return std::optional<Bytes>();
  }
  if (auto* request = std::get_if<secagg::UnmaskRequest>(&*m)) {
    CAIRN_ASSIGN_OR_RETURN(secagg::UnmaskResponse response, participant_->HandleUnmaskRequest(*request));
    return std::optional<Bytes>(secagg::Encode(response));
  }
  return Fail(ErrorCode::kInvalidArgument, std::string("the aggregator may not send secagg ") +
                                               secagg::MessageTypeName(secagg::TypeOf(*m)));
}

Status MaskingSession::Mask(std::span<const float> values, double weight, std::uint64_t offset,
                            std::span<std::uint32_t> out) {
  std::span<const float> in = values;
  if (weight != 1.0) {
    scratch_.resize(std::max(scratch_.size(), values.size()));
    auto w = static_cast<float>(weight);
    for (std::size_t i = 0; i < values.size(); ++i) scratch_[i] = values[i] * w;
    in = std::span<const float>(scratch_.data(), values.size());
  }
  CAIRN_ASSIGN_OR_RETURN(secagg::QuantizeStats stats, participant_->MaskChunk(in, offset, out));
  clamped_ += stats.clamped;
  return Ok();
}

Status MaskingSession::Committed() { return participant_->FinishMasking(); }

}  // namespace cairn::participant
