// `scouter explain` as a library call on runs trained here: the files it promises
// (worker/explain/explain.h), and on a generated localisation task (tests/worker/toy_data.h) that
// SCOUTER+ attention lands inside the objects' boxes and shrinks as lambda_value grows.
#include "worker/explain/explain.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "test_util.h"
#include "worker/toy_data.h"
#include "worker/train/trainer.h"

namespace scouter {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_text_file(path));
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

class ExplainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir;
    testing::write_localisation_shards(data_->path(), 2048, 256);
    runs_ = new TempDir;
    Config fc = base("fc");
    fc.use_slot = false;
    fc.epochs = 3;
    fc.lr = 1e-3;
    train_run(fc);
  }
  static void TearDownTestSuite() {
    delete data_;
    delete runs_;
  }
  static Config base(const std::string& name) {
    Config c = testing::toy_config(data_->path(), runs_->file(name));
    c.threads = 1;  // CTest runs two test processes at once on the 2-core CI machine
    return c;
  }
  // SCOUTER+ from the FC baseline, every layer trainable (freeze_layers 0: the smallcnn stem
  // trained on 2048 images does not yet separate glyphs from clutter well enough to freeze).
  static Config scouter_pos(const std::string& name, double lambda, int64_t seed = 7) {
    Config c = base(name);
    c.use_pre = true;
    c.pre_checkpoint = runs_->file("fc");
    c.loss_status = 1;
    c.lambda_value = lambda;
    c.epochs = 6;
    c.lr = 3e-4;
    c.freeze_layers = 0;
    c.seed = seed;
    return c;
  }
  static TempDir* data_;
  static TempDir* runs_;
};
TempDir* ExplainTest::data_ = nullptr;
TempDir* ExplainTest::runs_ = nullptr;

TEST_F(ExplainTest, FcRunWritesEveryFileForTheThreeCamMethods) {
  ExplainOptions opt;
  opt.images = 12;
  opt.pictures = 2;
  run_explain(runs_->file("fc"), opt, Config{}, {});
  std::string dir = runs_->file("fc") + "/explain";
  auto m = read_json(dir + "/metrics.json");
  EXPECT_EQ(m["kind"], "fc");
  EXPECT_EQ(m["images"], 12);
  for (const char* method : {"cam", "gradcam", "gradcampp"}) {
    SCOPED_TRACE(method);
    const auto& one = m["methods"][method];
    for (const char* k :
         {"area", "precision", "insertion_auc", "deletion_auc", "infidelity", "sensitivity"})
      EXPECT_TRUE(one[k].is_number()) << k;
    EXPECT_EQ(one["precision_images"], 12);
    double area = one["area"];
    EXPECT_GT(area, 0.0);
    EXPECT_LE(area, 1.0);
    for (int64_t idx : {0, 1}) {
      std::string stem = str_format("{}/grids/{:05d}_{}", dir, idx, method);
      EXPECT_TRUE(file_exists(stem + ".png")) << stem;
      EXPECT_NE(read_text_file(stem + ".svg").find("data:image/png;base64,"), std::string::npos);
      EXPECT_TRUE(file_exists(str_format("{}/pictures/{:05d}/{}_class3.png", dir, idx, method)));
    }
    EXPECT_FALSE(file_exists(str_format("{}/grids/{:05d}_{}.png", dir, 2, method)));
  }
  auto lines = read_jsonl(dir + "/images.jsonl");
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_EQ(lines[3]["index"], 3);
  EXPECT_EQ(lines[3]["label"], 3);  // the generator deals labels i % 4
  EXPECT_EQ(lines[3]["box"].size(), 4u);
  h5::Handle f = h5::open_file(dir + "/maps.h5");
  auto info = h5::dataset_info(f.get(), "gradcampp");
  EXPECT_EQ(info.dims, (std::vector<hsize_t>{12, 4, 7, 7}));
  EXPECT_EQ(h5::dataset_info(f.get(), "cam_upsampled").dims, (std::vector<hsize_t>{2, 4, 28, 28}));
  EXPECT_FALSE(fs::exists(runs_->file("fc") + "/explain.old"));
}

