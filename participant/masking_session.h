// The participant side of one masked round (pairwise masking, SecAgg+; docs/masking.md,
// "Wiring it into the round"): a secagg::Participant bound to the attested configuration and
// the round offer, with the secagg messages as opaque bytes for the control channel.
//
// Life: Create at the offer (send Advertisement()) → Handle(KeysRelay) gives the ShareKeys to
// send → Handle(SharesRelay) → Mask each upload chunk → Committed() after the CommitAck →
// Handle(UnmaskRequest) gives the UnmaskResponse to send. Anything it refuses (a relay that does
// not match the graph, a request that could not be honest) is an error naming the reason; the
// caller drops the session and the round goes on without this participant.
//
// Secrets stay in the secagg::Participant (guarded memory); nothing here logs a key, share, mask
// or value. Thread safety: none; the client's thread owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/core/bytes.h"
#include "common/core/error.h"
#include "common/crypto/crypto.h"
#include "protocol/federation_config.h"
#include "protocol/types.h"

namespace cairn::secagg {
class Participant;
}

namespace cairn::participant {

class MaskingSession {
 public:
  // `self` is this participant's roster id; its index is its position in the offer's cohort.
  static Result<std::unique_ptr<MaskingSession>> Create(const protocol::FederationConfig& federation,
                                                        const crypto::Sha256Digest& config_hash,
                                                        const protocol::RoundOffer& offer, const std::string& self,
                                                        std::uint64_t num_elements);
  ~MaskingSession();

  std::uint64_t round() const { return round_; }
  // Round 1: AdvertiseKeys, encoded.
  Bytes Advertisement() const;
  // One secagg message from the aggregator. Returns the reply to send, if the step has one.
  Result<std::optional<Bytes>> Handle(ByteSpan bytes);
  // True once the keys relay is handled and the ShareKeys reply produced.
  bool shares_sent() const { return shares_sent_; }
  // True once the shares relay is handled (masking may start).
  bool ready_to_mask() const;
  // out[i] = masked quantized (weight · values[i]) for element offset + i.
  Status Mask(std::span<const float> values, double weight, std::uint64_t offset, std::span<std::uint32_t> out);
  // The masked upload was acknowledged.
  Status Committed();
  // Values clamped to [−r, r] so far (metadata: a count).
  std::uint64_t clamped() const { return clamped_; }

 private:
  MaskingSession() = default;
  std::uint64_t round_ = 0;
  std::unique_ptr<secagg::Participant> participant_;
  std::vector<float> scratch_;  // one chunk of weight · values
  std::uint64_t clamped_ = 0;
  bool shares_sent_ = false;
};

}  // namespace cairn::participant
