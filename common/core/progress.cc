#include "common/core/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace cairn {
namespace {

// Erase from the cursor to the end of the line (ANSI/ECMA-48 EL 0).
constexpr std::string_view kEraseToEnd = "\x1b[K";

// Cuts `text` to at most `max_columns` code points (UTF-8; each code point counted as one
// column, true of the characters this line uses: ASCII and "·").
std::string_view CutToColumns(std::string_view text, std::size_t max_columns) {
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: same code point
    if (columns == max_columns) return text.substr(0, i);
    ++columns;
  }
  return text;
}

}  // namespace

ProgressLine::ProgressLine(std::ostream& out, bool is_terminal, const Clock& clock, ProgressOptions options)
    : out_(&out), enabled_(is_terminal), clock_(&clock), options_(options) {
  if (options_.columns < 2) options_.columns = 2;
}

ProgressLine ProgressLine::ForStderr(const Clock& clock, ProgressOptions options) {
  bool tty = ::isatty(STDERR_FILENO) == 1;
  if (tty) {
    winsize ws{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) options.columns = ws.ws_col;
  }
  return ProgressLine(std::cerr, tty, clock, options);
}

ProgressLine::ProgressLine(ProgressLine&& other) noexcept
    : out_(other.out_),
      enabled_(other.enabled_),
      clock_(other.clock_),
      options_(other.options_),
      drawn_(other.drawn_),
      shown_(std::move(other.shown_)),
      last_draw_(other.last_draw_) {
  other.enabled_ = false;
  other.drawn_ = false;
}

ProgressLine::~ProgressLine() { Finish(); }

void ProgressLine::Update(std::string_view text, bool force) {
  if (!enabled_) return;
  std::string_view cut = CutToColumns(text, options_.columns - 1);
  if (!force && drawn_ && cut == shown_) return;
  auto now = clock_->Now();
  if (!force && last_draw_ && now - *last_draw_ < options_.min_interval) return;
  last_draw_ = now;
  *out_ << '\r' << cut << kEraseToEnd << '\r' << std::flush;
  shown_.assign(cut);
  drawn_ = true;
}

void ProgressLine::Clear() {
  if (!enabled_) return;
  if (drawn_) *out_ << '\r' << kEraseToEnd << std::flush;
  drawn_ = false;
  last_draw_.reset();
}

void ProgressLine::Finish() {
  Clear();
  enabled_ = false;
}

std::string FormatBytes(std::uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 999.95 && unit < 5) {
    v /= 1000;
    ++unit;
  }
  char buf[32];
  // Three significant digits: 1.23, 12.3, 123.
  const char* fmt = v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s";
  std::snprintf(buf, sizeof buf, fmt, v, kUnits[unit]);
  return buf;
}

std::string FormatRoundProgress(const RoundProgress& p) {
  constexpr std::string_view kSep = " \u00b7 ";  // " · "
  std::string s = "round " + std::to_string(p.round);
  if (p.total_rounds > 0) s += "/" + std::to_string(p.total_rounds);
  if (p.committed) {
    s += kSep;
    s += std::to_string(*p.committed);
    if (p.cohort > 0) s += "/" + std::to_string(p.cohort);
    s += " committed";
  }
  if (p.bytes_in) {
    s += kSep;
    s += FormatBytes(*p.bytes_in) + " in";
  }
  if (p.bytes_out) {
    s += kSep;
    s += FormatBytes(*p.bytes_out) + " out";
  }
  if (!p.stage.empty()) {
    s += kSep;
    s += p.stage;
  }
  return s;
}

}  // namespace cairn
