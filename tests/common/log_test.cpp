#include "common/log.h"

#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace scouter {
namespace {

using testing::stderr_of;  // everything one call writes to stderr (the logger's sink)

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { init_logging(0, "info"); }
  void TearDown() override { init_logging(0, "info"); }
};

TEST_F(LogTest, LinesCarryRankLevelAndFormattedText) {
  std::string out = stderr_of([] { log::info("epoch {} loss {:.4f} {}", 3, 0.123456, std::string("ok")); });
  EXPECT_NE(out.find("] [rank 0] [info] epoch 3 loss 0.1235 ok\n"), std::string::npos) << out;
  EXPECT_EQ(out[0], '[');
  out = stderr_of([] { log::warn("{:>8}|", "w"); });
  EXPECT_NE(out.find("[rank 0] [warning]        w|\n"), std::string::npos) << out;
  out = stderr_of([] { log::error("e{}", 1); });
  EXPECT_NE(out.find("[rank 0] [error] e1\n"), std::string::npos) << out;
  out = stderr_of([] { log::at(log::Level::info, "at {}", 2); });
  EXPECT_NE(out.find("[info] at 2\n"), std::string::npos) << out;
}

TEST_F(LogTest, TextWithoutArgumentsIsWrittenAsIs) {
  std::string out = stderr_of([] { log::info("100% {done}"); });
  EXPECT_NE(out.find("[info] 100% {done}\n"), std::string::npos) << out;
  out = stderr_of([] { log::info(std::string("a {} b")); });
  EXPECT_NE(out.find("[info] a {} b\n"), std::string::npos) << out;
}

TEST_F(LogTest, LevelsFilterBeforeFormatting) {
  EXPECT_TRUE(log::enabled(log::Level::info));
  EXPECT_FALSE(log::enabled(log::Level::debug));
  EXPECT_EQ(stderr_of([] { log::debug("hidden {}", 1); }), "");
  init_logging(0, "debug");
  EXPECT_NE(stderr_of([] { log::debug("shown {}", 1); }).find("[debug] shown 1"), std::string::npos);
  // Other ranks log warnings and errors only.
  init_logging(1, "debug");
  EXPECT_EQ(log_rank(), 1);
  EXPECT_FALSE(log::enabled(log::Level::info));
  EXPECT_EQ(stderr_of([] { log::info("rank 1 info"); }), "");
  EXPECT_NE(stderr_of([] { log::warn("rank 1 {}", "warns"); }).find("[rank 1] [warning] rank 1 warns"),
            std::string::npos);
}

TEST_F(LogTest, ABadFormatStringLogsAnErrorInsteadOfThrowing) {
  std::string out;
  EXPECT_NO_THROW(out = stderr_of([] { log::info("{} {}", 1); }));
  EXPECT_NE(out.find("[error] [log format error] bad format string \"{} {}\""), std::string::npos)
      << out;
}

}  // namespace
}  // namespace scouter
