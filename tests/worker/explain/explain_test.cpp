// `scouter explain` as a library call on runs trained here: the files it promises
// (worker/explain/explain.h), the one map post-processing every metric and picture uses
// (worker/explain/explain_maps.h), the settings it refuses, and on a generated localisation task
// (tests/worker/toy_data.h) that SCOUTER+ attention lands inside the objects' boxes and shrinks
// as lambda_value grows.
#include "worker/explain/explain.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "datasets/image_ops.h"
#include "test_util.h"
#include "worker/explain/explain_image.h"
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
  // The FC run of `epochs` epochs, trained on its first use. CTest runs each test in a process of
  // its own, so each test trains only the baseline it uses: 3 epochs for the SCOUTER+ runs of the
  // lambda test to start from, 1 (val acc 1.0 already) where any trained FC run will do.
  static std::string fc_run(int64_t epochs) {
    const std::string name = "fc" + std::to_string(epochs);
    if (!file_exists(runs_->file(name) + "/summary.json")) {
      Config fc = base(name);
      fc.use_slot = false;
      fc.epochs = epochs;
      fc.lr = 1e-3;
      train_run(fc);
    }
    return runs_->file(name);
  }
  // SCOUTER+ from the FC run `baseline`, every layer trainable (freeze_layers 0: the smallcnn stem
  // trained on 2048 images does not yet separate glyphs from clutter well enough to freeze).
  static Config scouter_pos(const std::string& name, const std::string& baseline, double lambda,
                            int64_t seed = 7) {
    Config c = base(name);
    c.use_pre = true;
    c.pre_checkpoint = baseline;
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
  const std::string run = fc_run(1);
  run_explain(run, opt, Config{}, {});
  std::string dir = run + "/explain";
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
  EXPECT_FALSE(fs::exists(run + "/explain.old"));
}

