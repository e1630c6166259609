#include "common/core/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cairn {
namespace {

using std::chrono::milliseconds;

TEST(ProgressLine, SilentWhenNotATerminal) {
  std::ostringstream out;
  FakeClock clock;
  {
    ProgressLine line(out, /*is_terminal=*/false, clock);
    EXPECT_FALSE(line.enabled());
    line.Update("round 1/3", true);
    line.Update("round 2/3", true);
    line.Clear();
    line.Finish();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressLine, RedrawsInPlaceAndIsRateLimited) {
  std::ostringstream out;
  FakeClock clock;
  ProgressLine line(out, true, clock, {.min_interval = milliseconds(200), .columns = 80});
  line.Update("round 1/3");
  EXPECT_EQ(out.str(), "\rround 1/3\x1b[K\r");
  out.str("");
  clock.Advance(milliseconds(100));
  line.Update("round 1/3 · 1/3 committed");  // too soon: dropped
  EXPECT_EQ(out.str(), "");
  line.Update("round 2/3", /*force=*/true);   // forced: drawn
  EXPECT_EQ(out.str(), "\rround 2/3\x1b[K\r");
  out.str("");
  clock.Advance(milliseconds(199));
  line.Update("round 2/3 · 1/3 committed");
  EXPECT_EQ(out.str(), "");
  clock.Advance(milliseconds(1));
  line.Update("round 2/3 · 2/3 committed");
  EXPECT_EQ(out.str(), "\rround 2/3 · 2/3 committed\x1b[K\r");
  // The same text again is not rewritten, however late; forced, it is.
  out.str("");
  clock.Advance(milliseconds(5000));
  line.Update("round 2/3 · 2/3 committed");
  EXPECT_EQ(out.str(), "");
  line.Update("round 2/3 · 2/3 committed", /*force=*/true);
  EXPECT_EQ(out.str(), "\rround 2/3 · 2/3 committed\x1b[K\r");
}

TEST(ProgressLine, ClearAndFinishEraseTheLine) {
  std::ostringstream out;
  FakeClock clock;
  ProgressLine line(out, true, clock);
  line.Clear();  // nothing drawn yet: nothing to erase
  EXPECT_EQ(out.str(), "");
  line.Update("round 1/3");
  out.str("");
  line.Clear();
  EXPECT_EQ(out.str(), "\r\x1b[K");
  out.str("");
  line.Update("round 1/3");  // right after Clear: drawn regardless of the interval
  EXPECT_EQ(out.str(), "\rround 1/3\x1b[K\r");
  out.str("");
  line.Finish();
  EXPECT_EQ(out.str(), "\r\x1b[K");
  out.str("");
  line.Update("round 2/3", true);
  line.Finish();
  EXPECT_EQ(out.str(), "") << "nothing after Finish";
}

TEST(ProgressLine, DestructorErasesAndMovedFromIsSilent) {
  std::ostringstream out;
  FakeClock clock;
  {
    ProgressLine a(out, true, clock);
    a.Update("x");
    ProgressLine b(std::move(a));
    out.str("");
  }
  EXPECT_EQ(out.str(), "\r\x1b[K") << "erased once, by the owner";
}

TEST(ProgressLine, TextIsCutToTheTerminalWidthByCodePoints) {
  std::ostringstream out;
  FakeClock clock;
  ProgressLine line(out, true, clock, {.min_interval = milliseconds(0), .columns = 10});
  line.Update("round 3 · 2/3 committed");  // "·" is two bytes, one column
  EXPECT_EQ(out.str(), "\rround 3 ·\x1b[K\r");
}

TEST(ProgressFormat, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1000), "1.00 kB");
  EXPECT_EQ(FormatBytes(12'400'000), "12.4 MB");
  EXPECT_EQ(FormatBytes(123'456'789), "123 MB");
  EXPECT_EQ(FormatBytes(999'999), "1.00 MB");
  EXPECT_EQ(FormatBytes(3'100'000'000), "3.10 GB");
}

TEST(ProgressFormat, RoundLine) {
  RoundProgress p;
  p.round = 3;
  p.total_rounds = 20;
  p.committed = 2;
  p.cohort = 3;
  p.bytes_in = 12'400'000;
  EXPECT_EQ(FormatRoundProgress(p), "round 3/20 · 2/3 committed · 12.4 MB in");
  RoundProgress q;
  q.round = 4;
  q.stage = "training";
  EXPECT_EQ(FormatRoundProgress(q), "round 4 · training");
  q.bytes_out = 2048;
  EXPECT_EQ(FormatRoundProgress(q), "round 4 · 2.05 kB out · training");
}

}  // namespace
}  // namespace cairn
