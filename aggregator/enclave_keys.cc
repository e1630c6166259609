#include "aggregator/enclave_keys.h"

namespace cairn::aggregator {

Result<EnclaveKeys> EnclaveKeys::Generate() {
  CAIRN_ASSIGN_OR_RETURN(auto curve, crypto::X25519KeyPair::Generate());
  CAIRN_ASSIGN_OR_RETURN(auto hpke, crypto::X25519KeyPair::Generate());
  CAIRN_ASSIGN_OR_RETURN(auto signing, crypto::Ed25519KeyPair::Generate());
  return EnclaveKeys{std::move(curve), std::move(hpke), std::move(signing)};
}

}  // namespace cairn::aggregator
