#include "common/core/error.h"

namespace cairn {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid-argument";
    case ErrorCode::kNotFound: return "not-found";
    case ErrorCode::kAlreadyExists: return "already-exists";
    case ErrorCode::kPermissionDenied: return "permission-denied";
    case ErrorCode::kFailedPrecondition: return "failed-precondition";
    case ErrorCode::kOutOfRange: return "out-of-range";
    case ErrorCode::kResourceExhausted: return "resource-exhausted";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kDeadlineExceeded: return "deadline-exceeded";
    case ErrorCode::kDataLoss: return "data-loss";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kAborted: return "aborted";
    case ErrorCode::kUnimplemented: return "unimplemented";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kIo: return "io";
  }
  return "unknown";
}

std::string Error::ToString() const {
  return std::string(ErrorCodeName(code_)) + ": " + message_;
}

}  // namespace cairn
