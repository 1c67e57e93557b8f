#include "common/progress.h"

#include <gtest/gtest.h>

namespace scouter {
namespace {

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "00:00");
  EXPECT_EQ(format_duration(65), "01:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
}

TEST(Progress, CountsWhatIsDone) {
  Progress p("test", 10, "img", false);
  p.advance(3);
  p.advance(4, "loss 1");
  EXPECT_EQ(p.done(), 7);
  EXPECT_GE(p.elapsed_s(), 0.0);
  p.finish();
}

}  // namespace
}  // namespace scouter
