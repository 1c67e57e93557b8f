#include "common/progress.h"

#include <gtest/gtest.h>

#include <string>

#include "common/log.h"
#include "test_util.h"

namespace scouter {
namespace {

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "00:00");
  EXPECT_EQ(format_duration(65), "01:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
}

// Progress on a clock the test moves (seconds), with what it writes to stderr (the bar, or the
// logger's plain lines) collected per call.
class ProgressTest : public ::testing::Test {
 protected:
  void SetUp() override { init_logging(0, "info"); }
  void TearDown() override { init_logging(0, "info"); }

  Progress::Clock clock() {
    return [this] { return now_; };
  }
  double now_ = 1000.0;  // any origin: Progress counts from its construction
};

TEST_F(ProgressTest, PlainLinesComeEveryIntervalWithCountsRateAndEta) {
  Progress p("epoch 1/2", 40, "img", true, 30.0, false, clock());
  now_ += 10;
  EXPECT_FALSE(p.due());
  EXPECT_EQ(testing::stderr_of([&] { p.advance(4); }), "");  // 10 s < 30 s: no line yet
  now_ += 20;
  EXPECT_TRUE(p.due());
  // 10 of 40 in 30 s: 25%, 0.3 img/s, the other 30 at that rate take 90 s.
  std::string out = testing::stderr_of([&] { p.advance(6, "loss 0.312"); });
  EXPECT_NE(out.find("[rank 0] [info] epoch 1/2 25% 10/40 0.3 img/s 00:30 ETA 01:30 loss 0.312\n"),
            std::string::npos)
      << out;
  now_ += 29;  // the next line 30 s after the last one, not after the start
  EXPECT_EQ(testing::stderr_of([&] { p.advance(10); }), "");
  now_ += 1;
  out = testing::stderr_of([&] { p.advance(10); });  // 30 of 40 in 60 s; the status stays until replaced
  EXPECT_NE(out.find("epoch 1/2 75% 30/40 0.5 img/s 01:00 ETA 00:20 loss 0.312\n"),
            std::string::npos)
      << out;
  now_ += 20;
  p.advance(10);
  out = testing::stderr_of([&] { p.finish("acc 0.91"); });  // a last line, whatever the interval
  EXPECT_NE(out.find("epoch 1/2 100% 40/40 0.5 img/s 01:20 ETA 00:00 acc 0.91\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(testing::stderr_of([&] { p.finish(); }), "");  // once
}

TEST_F(ProgressTest, TheBarRedrawsOneLineAndEndsItOnFinish) {
  Progress p("eval", 40, "img", true, 30.0, true, clock());
  now_ += 0.05;
  EXPECT_EQ(testing::stderr_of([&] { p.advance(1); }), "");  // the bar redraws at most every 0.1 s
  now_ += 4.95;
  // 10 of 40 in 5 s: 7 of 28 marks, 2.0 img/s, 15 s left.
  EXPECT_EQ(testing::stderr_of([&] { p.advance(9); }), "\r\033[2Keval [" + std::string(7, '#') +
                                                std::string(21, '.') +
                                                "]  25% 10/40 2.0 img/s 00:05 ETA 00:15");
  now_ += 15;
  testing::stderr_of([&] { p.advance(30); });
  EXPECT_EQ(testing::stderr_of([&] { p.finish("acc 0.5"); }),
            "\r\033[2Keval [" + std::string(28, '#') +
                "] 100% 40/40 2.0 img/s 00:20 ETA 00:00 acc 0.5\n");
}

TEST_F(ProgressTest, LongEtaShowsHoursAndUnknownTotalsShowNone) {
  Progress hours("prep", 10000, "file", true, 30.0, false, clock());
  now_ += 30;
  // 3 files in 30 s: 9997 more at 0.1 file/s take 99970 s = 27:46:10.
  std::string out = testing::stderr_of([&] { hours.advance(3); });
  EXPECT_NE(out.find("prep 0% 3/10000 0.1 file/s 00:30 ETA 27:46:10\n"), std::string::npos) << out;
  testing::stderr_of([&] { hours.finish(); });
  Progress unknown("scan", 0, "file", true, 30.0, false, clock());
  now_ += 30;
  out = testing::stderr_of([&] { unknown.advance(6); });
  EXPECT_NE(out.find("scan 0% 6/0 0.2 file/s 00:30 ETA --:--\n"), std::string::npos) << out;
  testing::stderr_of([&] { unknown.finish(); });
}

// Ranks other than 0 construct Progress disabled: they count, and write nothing in either form.
TEST_F(ProgressTest, ADisabledInstanceCountsAndWritesNothing) {
  for (bool terminal : {false, true}) {
    std::string out = testing::stderr_of([&] {
      Progress p("epoch 1/1", 10, "img", false, 30.0, terminal, clock());
      now_ += 60;
      EXPECT_FALSE(p.due());
      p.advance(3);
      now_ += 60;
      p.advance(4, "loss 1");
      EXPECT_EQ(p.done(), 7);
      EXPECT_DOUBLE_EQ(p.elapsed_s(), 120.0);
      p.finish("acc 1");
    });
    EXPECT_EQ(out, "") << "terminal " << terminal;
  }
}

// A bar left unfinished (an exception unwinding the loop) still ends its line.
TEST_F(ProgressTest, AnUnfinishedBarEndsItsLine) {
  std::string out = testing::stderr_of([&] {
    Progress p("epoch 1/1", 10, "img", true, 30.0, true, clock());
    now_ += 1;
    p.advance(5);
  });
  // 5 of 10 in 1 s: half the bar, 5.0 img/s, 1 s left; then the destructor's newline.
  EXPECT_EQ(out, "\r\033[2Kepoch 1/1 [" + std::string(14, '#') + std::string(14, '.') +
                     "]  50% 5/10 5.0 img/s 00:01 ETA 00:01\n");
}

}  // namespace
}  // namespace scouter
