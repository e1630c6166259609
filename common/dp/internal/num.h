// Number formatting shared by common/dp's messages (the ledger and the accountant). Internal to
// common/dp.
#pragma once

#include <charconv>
#include <string>
#include <system_error>

namespace cairn::dp::internal {

// The shortest text that reads back as `v` (std::to_chars), or "?" if it does not fit.
inline std::string Num(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

}  // namespace cairn::dp::internal
