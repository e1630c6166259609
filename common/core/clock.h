// Time as an injected dependency: nothing below main() reads a global clock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cairn {

// Thread-safe. `Now()` is monotonic (deadlines); `WallNow()` is calendar time (certificates,
// timestamps in signed results).
class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
  using WallTime = std::chrono::time_point<std::chrono::system_clock, Duration>;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  virtual WallTime WallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
};

// A clock that tests move by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime wall_start = WallTime(std::chrono::seconds(1'767'225'600)))
      : wall_start_(wall_start) {}
  TimePoint Now() const override { return TimePoint(Duration(offset_ns_.load())); }
  WallTime WallNow() const override { return wall_start_ + Duration(offset_ns_.load()); }
  void Advance(Duration d) { offset_ns_ += d.count(); }

 private:
  WallTime wall_start_;
  std::atomic<std::int64_t> offset_ns_{0};
};

// A time in seconds (a configured timeout) as a Clock::Duration, truncated to whole nanoseconds.
inline Clock::Duration DurationFromSeconds(double s) {
  return std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(s));
}

// Milliseconds since the Unix epoch, for signed results and logs.
inline std::int64_t UnixMillis(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace cairn