// Measured (1 thread, 256 validation images; uniform precision 81/784 = 0.103) on two CPUs:
//   seed   lambda 0.1: area  precision   lambda 1: area  precision
//   first machine (2026-11-26)
//   7                  0.746 0.125                 0.091 0.690
//   1                  0.357 0.321                 0.336 0.315
//   3                  0.739 0.113                 0.150 0.520
//   Xeon with AVX-512 (2026-11-27)
//   7                  0.811 0.114                 0.092 0.686
//   1                  0.708 0.138                 0.148 0.481
//   3                  0.781 0.117                 0.594 0.148
//   the same Xeon with no vector ISA (ATEN_CPU_CAPABILITY=default, 2026-11-27)
//   7                  0.708 0.139                 0.097 0.652
//   1                  0.590 0.174                 0.151 0.473
//   3                  0.403 0.212                 0.609 0.139  (lambda 1: a dead slot, val acc 0.31)
// Which seed keeps a wide map at lambda 1, or loses a class's slot altogether (SCOUTER's known
// instability, trainer_test.cpp), depends on the CPU (its float rounding steers the training,
// see README), so no single run is held to a threshold: at each lambda at least 2 of the 3
// seeds must train (val acc > 0.9; 3, 3 and 2 of 3 measured at lambda 1); at least 2 of the 3
// must reach 2x uniform precision at lambda 1 (3, 3, 2) and shrink their area at lambda 1 below
// 0.75x the one at lambda 0.1 (3, 2, 2); the mean precision at lambda 1 must exceed 2.5x uniform
// (4.9x, 4.2x, 4.1x); and every run that trained must have insertion beat deletion by 0.2 (min
// 0.51). A model whose attention ignores the object fails all of these.
TEST_F(ExplainTest, ScouterPlusAttentionLandsInTheBoxesAndShrinksWithLambda) {
  const double uniform = 81.0 / 784.0;
  std::map<int64_t, std::map<double, double>> area, precision;  // by seed, then lambda
  Origins origins = {{"infidelity_samples", "test"}, {"sensitivity_samples", "test"}};
  Config request;
  request.infidelity_samples = request.sensitivity_samples = 4;
  const std::vector<int64_t> seeds = {7, 1, 3};
  std::map<double, int> trained;  // by lambda: runs that reached val acc 0.9
  for (int64_t seed : seeds) {
    for (double lambda : {0.1, 1.0}) {
      std::string name = str_format("pos_{}_seed{}", lambda, seed);
      TrainResult r = train_run(scouter_pos(name, lambda, seed));
      const bool learned = r.final_val_acc > 0.9;
      trained[lambda] += learned;
      ExplainOptions opt;
      opt.images = 256;
      opt.pictures = 0;
      run_explain(runs_->file(name), opt, request, origins);
      auto m = read_json(runs_->file(name) + "/explain/metrics.json")["methods"]["slot"];
      std::printf("%s: %s\n", name.c_str(), m.dump().c_str());
      if (learned) {
        EXPECT_GT(m["insertion_auc"].get<double>(), m["deletion_auc"].get<double>() + 0.2) << name;
      }
      area[seed][lambda] = m["area"].get<double>();
      precision[seed][lambda] = m["precision"].get<double>();
    }
  }
  int precise = 0, shrunk = 0;
  double mean_precision = 0;
  for (int64_t seed : seeds) {
    precise += precision[seed][1.0] > 2.0 * uniform;
    shrunk += area[seed][1.0] < 0.75 * area[seed][0.1];
    mean_precision += precision[seed][1.0] / static_cast<double>(seeds.size());
  }
  EXPECT_GE(trained[0.1], 2) << "seeds that trained at lambda 0.1";
  EXPECT_GE(trained[1.0], 2) << "seeds that trained at lambda 1";
  EXPECT_GE(precise, 2) << "seeds with lambda-1 precision above 2x uniform";
  EXPECT_GE(shrunk, 2) << "seeds whose area shrinks from lambda 0.1 to 1";
  EXPECT_GT(mean_precision, 2.5 * uniform);
}

// Boxes are stored in stored-image pixels; a run explained at another input size measures
// precision in that size's pixels.
TEST_F(ExplainTest, BoxesFollowTheInputSize) {
  ExplainOptions opt;
  opt.images = 4;
  opt.pictures = 1;
  opt.metrics = false;
  std::string run = runs_->file("fc");
  run_explain(run, opt, Config{}, {});
  auto stored = read_jsonl(run + "/explain/images.jsonl");
  Config request;
  request.img_size = 56;
  run_explain(run, opt, request, {{"img_size", "test"}});
  auto doubled = read_jsonl(run + "/explain/images.jsonl");
  ASSERT_EQ(stored.size(), 4u);
  ASSERT_EQ(doubled.size(), 4u);
  for (size_t i = 0; i < 4; ++i)
    for (size_t k = 0; k < 4; ++k)
      EXPECT_DOUBLE_EQ(doubled[i]["box"][k].get<double>(), 2 * stored[i]["box"][k].get<double>());
  h5::Handle f = h5::open_file(run + "/explain/maps.h5");
  EXPECT_EQ(h5::dataset_info(f.get(), "cam_upsampled").dims, (std::vector<hsize_t>{1, 4, 56, 56}));
  EXPECT_EQ(h5::dataset_info(f.get(), "cam").dims, (std::vector<hsize_t>{4, 4, 14, 14}));
}

TEST_F(ExplainTest, ScouterMinusGridsSayWhyNot) {
  Config c = scouter_pos("neg", 1.0);
  c.loss_status = -1;
  c.epochs = 1;
  train_run(c);
  ExplainOptions opt;
  opt.images = 4;
  opt.pictures = 1;
  opt.classes = {"plus", "0"};
  opt.metrics = false;
  run_explain(runs_->file("neg"), opt, Config{}, {});
  std::string dir = runs_->file("neg") + "/explain";
  auto m = read_json(dir + "/metrics.json");
  EXPECT_EQ(m["kind"], "scouter-");
  EXPECT_EQ(m["classes_shown"], nlohmann::json::array({2, 0}));
  EXPECT_TRUE(m["methods"]["slot"]["insertion_auc"].is_null());
  std::string svg = read_text_file(dir + "/grids/00000_slot.svg");
  EXPECT_NE(svg.find("NOT"), std::string::npos);
  EXPECT_NE(svg.find("not 2 plus"), std::string::npos);
  EXPECT_TRUE(file_exists(dir + "/pictures/00000/slot_class2.png"));
  EXPECT_FALSE(file_exists(dir + "/pictures/00000/slot_class1.png"));
}

}  // namespace
}  // namespace scouter
