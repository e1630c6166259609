// Errors as values: every fallible call at a module boundary returns Result<T> or Status.
//
// An Error carries a canonical code (what kind of failure, and so whether retrying can help)
// and a message a user can act on: it names what was wrong and where (file, line, field,
// participant). Messages never contain secrets, model values, data rows or gradients.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace cairn {

enum class ErrorCode : std::uint16_t {
  kInvalidArgument = 1,    // the caller's input is wrong (flag, config value, file content)
  kNotFound = 2,           // a file, key or entry that must exist does not
  kAlreadyExists = 3,      // e.g. a duplicate upload, a port in use
  kPermissionDenied = 4,   // policy or roster refuses the peer
  kFailedPrecondition = 5, // the system is not in a state where the call can proceed
  kOutOfRange = 6,         // a bound was crossed (size limit, budget, index)
  kResourceExhausted = 7,  // a memory, queue or privacy budget is used up
  kUnavailable = 8,        // transient: peer unreachable; retrying may help
  kDeadlineExceeded = 9,   // a timeout passed
  kDataLoss = 10,          // corrupt or truncated stored data (checkpoint, file)
  kUnauthenticated = 11,   // a signature, MAC or attestation check failed
  kAborted = 12,           // the operation was abandoned (round aborted, rollback seen)
  kUnimplemented = 13,     // not supported on this platform / version
  kInternal = 14,          // a bug: an invariant did not hold
  kIo = 15,                // an operating-system I/O error
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with where it happened: Error(...).Context("reading policy.toml").
  Error&& Context(std::string_view where) && {
    message_ = std::string(where) + ": " + message_;
    return std::move(*this);
  }
  Error& Context(std::string_view where) & {
    message_ = std::string(where) + ": " + message_;
    return *this;
  }

  // "invalid-argument: <message>"
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> Fail(Error error) { return std::unexpected<Error>(std::move(error)); }
inline Status Ok() { return {}; }

}  // namespace cairn

#define CAIRN_CONCAT_INNER_(a, b) a##b
#define CAIRN_CONCAT_(a, b) CAIRN_CONCAT_INNER_(a, b)

// Returns the error of a Status/Result expression from the enclosing function.
#define CAIRN_RETURN_IF_ERROR(expr)                                   \
  do {                                                                \
    auto&& cairn_status_ = (expr);                                    \
    if (!cairn_status_) return ::cairn::Fail(std::move(cairn_status_).error()); \
  } while (false)

// CAIRN_ASSIGN_OR_RETURN(auto x, Compute()); binds the value or returns the error.
#define CAIRN_ASSIGN_OR_RETURN(lhs, expr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL_(CAIRN_CONCAT_(cairn_result_, __LINE__), lhs, expr)
#define CAIRN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)          \
  auto tmp = (expr);                                          \
  if (!tmp) return ::cairn::Fail(std::move(tmp).error());     \
  lhs = std::move(*tmp)
