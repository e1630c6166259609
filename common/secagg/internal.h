// Private helpers shared by the secagg module's translation units. Not part of the API.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include "common/core/error.h"

namespace cairn::secagg::internal {

// "participant <index>", for messages.
inline std::string Who(std::uint32_t index) { return "participant " + std::to_string(index); }

// kFailedPrecondition with `what`: a call made in the wrong state.
inline std::unexpected<Error> Precondition(const std::string& what) {
  return Fail(ErrorCode::kFailedPrecondition, what);
}

}  // namespace cairn::secagg::internal
