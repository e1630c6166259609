#include "protocol/masking_config.h"

#include <algorithm>
#include <set>

#include "protocol/federation_config.h"

namespace cairn::protocol {

Status ParseMaskingTable(TomlReader& t, FederationConfig& f) {
  MaskingConfig& m = f.masking;
  CAIRN_RETURN_IF_ERROR(t.Get("enabled", m.enabled));
  CAIRN_RETURN_IF_ERROR(t.Get("neighborhood_size", m.neighborhood_size, 0u, secagg::kMaxNeighborhood));
  CAIRN_RETURN_IF_ERROR(t.Get("threshold", m.threshold, 0u, secagg::kMaxNeighborhood));
  CAIRN_RETURN_IF_ERROR(t.Get("quantization_bits", m.quantization_bits, 0u, 31u));
  CAIRN_RETURN_IF_ERROR(t.Get("clip_range", m.clip_range, 0.0, 1e12));
  CAIRN_RETURN_IF_ERROR(t.Get("modulus_bits", m.modulus_bits, 1u, 64u));
  CAIRN_RETURN_IF_ERROR(t.Get("expected_dropout_rate", m.expected_dropout_rate, 0.0, 1.0));
  CAIRN_RETURN_IF_ERROR(t.Get("max_abort_probability", m.max_abort_probability, 0.0, 1.0));
  CAIRN_RETURN_IF_ERROR(t.Get("max_colluding", m.max_colluding, 0u, secagg::kMaxNeighborhood));
  CAIRN_RETURN_IF_ERROR(t.Get("stage_timeout_s", m.stage_timeout_s, 0.1, 86400.0));
  std::int64_t w = static_cast<std::int64_t>(m.weight_examples);
  CAIRN_RETURN_IF_ERROR(t.Get("weight_examples", w, 0, std::int64_t{1} << 40));
  m.weight_examples = static_cast<std::uint64_t>(w);
  return t.Finish();
}

Status ResolveMasking(FederationConfig& f, const std::string& source) {
  MaskingConfig& m = f.masking;
  if (!m.enabled) return Ok();
  auto fail = [&](const std::string& what) {
    return Fail(ErrorCode::kInvalidArgument, source + ": " + what);
  };
  static const std::set<std::string> kSumBased = {"fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad", "fedprox"};
  if (!kSumBased.contains(f.strategy.name)) {
    return fail("strategy.name = \"" + f.strategy.name +
                "\" needs each participant's update, which pairwise masking hides from the enclave; with "
                "masking.enabled use a sum-based strategy (fedavg, fedavgm, fedadam, fedyogi, fedadagrad, fedprox)");
  }
  if (f.strategy.params.contains("norm_bound")) {
    return fail("strategy.params.norm_bound scales each update in the enclave, which cannot see single updates "
                "under masking.enabled; bound updates with masking.clip_range (or privacy.clip_norm) instead");
  }
  if (f.max_update_norm > 0) {
    return fail("federation.max_update_norm = " + std::to_string(f.max_update_norm) +
                " checks each update's norm in the enclave, which cannot see single updates under "
                "masking.enabled; remove it (participants clamp to masking.clip_range)");
  }
  auto n = static_cast<std::uint32_t>(f.roster.size());
  if (m.neighborhood_size == 0) {
    // Default: 7 (the SecAgg+ benchmark setting), or the largest odd number ≤ n when n is smaller.
    std::uint32_t k = std::min<std::uint32_t>(7, n);
    if (k % 2 == 0) --k;
    m.neighborhood_size = k;
  }
  if (m.threshold == 0) m.threshold = (m.neighborhood_size + m.max_colluding) / 2 + 1;
  if (m.quantization_bits == 0) m.quantization_bits = n >= 3 ? secagg::MaxQuantizationBits(n) : 1;
  if (m.clip_range == 0) m.clip_range = f.privacy.enabled ? f.privacy.clip_norm : 1.0;
  if (auto s = secagg::ValidateParams(MaskingParams(f)); !s) {
    return fail("[masking] with " + std::to_string(n) + " participants in the roster: " + s.error().message());
  }
  if (f.min_participants < m.threshold) {
    return fail("federation.min_participants = " + std::to_string(f.min_participants) +
                " is below masking.threshold = " + std::to_string(m.threshold) +
                ": a masked round needs at least t committed participants to unmask anything");
  }
  if (f.privacy.enabled && m.weight_examples != 0) {
    return fail("masking.weight_examples weights updates by example counts, but differential privacy uses equal "
                "weights (a fixed denominator); leave it at 0 with privacy.enabled");
  }
  return Ok();
}

secagg::Params MaskingParams(const FederationConfig& f) {
  const MaskingConfig& m = f.masking;
  secagg::Params p;
  p.num_participants = static_cast<std::uint32_t>(f.roster.size());
  p.neighborhood_size = m.neighborhood_size;
  p.threshold = m.threshold;
  p.quantization_bits = m.quantization_bits;
  p.clip_range = m.clip_range;
  p.modulus_bits = m.modulus_bits;
  p.expected_dropout_rate = m.expected_dropout_rate;
  p.max_abort_probability = m.max_abort_probability;
  p.max_colluding = m.max_colluding;
  return p;
}

Bytes MaskingContext(const FederationConfig& f, ByteSpan config_hash) {
  Bytes c(f.id.begin(), f.id.end());
  c.push_back(0);
  c.insert(c.end(), config_hash.begin(), config_hash.end());
  return c;
}

double MaskingWeight(const FederationConfig& f, std::uint64_t num_examples) {
  if (f.privacy.enabled || f.masking.weight_examples == 0) return 1.0;
  double w = static_cast<double>(std::min(num_examples, f.masking.weight_examples));
  return w / static_cast<double>(f.masking.weight_examples);
}

}  // namespace cairn::protocol
