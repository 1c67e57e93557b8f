// `scouter explain` from the command line: bad input gets one clear line and exit 2, and under
// mpirun the images are split over the ranks and gathered exactly (2 ranks write what 1 does).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "test_util.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

using testing::TempDir;

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

class ExplainCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    testing::write_localisation_shards(dir_->file("data"), 512, 64, 3, 32);
    for (const char* kind : {"fc", "pos"}) {
      std::string cmd = testing::scouter_bin() +
                        " train --model smallcnn --num_classes 4 --img_size 0 --batch_size 32"
                        " --threads 1 --epochs 1 --dataset_dir " +
                        dir_->file("data") + " --output_dir " + dir_->file(kind) +
                        (std::string(kind) == "fc" ? " --use_slot false" : " --lr 3e-4");
      auto r = testing::run_command(cmd);
      ASSERT_EQ(r.exit_code, 0) << r.output;
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  static testing::CommandResult explain(const std::string& args, int ranks = 0) {
    std::string launcher =
        ranks > 0 ? testing::mpirun() + " -np " + std::to_string(ranks) + " " : "";
    return testing::run_command(launcher + testing::scouter_bin() + " explain " + args);
  }
  static TempDir* dir_;
};
TempDir* ExplainCliTest::dir_ = nullptr;

TEST_F(ExplainCliTest, BadInputIsOneClearLineAndExitTwo) {
  struct Case {
    std::string args, expect;
  };
  std::vector<Case> cases = {
      {dir_->file("data"), "no checkpoint"},
      {dir_->file("pos") + " --images 4 --all", "not both"},
      {dir_->file("pos") + " --classes giraffe", "--classes: 'giraffe'"},
      {dir_->file("pos") + " --hidden_dim 32", "'hidden_dim' is fixed by the trained run"},
      {dir_->file("pos") + " --grad_min_level 1.5", "grad_min_level"},
      {dir_->file("pos") + " --imgaes 4", "imgaes"},
      {"", "needs one or more run folders"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    EXPECT_USAGE_ERROR(explain(c.args), c.expect);
  }
  EXPECT_FALSE(file_exists(dir_->file("pos") + "/explain/metrics.json"));
}

TEST_F(ExplainCliTest, TwoRanksGatherWhatOneRankComputes) {
  for (const char* run : {"fc", "pos"}) {
    SCOPED_TRACE(run);
    std::string common = std::string(
        " --images 21 --pictures 3 --threads 1 --infidelity_samples 8"
        " --sensitivity_samples 4 --eval_batch_size 8");
    auto one = explain(dir_->file(run) + common, 1);
    ASSERT_EQ(one.exit_code, 0) << one.output;
    auto a = read_jsonl(dir_->file(run) + "/explain/images.jsonl");
    h5::Handle fa = h5::open_file(dir_->file(run) + "/explain/maps.h5");
    std::string method = std::string(run) == "fc" ? "gradcampp" : "slot";
    auto maps_a = h5::read<float>(fa.get(), method);
    auto pics_a = h5::read<uint8_t>(fa.get(), method + "_upsampled");
    fa.reset();
    auto two = explain(dir_->file(run) + common, 2);
    ASSERT_EQ(two.exit_code, 0) << two.output;
    auto b = read_jsonl(dir_->file(run) + "/explain/images.jsonl");
    ASSERT_EQ(a.size(), 21u);
    ASSERT_EQ(b.size(), 21u);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i]["index"], b[i]["index"]);
      EXPECT_EQ(a[i]["pred"], b[i]["pred"]);
      for (const auto& [k, v] : a[i][method].items()) {
        if (v.is_null()) {
          EXPECT_TRUE(b[i][method][k].is_null()) << k;
          continue;
        }
        double x = v, y = b[i][method][k];
        EXPECT_NEAR(x, y, 1e-5 + 1e-4 * std::abs(x)) << "image " << i << " " << k;
      }
    }
    h5::Handle fb = h5::open_file(dir_->file(run) + "/explain/maps.h5");
    auto maps_b = h5::read<float>(fb.get(), method);
    ASSERT_EQ(maps_a.size(), maps_b.size());
    for (size_t k = 0; k < maps_a.size(); ++k)
      ASSERT_NEAR(maps_a[k], maps_b[k], 1e-5 + 1e-4 * std::abs(maps_a[k]));
    EXPECT_EQ(h5::read<uint8_t>(fb.get(), method + "_upsampled").size(), pics_a.size());
    EXPECT_TRUE(file_exists(str_format("{}/explain/grids/00002_{}.png", dir_->file(run), method)));
  }
}

}  // namespace
}  // namespace scouter
