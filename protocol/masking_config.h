// Pairwise masking (SecAgg+) in the federation configuration: the [masking] table, its derived
// defaults, and the checks that refuse combinations that cannot be correct (docs/masking.md,
// docs/configuration.md). Kept apart from federation_config.cc so the masking wiring stays in
// its own files; federation_config.cc calls these two functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/core/error.h"
#include "common/core/toml_reader.h"
#include "common/secagg/params.h"

namespace cairn::protocol {

struct FederationConfig;

// Parses [masking] into f.masking (no cross-checks; those need the roster).
Status ParseMaskingTable(TomlReader& t, FederationConfig& f);

// With masking on: fills the derived defaults (k, t, bits, r) from the roster size, runs
// secagg::ValidateParams with n = roster size, and refuses what masking cannot serve (strategies
// that need individual updates, max_update_norm, a strategy norm_bound, a quorum below t). Every
// error names the key, the value and the rule. A no-op when masking is off.
Status ResolveMasking(FederationConfig& f, const std::string& source_name);

// The library parameters of a resolved configuration.
secagg::Params MaskingParams(const FederationConfig& f);

// The bytes bound into every masked round's session id: federation id ‖ SHA-256 of the attested
// config. Both sides compute it from what they attested.
Bytes MaskingContext(const FederationConfig& f, ByteSpan config_hash);

// FedAvg weights under masking (docs/masking.md, "Wiring"): participants pre-multiply their
// update by w = min(examples, W) / W (W = masking.weight_examples; W = 0 gives w = 1, equal
// weights; with differential privacy w = 1 always). The enclave divides the unmasked sum by the
// sum of the weights it computes the same way from each commit's example count.
double MaskingWeight(const FederationConfig& f, std::uint64_t num_examples);

}  // namespace cairn::protocol