// Measured (1 thread, 256 validation images unless said; uniform precision 81/784 = 0.103):
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
//   the same Xeon (AVX-512), maps of the one post-processing (explain_maps.h; 2026-11-28)
//   7                  0.520 0.171                 0.095 0.686
//   1                  0.435 0.220                 0.153 0.481
//   3                  0.448 0.181                 0.356 0.248
//   the same Xeon, one post-processing, the first 128 validation images (this test's setting;
//   within 0.006 of the 256-image means in each run here; 2026-11-28): AVX-512
//   7                  0.520 0.172                 0.096 0.681
//   1                  0.433 0.220                 0.151 0.481
//   3                  0.448 0.182                 0.357 0.248
//   the same on an AMD EPYC, AVX-512 (seed 7 and seed 1 at lambda 0.1 gave the Xeon's numbers
//   above to the digit: the kernel set decides, not the CPU model; 2026-12-07)
//   2                  0.464 0.200                 0.305 0.311
//   4                  0.564 0.151                 0.183 0.470  (lambda 1: val acc 0.77)
//   5                  0.208 0.455                 0.109 0.639
//   6                  0.453 0.210                 0.253 0.423
//   AVX2 (ATEN_CPU_CAPABILITY=avx2, as fixture_tests_isa_avx2 sets it)
//   7                  0.428 0.219                 0.098 0.662
//   1                  0.470 0.198                 0.159 0.469
//   3                  0.333 0.310                 0.303 0.332
//   the same on an AMD EPYC with AVX2 kernels (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
//   OPENBLAS_CORETYPE=Haswell; seed 7 gave the numbers above again; 2026-12-07)
//   2                  0.429 0.218                 0.228 0.432
//   4                  0.521 0.186                 0.191 0.344
//   5                  0.214 0.445                 0.116 0.585
//   no vector ISA (as fixture_tests_isa_default)
//   7                  0.506 0.195                 0.100 0.648
//   1                  0.449 0.223                 0.153 0.474
//   3                  0.295 0.288                 0.518 0.171  (lambda 1: a dead slot, val acc 0.31)
// Which seed keeps a wide map at lambda 1, or loses a class's slot altogether (SCOUTER's known
// instability, trainer_test.cpp), depends on the CPU (its float rounding steers the training,
// see README), so no single run is held to a threshold. Over the 16 (seed, kernel set) pairs at 128
// images (the new rows: the test's runs in a temporary gtest, seeds 7 1 3 2 4 5 6 / 7 2 4 5), a
// seed trains (val acc > 0.9) at lambda 0.1 in every one, at lambda 1 in 14 (not: seed 4 on
// AVX-512, seed 3 with no vector ISA); reaches 2x uniform precision at lambda 1 in 15 (not: seed
// 3 with no ISA); shrinks its area at lambda 1 below 0.75x the one at lambda 0.1 in 13 (not: seed
// 3 on every kernel set, 0.80x, 0.91x, 1.76x), so the old "2 of seeds 7, 1, 3" held with exactly 2
// on all three. Each count must now reach 2 of seeds tried in turn from 7, 1, 3, 2, 4, 5 (the
// test stops once all four have): at the worst rate of any kernel set (1 in 3 fails) fewer than 2
// of 6 succeed with probability 1.8% per count (of 3: 26%); at the pooled rates (shrink fails 3 in
// 16) 0.1%. Seeds 7 and 1 meet every bound on all three kernel sets, so there the test trains 2
// seeds, not 3. The mean precision at lambda 1 of the seeds trained must exceed 2.5x uniform
// (seeds 7 and 1: 5.6x, 5.5x, 5.4x on AVX-512, AVX2, no ISA; seeds 7, 1, 3: 4.6x, 4.7x, 4.2x);
// and every run that trained must have insertion beat deletion by 0.2 (min 0.45 in all runs
// above). A model whose attention ignores the object fails all of these.
// 4 epochs instead of 6 were tried and left fewer seeds trained (AVX2: 2 of 3 at both lambdas).
TEST_F(ExplainTest, ScouterPlusAttentionLandsInTheBoxesAndShrinksWithLambda) {
  const double uniform = 81.0 / 784.0;
  Origins origins = {{"infidelity_samples", "test"}, {"sensitivity_samples", "test"}};
  Config request;
  request.infidelity_samples = request.sensitivity_samples = 4;
  std::map<double, int> trained;  // by lambda: runs that reached val acc 0.9
  int precise = 0, shrunk = 0, seeds_run = 0;
  double precision_sum = 0;  // at lambda 1
  auto enough = [&] { return trained[0.1] >= 2 && trained[1.0] >= 2 && precise >= 2 && shrunk >= 2; };
  const std::string baseline = fc_run(3);
  for (int64_t seed : {7, 1, 3, 2, 4, 5}) {
    if (enough()) break;  // the seeds left cannot change "at least 2"
    std::map<double, double> area, precision;  // by lambda
    for (double lambda : {0.1, 1.0}) {
      std::string name = str_format("pos_{}_seed{}", lambda, seed);
      TrainResult r = train_run(scouter_pos(name, baseline, lambda, seed));
      const bool learned = r.final_val_acc > 0.9;
      trained[lambda] += learned;
      ExplainOptions opt;
      opt.images = 128;
      opt.pictures = 0;
      run_explain(runs_->file(name), opt, request, origins);
      auto m = read_json(runs_->file(name) + "/explain/metrics.json")["methods"]["slot"];
      std::printf("%s: %s\n", name.c_str(), m.dump().c_str());
      if (learned) {
        EXPECT_GT(m["insertion_auc"].get<double>(), m["deletion_auc"].get<double>() + 0.2) << name;
      }
      area[lambda] = m["area"].get<double>();
      precision[lambda] = m["precision"].get<double>();
    }
    precise += precision[1.0] > 2.0 * uniform;
    shrunk += area[1.0] < 0.75 * area[0.1];
    precision_sum += precision[1.0];
    ++seeds_run;
  }
  EXPECT_GE(trained[0.1], 2) << "seeds that trained at lambda 0.1, of " << seeds_run;
  EXPECT_GE(trained[1.0], 2) << "seeds that trained at lambda 1, of " << seeds_run;
  EXPECT_GE(precise, 2) << "seeds with lambda-1 precision above 2x uniform, of " << seeds_run;
  EXPECT_GE(shrunk, 2) << "seeds whose area shrinks from lambda 0.1 to 1, of " << seeds_run;
  EXPECT_GT(precision_sum / seeds_run, 2.5 * uniform) << "mean lambda-1 precision";
}

