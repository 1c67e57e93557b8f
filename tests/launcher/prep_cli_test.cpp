// `scouter prep` for the image datasets as users run it: one process and 2 MPI ranks give the
// same shards, a re-run says it is up to date, and layout mistakes, bad options and too many
// unreadable images end with exit status 2 and a line naming the file or option.
#include <gtest/gtest.h>

#include "datasets/layout_fixture.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::CommandResult;

bool same(const std::vector<testing::StoredSample>& a,
          const std::vector<testing::StoredSample>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].source != b[i].source || a[i].label != b[i].label || a[i].pixels != b[i].pixels)
      return false;
  return true;
}

class PrepCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* fixtures[] = {"rgb.jpg", "gray.jpg", "cmyk.jpg",
                              "rgb.png", "rgba.png", "small.png"};
    for (const char* cat : {"Bar", "Cafe", "Motel"})
      for (int i = 0; i < 6; ++i)
        testing::place_image(
            fixtures[i], src_ + "/" + cat + "_" + std::to_string(i) + (i < 3 ? ".jpg" : ".png"));
  }
  std::string prep(const std::string& out, const std::string& extra = "") const {
    return " prep ConText --src " + src_ + " --out " + out + " --img_size " +
           std::to_string(testing::fixture_img_size()) + " --shard_size 4 " + extra;
  }

  testing::TempDir dir_;
  std::string src_ = dir_.file("src");
};

TEST_F(PrepCli, ConvertsThenSaysUpToDate) {
  CommandResult r = testing::run_scouter(prep(dir_.file("out"), "--threads 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("img/s (1 rank(s) x 2 thread(s))"), std::string::npos) << r.output;
  r = testing::run_scouter(prep(dir_.file("out")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("already up to date"), std::string::npos) << r.output;
}

TEST_F(PrepCli, TwoRanksWriteTheSameShardsAsOneProcess) {
  ASSERT_EQ(testing::run_scouter(prep(dir_.file("one"), "--threads 1")).exit_code, 0);
  CommandResult r = testing::run_command(testing::mpirun() + " -np 2 " + testing::scouter_bin() +
                                         prep(dir_.file("two"), "--threads 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 node x 2 ranks"), std::string::npos) << r.output;
  for (const char* split : {"train", "val"})
    EXPECT_TRUE(same(testing::read_stored(dir_.file("one"), split),
                     testing::read_stored(dir_.file("two"), split)))
        << split;
  // The ranks' digests are the ones a single process computes: nothing to redo.
  r = testing::run_scouter(prep(dir_.file("two")));
  EXPECT_NE(r.output.find("already up to date"), std::string::npos) << r.output;
}

TEST_F(PrepCli, MistakesEndWithStatus2AndSayWhat) {
  testing::TempDir empty;
  EXPECT_USAGE_ERROR(testing::run_scouter("prep CUB200 --src " + empty.path()), "images.txt");
  EXPECT_USAGE_ERROR(testing::run_scouter("prep ImageNet --out x"), "needs --src");
  EXPECT_USAGE_ERROR(testing::run_scouter(prep(dir_.file("out"), "--max_bad_fraction 2")), "--max_bad_fraction");
  EXPECT_USAGE_ERROR(testing::run_scouter(prep(dir_.file("out"), "--img_size 4")), "--img_size");
  EXPECT_USAGE_ERROR(testing::run_scouter(prep(dir_.file("out"), "--steps 4")), "does not take --steps");
  EXPECT_USAGE_ERROR(testing::run_scouter("prep Imagenet --src x"), "unknown dataset 'Imagenet'");
  testing::place_image("truncated.jpg", src_ + "/Cafe_9.jpg");
  EXPECT_USAGE_ERROR(testing::run_scouter(prep(dir_.file("bad"))), "bad_images.txt");
  EXPECT_EQ(testing::run_scouter(prep(dir_.file("bad"), "--max_bad_fraction 0.1")).exit_code, 0);
}

}  // namespace
}  // namespace scouter
