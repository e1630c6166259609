// A single updating progress line on a terminal ("round 3/20 · 2/3 committed · 12.4 MB in").
//
// On a terminal the line is redrawn in place (carriage return, erase to end of line), at most
// once per `min_interval`, truncated to the terminal width so it never wraps; Finish() erases it.
// When the stream is not a terminal (a file, a pipe, journald) nothing at all is written: logs
// stay clean and machine-readable.
//
// Interleaving with log lines on the same stream: the line is drawn with the cursor left at
// column 0, so a log line written meanwhile overwrites it from the start (the timestamp, level
// and component of a text log line are already wider than a progress line, and JSON lines more
// so); the next update draws the line again. Callers that log often may call Clear() first.
//
// What it shows is metadata only (round numbers, counts, byte totals): never model or data values.
// Thread safety: none; one thread owns a ProgressLine.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "common/core/clock.h"

namespace cairn {

struct ProgressOptions {
  // Minimum time between two redraws (a busy loop may call Update thousands of times a second).
  std::chrono::milliseconds min_interval{200};
  // Terminal width in columns; the text is cut to columns - 1 so the line never wraps.
  std::size_t columns = 80;
};

class ProgressLine {
 public:
  // `out` is borrowed and must outlive the line; `is_terminal` false makes every call a no-op.
  // `clock` (borrowed) paces the redraws.
  ProgressLine(std::ostream& out, bool is_terminal, const Clock& clock, ProgressOptions options = {});
  // A line on stderr, enabled when stderr is a terminal (isatty), with the terminal's width.
  static ProgressLine ForStderr(const Clock& clock, ProgressOptions options = {});
  ~ProgressLine();  // Finish()

  // The moved-from line is disabled (it will not erase what the new owner draws).
  ProgressLine(ProgressLine&& other) noexcept;
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }

  // Shows `text` when it differs from what is shown and min_interval has passed since the last
  // redraw (or nothing was drawn yet), or when `force` is set (use it for state changes worth
  // seeing: a round finished). Calling it on every loop iteration is cheap: an unchanged line is
  // not rewritten.
  void Update(std::string_view text, bool force = false);
  // Erases the line now (before printing something else to the same stream); the next Update
  // draws again regardless of the interval.
  void Clear();
  // Erases the line for good; later calls do nothing.
  void Finish();

 private:
  std::ostream* out_;
  bool enabled_;
  const Clock* clock_;
  ProgressOptions options_;
  bool drawn_ = false;
  std::string shown_;  // the text on screen, as cut
  std::optional<Clock::TimePoint> last_draw_;
};

// "0 B", "512 B", "12.4 kB", "12.4 MB", "3.10 GB" (SI units, three significant digits).
std::string FormatBytes(std::uint64_t bytes);

// The standard round line. Fields left at their defaults are omitted:
//   "round 3/20 · 2/3 committed · 12.4 MB in · 1.2 MB out · training"
struct RoundProgress {
  std::uint64_t round = 0;
  std::uint64_t total_rounds = 0;           // 0 = unknown: "round 3"
  std::optional<std::uint64_t> committed;   // with cohort: "2/3 committed"
  std::uint64_t cohort = 0;
  std::optional<std::uint64_t> bytes_in;
  std::optional<std::uint64_t> bytes_out;
  std::string stage;                         // e.g. "waiting for cohort", "training", "uploading"
};
std::string FormatRoundProgress(const RoundProgress& p);

}  // namespace cairn