// A run trained at the stored size (img_size 0: 28 px) is explained at 28 px only: another size
// is refused naming the trained one, before anything is written; the same size given as a
// number is the same input and is taken. So is another loss_status, and explain --image's bad
// input.
TEST_F(ExplainTest, SettingsOtherThanTrainedAndBadImageInputAreRefused) {
  ExplainOptions opt;
  opt.images = 2;
  opt.pictures = 0;
  opt.metrics = false;
  std::string run = fc_run(1);
  remove_tree(run + "/explain");
  Config request;
  request.img_size = 56;
  std::string msg = testing::user_error_message([&] {
    run_explain(run, opt, request, {{"img_size", "--img_size"}});
  });
  EXPECT_NE(msg.find("--img_size 56: the run was trained at img_size = 0 (the stored size, 28 px)"),
            std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(run + "/explain"));
  request.img_size = 28;
  run_explain(run, opt, request, {{"img_size", "--img_size"}});
  EXPECT_EQ(read_json(run + "/explain/metrics.json")["settings"]["img_size"], 28);
  request = Config{};
  request.loss_status = -1;
  msg = testing::user_error_message([&] {
    run_explain(run, opt, request, {{"loss_status", "--loss_status"}});
  });
  EXPECT_NE(msg.find("--loss_status -1: the run was trained with loss_status = 1"),
            std::string::npos)
      << msg;

  // explain --image refuses, before writing anything, a box outside its image, a box count that
  // fits neither all images nor each, unknown classes and another input size than trained.
  std::vector<uint8_t> px(40 * 30 * 3, 128);
  write_png(runs_->file("gray.png"), px.data(), 40, 30, 3);
  remove_tree(run + "/explain");
  struct Case {
    ImageExplainOptions options;
    Config request;
    Origins origins;
    std::string expect;
  };
  ImageExplainOptions one;
  one.images = {runs_->file("gray.png")};
  Config img56;
  img56.img_size = 56;
  std::vector<Case> cases(4, Case{one, Config{}, {}, ""});
  cases[0].options.boxes = {{30, 0, 11, 5}};
  cases[0].expect = "--box 30,0,11,5 is not inside '" + runs_->file("gray.png") + "' (40x30";
  cases[1].options.boxes = {{0, 0, 5, 5}, {1, 1, 5, 5}, kNoBox};
  cases[1].expect = "--box gives 3 boxes for 1 image(s)";
  cases[2].options.classes = {"plus", "giraffe"};
  cases[2].expect = "--classes: 'giraffe' is not a class of this run";
  cases[3].request = img56;
  cases[3].origins = {{"img_size", "--img_size"}};
  cases[3].expect = "--img_size 56: the run was trained at img_size = 0 (the stored size, 28 px)";
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expect);
    std::string why = testing::user_error_message(
        [&] { run_explain_images(run, c.options, c.request, c.origins); });
    EXPECT_NE(why.find(c.expect), std::string::npos) << why;
  }
  EXPECT_FALSE(fs::exists(run + "/explain"));
}

// torch's bilinear upsampling (align_corners = false), written out: the test's own reference.
std::vector<double> upsample_reference(const float* m, int64_t h, int64_t w, int64_t H, int64_t W) {
  auto axis = [](int64_t out, int64_t in, int64_t size_out, int64_t& i0, int64_t& i1,
                 double& frac) {
    double src = std::max(0.0, (out + 0.5) * static_cast<double>(in) / size_out - 0.5);
    i0 = static_cast<int64_t>(src);
    i1 = std::min(i0 + 1, in - 1);
    frac = src - static_cast<double>(i0);
  };
  std::vector<double> up(static_cast<size_t>(H * W));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      int64_t y0, y1, x0, x1;
      double fy, fx;
      axis(y, h, H, y0, y1, fy);
      axis(x, w, W, x0, x1, fx);
      up[static_cast<size_t>(y * W + x)] =
          (1 - fy) * ((1 - fx) * m[y0 * w + x0] + fx * m[y0 * w + x1]) +
          fy * ((1 - fx) * m[y1 * w + x0] + fx * m[y1 * w + x1]);
    }
  return up;
}

// relu, min-max to 0..1, then (level > 0) max(m, level) and min-max again.
void min_max_reference(std::vector<double>& m, double level) {
  for (int pass = 0; pass < (level > 0 ? 2 : 1); ++pass) {
    for (double& v : m) v = std::max(v, pass == 0 ? 0.0 : level);
    auto [lo, hi] = std::minmax_element(m.begin(), m.end());
    const double l = *lo, range = *hi - *lo;
    for (double& v : m) v = range > 0 ? (v - l) / range : 0.0;
  }
}

