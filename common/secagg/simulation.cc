#include "common/secagg/simulation.h"

#include <algorithm>
#include <string>

#include "common/secagg/messages.h"
#include "common/secagg/participant.h"
#include "common/secagg/quantize.h"

namespace cairn::secagg {

Result<SimulationReport> SimulateRound(const SimulationOptions& options,
                                       std::span<const std::span<const float>> updates) {
  const RoundSetup& setup = options.setup;
  const std::uint32_t n = setup.cohort_size;
  if (updates.size() != n) {
    return Fail(ErrorCode::kInvalidArgument, "simulation: " + std::to_string(updates.size()) +
                                                 " updates for a cohort of " + std::to_string(n));
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    if (updates[i].size() != setup.num_elements) {
      return Fail(ErrorCode::kInvalidArgument, "simulation: update " + std::to_string(i) + " has " +
                                                   std::to_string(updates[i].size()) + " values, not " +
                                                   std::to_string(setup.num_elements));
    }
  }
  if (options.chunk_elements == 0) return Fail(ErrorCode::kInvalidArgument, "simulation: chunk_elements = 0");
  auto drop = [&](std::uint32_t i) {
    return i < options.drops.size() ? options.drops[i] : DropPoint::kNone;
  };

  AggregatorOptions ao;
  ao.params = options.params;
  ao.setup = setup;
  ao.unmask_threads = options.unmask_threads;
  ao.observe_masked_input_for_testing = options.observe_masked_input_for_testing;
  CAIRN_ASSIGN_OR_RETURN(Aggregator agg, Aggregator::Create(std::move(ao)));
  std::vector<std::optional<Participant>> parts(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (drop(i) == DropPoint::kBeforeKeys) continue;
    ParticipantOptions po{options.params, setup, i,
                          options.participant_random ? options.participant_random(i) : RandomFill{}};
    CAIRN_ASSIGN_OR_RETURN(auto p, Participant::Create(po));
    parts[i].emplace(std::move(p));
  }

  SimulationReport report;
  // Carries one message to the other side: as bytes when wire_format is on.
  auto carry = [&]<typename T>(const T& message, const DecodeLimits& limits) -> Result<T> {
    if (!options.wire_format) return message;
    const Bytes bytes = Encode(message);
    report.control_bytes += bytes.size();
    return DecodeAs<T>(bytes, limits);
  };
  auto aborted = [&](Error e) -> Result<SimulationReport> {
    report.outcome = Fail(std::move(e));
    report.abort = agg.abort_reason();
    return std::move(report);
  };
  const DecodeLimits agg_limits = agg.decode_limits();

  // Round 1.
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!parts[i]) continue;
    CAIRN_ASSIGN_OR_RETURN(auto m, carry(parts[i]->advertisement(), agg_limits));
    CAIRN_RETURN_IF_ERROR(agg.HandleAdvertiseKeys(m));
  }
  auto key_relays = agg.CloseKeys();
  if (!key_relays) return aborted(std::move(key_relays).error());

  // Round 2.
  for (const KeysRelay& relay : *key_relays) {
    Participant& p = *parts[relay.recipient];
    if (drop(relay.recipient) == DropPoint::kAfterKeys) continue;
    CAIRN_ASSIGN_OR_RETURN(auto r, carry(relay, p.decode_limits()));
    CAIRN_ASSIGN_OR_RETURN(auto shares, p.HandleKeysRelay(r));
    CAIRN_ASSIGN_OR_RETURN(auto m, carry(shares, agg_limits));
    CAIRN_RETURN_IF_ERROR(agg.HandleShareKeys(m));
  }
  auto share_relays = agg.CloseShares();
  if (!share_relays) return aborted(std::move(share_relays).error());

  // Round 3.
  std::vector<std::uint32_t> chunk(std::min<std::uint64_t>(options.chunk_elements, setup.num_elements));
  Bytes wire;
  for (const SharesRelay& relay : *share_relays) {
    const std::uint32_t i = relay.recipient;
    if (drop(i) == DropPoint::kAfterShares) continue;
    Participant& p = *parts[i];
    CAIRN_ASSIGN_OR_RETURN(auto r, carry(relay, p.decode_limits()));
    CAIRN_RETURN_IF_ERROR(p.HandleSharesRelay(r));
    for (std::uint64_t off = 0; off < setup.num_elements; off += chunk.size()) {
      const std::size_t len = std::min<std::uint64_t>(chunk.size(), setup.num_elements - off);
      std::span<std::uint32_t> out(chunk.data(), len);
      CAIRN_ASSIGN_OR_RETURN(auto stats, p.MaskChunk(updates[i].subspan(off, len), off, out));
      report.clamped += stats.clamped;
      if (options.wire_format) {
        wire.clear();
        EncodeMaskedInput(setup.round_id, i, off, out, wire);
        report.masked_input_bytes += wire.size();
        CAIRN_ASSIGN_OR_RETURN(auto m, DecodeAs<MaskedInput>(wire, agg_limits));
        CAIRN_RETURN_IF_ERROR(agg.HandleMaskedInput(m));
      } else {
        CAIRN_RETURN_IF_ERROR(agg.AddMaskedChunk(i, off, out));
      }
    }
    CAIRN_RETURN_IF_ERROR(p.FinishMasking());
    CAIRN_RETURN_IF_ERROR(agg.CommitInput(i));
  }

  // Round 4.
  auto request = agg.BeginUnmasking();
  if (!request) return aborted(std::move(request).error());
  report.unmask_requested = true;
  for (std::uint32_t i : request->committed) {
    if (drop(i) == DropPoint::kAfterCommit) continue;
    Participant& p = *parts[i];
    CAIRN_ASSIGN_OR_RETURN(auto r, carry(*request, p.decode_limits()));
    CAIRN_ASSIGN_OR_RETURN(auto response, p.HandleUnmaskRequest(r));
    report.shares_revealed += response.shares.size();
    CAIRN_ASSIGN_OR_RETURN(auto m, carry(response, agg_limits));
    CAIRN_RETURN_IF_ERROR(agg.HandleUnmaskResponse(m));
  }
  auto sum = agg.Finalize();
  if (!sum) return aborted(std::move(sum).error());
  report.committed = sum->committed;
  report.sum.resize(sum->ring_sum.size());
  CAIRN_RETURN_IF_ERROR(DequantizeSum(options.params, sum->ring_sum,
                                      static_cast<std::uint32_t>(sum->committed.size()), report.sum));
  report.ring_sum = std::move(sum->ring_sum);
  return report;
}

}  // namespace cairn::secagg