// One post-processing for every method (worker/explain/explain_maps.h): the raw map of the true
// class (maps.h5, feature resolution), upsampled to the input and min-max normalised (FC: then
// grad_min_level and min-max again), is the map the metrics measure; the pictures are its
// floor(255 m). SCOUTER's map used to be measured as jointly normalised before upsampling and
// never re-normalised: its maps would not span 0..1 here.
TEST_F(ExplainTest, EveryMethodIsMeasuredOnItsUpsampledMinMaxMap) {
  // Any SCOUTER model has maps to post-process: one epoch on 256 images is enough here.
  testing::TempDir small;
  testing::write_localisation_shards(small.path(), 256, 32);
  Config pos = testing::toy_config(small.path(), runs_->file("pos_maps"));
  pos.use_slot = true;
  pos.loss_status = 1;
  pos.epochs = 1;
  train_run(pos);
  struct Case {
    std::string run;
    std::vector<std::string> methods;
    double level;
  };
  for (const Case& c : {Case{fc_run(1), {"cam", "gradcampp"}, 0.3},
                        Case{runs_->file("pos_maps"), {"slot"}, 0.0}}) {
    ExplainOptions opt;
    opt.images = 4;
    opt.pictures = 4;
    Config request;
    request.grad_min_level = c.level;
    request.infidelity_samples = request.sensitivity_samples = 2;
    Origins origins = {{"infidelity_samples", "test"}, {"sensitivity_samples", "test"}};
    if (c.level > 0) origins["grad_min_level"] = "test";
    run_explain(c.run, opt, request, origins);
    std::string dir = c.run + "/explain";
    auto lines = read_jsonl(dir + "/images.jsonl");
    ASSERT_EQ(lines.size(), 4u);
    h5::Handle f = h5::open_file(dir + "/maps.h5");
    for (const std::string& method : c.methods) {
      SCOPED_TRACE(method);
      auto raw = h5::read<float>(f.get(), method);
      auto pics = h5::read<uint8_t>(f.get(), method + "_upsampled");
      auto dims = h5::dataset_info(f.get(), method).dims;  // n x T x h x w, T = all 4 classes
      const int64_t T = static_cast<int64_t>(dims[1]), h = static_cast<int64_t>(dims[2]),
                    w = static_cast<int64_t>(dims[3]), H = 28, W = 28;
      ASSERT_EQ(T, 4);
      for (int64_t i = 0; i < 4; ++i) {
        const auto& line = lines[static_cast<size_t>(i)];
        for (int64_t t = 0; t < T; ++t) {
          std::vector<double> m =
              upsample_reference(&raw[static_cast<size_t>((i * T + t) * h * w)], h, w, H, W);
          min_max_reference(m, c.level);
          const uint8_t* pic = &pics[static_cast<size_t>((i * T + t) * H * W)];
          int off = 0;
          for (int64_t p = 0; p < H * W; ++p)
            off += std::abs(pic[p] -
                            static_cast<int>(std::floor(255 * m[static_cast<size_t>(p)]))) > 1;
          EXPECT_EQ(off, 0) << "picture of image " << i << " class " << t;
          if (t != line["label"].get<int64_t>()) continue;
          const auto& box = line["box"];
          double inside = 0, total = 0;
          for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x) {
              const double v = m[static_cast<size_t>(y * W + x)];
              total += v;
              const double cx = x + 0.5, cy = y + 0.5;
              if (cx >= box[0].get<double>() && cx < box[0].get<double>() + box[2].get<double>() &&
                  cy >= box[1].get<double>() && cy < box[1].get<double>() + box[3].get<double>())
                inside += v;
            }
          const auto& got = line[method];
          EXPECT_NEAR(got["precision"].get<double>(), inside / total, 1e-5) << "image " << i;
          EXPECT_NEAR(got["area"].get<double>(), total / static_cast<double>(H * W), 1e-5)
              << "image " << i;
        }
      }
    }
  }
}

TEST_F(ExplainTest, ScouterMinusGridsSayWhyNot) {
  Config c = scouter_pos("neg", fc_run(1), 1.0);
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
