// `scouter explain` from the command line: bad input gets one clear line and exit 2, under
// mpirun the images are split over the ranks and gathered exactly (2 ranks write what 1 does),
// and `--image` explains files of the user's own: prediction, pictures, JSON and box precision.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "common/text.h"
#include "datasets/image_ops.h"
#include "datasets/shard_reader.h"
#include "test_util.h"
#include "worker/toy_data.h"

namespace scouter {
namespace {

namespace fs = std::filesystem;
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
  }
  // Trains the runs "fc" and "pos" among `kinds` that are not there yet. CTest runs each test in
  // a process of its own, so a test trains only the runs it uses.
  static void trained(std::initializer_list<const char*> kinds) {
    for (const char* kind : kinds) {
      if (file_exists(dir_->file(kind) + "/summary.json")) continue;
      ASSERT_EQ(train(kind, std::string(kind) == "fc" ? " --img_size 0 --use_slot false"
                                                      : " --img_size 0 --lr 3e-4"),
                "");
    }
  }
  // Trains run `name` (one epoch of smallcnn on the toy data); "" or the failure's output.
  static std::string train(const std::string& name, const std::string& extra) {
    std::string cmd = testing::scouter_bin() +
                      " train --model smallcnn --num_classes 4 --batch_size 32"
                      " --threads 1 --epochs 1 --dataset_dir " +
                      dir_->file("data") + " --output_dir " + dir_->file(name) + extra;
    auto r = testing::run_command(cmd);
    return r.exit_code == 0 ? std::string() : r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static testing::CommandResult explain(const std::string& args, int ranks = 0) {
    std::string launcher =
        ranks > 0 ? testing::mpirun() + " -np " + std::to_string(ranks) + " " : "";
    return testing::run_command(launcher + testing::scouter_bin() + " explain " + args);
  }
  // stdout alone (the lines scripts parse); the log goes to `log`.
  static testing::CommandResult explain_stdout(const std::string& args, const std::string& log) {
    return testing::run_command("(" + testing::scouter_bin() + " explain " + args + " 2>" + log +
                                ")");
  }
  // Validation sample `index` of the toy data as a PNG, upscaled `factor` times (nearest), gray
  // or as RGB with three equal channels.
  static void write_sample_png(int64_t index, int factor, int channels, const std::string& path) {
    auto val = ShardSet::open(dir_->file("data"), "val");
    const uint8_t* px = val->image(index);
    const int n = 28 * factor;
    std::vector<uint8_t> out(static_cast<size_t>(n * n * channels));
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        for (int k = 0; k < channels; ++k)
          out[static_cast<size_t>((y * n + x) * channels + k)] = px[(y / factor) * 28 + x / factor];
    write_png(path, out.data(), n, n, channels);
  }
  static std::vector<float> stored_box(int64_t index) {
    return ShardSet::open(dir_->file("data"), "val")->box(index);
  }
  // The lines of `out` that start with `kind`, split at tabs.
  static std::vector<std::vector<std::string>> records(const std::string& out,
                                                       const std::string& kind) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& line : split(out, '\n')) {
      auto fields = split(line, '\t');
      if (!fields.empty() && fields[0] == kind) rows.push_back(fields);
    }
    return rows;
  }
  // Map mass inside the box (pixel centres, as the metrics define it) / total, computed here.
  static double precision_of(const std::vector<float>& map, int64_t H, int64_t W,
                             const std::vector<double>& box) {
    double inside = 0, total = 0;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const double v = map[static_cast<size_t>(y * W + x)];
        total += v;
        if (x + 0.5 >= box[0] && x + 0.5 < box[0] + box[2] && y + 0.5 >= box[1] &&
            y + 0.5 < box[1] + box[3])
          inside += v;
      }
    return inside / total;
  }
  static TempDir* dir_;
};
TempDir* ExplainCliTest::dir_ = nullptr;

TEST_F(ExplainCliTest, BadInputIsOneClearLineAndExitTwo) {
  ASSERT_NO_FATAL_FAILURE(trained({"fc", "pos"}));
  testing::write_bytes(dir_->file("notes.gif"), "GIF89a....");
  write_sample_png(3, 1, 1, dir_->file("v3.png"));
  const std::string v3 = dir_->file("v3.png");
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
      // --image (the library's errors, such as boxes outside the image and unknown classes, are
      // in tests/worker/explain/explain_test.cpp)
      {dir_->file("pos") + " --image " + dir_->file("notes.gif"),
       "--image '" + dir_->file("notes.gif") +
           "': neither JPEG nor PNG (starts with 47 49 46 38) -- hint: supported: JPEG and PNG"},
      {dir_->file("pos") + " --image " + v3 + " " + dir_->file("fc"),
       "takes one run folder, then image files; '" + dir_->file("fc") + "' is a folder"},
      {dir_->file("pos") + " --image " + v3 + " --box 1,2,3",
       "--box '1,2,3' is not x,y,w,h (four numbers)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    EXPECT_USAGE_ERROR(explain(c.args), c.expect);
  }
  EXPECT_FALSE(file_exists(dir_->file("pos") + "/explain/metrics.json"));
  EXPECT_FALSE(fs::exists(dir_->file("pos") + "/explain/images"));
}

TEST_F(ExplainCliTest, TwoRanksGatherWhatOneRankComputes) {
  ASSERT_NO_FATAL_FAILURE(trained({"fc", "pos"}));
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

// A validation image saved as a PNG and explained with --image gets what `explain` gives that
// validation image (the same prediction; the same picture within one 8-bit level): the same
// conversion and evaluation transform. A second image, twice the size with a box, gets the
// precision computed here from the map it reports.
TEST_F(ExplainCliTest, ImageOfAValidationSampleIsExplainedAsThatSample) {
  ASSERT_NO_FATAL_FAILURE(trained({"pos"}));
  std::string run = dir_->file("pos");
  auto val = explain(run + " --images 2 --pictures 2 --metrics false");
  ASSERT_EQ(val.exit_code, 0) << val.output;
  auto jsonl = read_jsonl(run + "/explain/images.jsonl");
  h5::Handle fv = h5::open_file(run + "/explain/maps.h5");
  auto pictures = h5::read<uint8_t>(fv.get(), "slot_upsampled");  // 2 x 4 classes x 28 x 28
  fv.reset();
  write_sample_png(0, 1, 1, dir_->file("v0.png"));
  write_sample_png(1, 2, 3, dir_->file("v1 big.png"));
  std::vector<float> b1 = stored_box(1);  // stored pixels; the 56 px file has it doubled
  std::string box = str_format("-:{},{},{},{}", 2 * b1[0], 2 * b1[1], 2 * b1[2], 2 * b1[3]);
  auto r = explain_stdout(run + " --image " + dir_->file("v0.png") + " '" +
                              dir_->file("v1 big.png") + "' --box " + box + " --top_k 9",
                          dir_->file("image.log"));
  ASSERT_EQ(r.exit_code, 0) << r.output << read_text_file(dir_->file("image.log"));

  auto images = records(r.output, "image"), preds = records(r.output, "pred"),
       tops = records(r.output, "top"), maps = records(r.output, "map");
  ASSERT_EQ(images.size(), 2u) << r.output;
  ASSERT_EQ(preds.size(), 2u) << r.output;
  ASSERT_EQ(tops.size(), 8u) << r.output;  // --top_k 9 capped at the 4 classes
  ASSERT_EQ(maps.size(), 2u) << r.output;  // the predicted class of each
  EXPECT_EQ(images[1][1], dir_->file("v1 big.png"));
  EXPECT_EQ(images[1][2], run + "/explain/images/v1_big.png");
  EXPECT_EQ(preds[0][2], std::to_string(jsonl[0]["pred"].get<int64_t>()));
  EXPECT_EQ(maps[0][5], "-");  // no box for the first image

  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    auto result = nlohmann::json::parse(read_text_file(images[static_cast<size_t>(i)][3]));
    const int64_t pred = result["prediction"]["class"];
    EXPECT_EQ(std::to_string(pred), preds[static_cast<size_t>(i)][2]);
    EXPECT_EQ(result["prediction"]["name"], preds[static_cast<size_t>(i)][4]);
    ASSERT_EQ(result["top_k"].size(), 4u);
    double sum = 0, last = 1;
    for (const auto& t : result["top_k"]) {
      sum += t["probability"].get<double>();
      EXPECT_LE(t["probability"].get<double>(), last);
      last = t["probability"];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
    EXPECT_EQ(result["top_k"][0], result["prediction"]);
    const auto& slot = result["methods"]["slot"][0];
    EXPECT_EQ(slot["class"], pred);
    const std::string folder = images[static_cast<size_t>(i)][2];
    EXPECT_EQ(maps[static_cast<size_t>(i)][4],
              folder + "/slot_class" + std::to_string(pred) + ".png");
    EXPECT_TRUE(file_exists(folder + "/image.png"));
    EXPECT_TRUE(file_exists(maps[static_cast<size_t>(i)][4]));
    h5::Handle f = h5::open_file(folder + "/maps.h5");
    auto map = h5::read<float>(f.get(), "slot");  // 1 x 28 x 28, 0..1
    ASSERT_EQ(map.size(), 784u);
    if (i == 0) {
      int off = 0;
      for (size_t p = 0; p < 784; ++p)
        off += std::abs(static_cast<int>(std::floor(255 * map[p])) -
                        pictures[static_cast<size_t>(pred) * 784 + p]) > 1;
      EXPECT_EQ(off, 0) << "the --image map differs from the validation image's picture";
      EXPECT_TRUE(result["box"].is_null());
      continue;
    }
    const std::vector<double> in = result["box"]["input"];
    for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(in[k], b1[k], 1e-5);  // 56 px file -> 28 px
    const double precision = precision_of(map, 28, 28, {b1[0], b1[1], b1[2], b1[3]});
    EXPECT_NEAR(slot["precision"].get<double>(), precision, 1e-6);
    EXPECT_NEAR(std::stod(maps[1][5]), precision, 2e-6);
  }
}

// A run trained at 56 px: a 56 px file's box goes to stored pixels (28) and back to the input
// (56), so the input box is the file's; then explaining the validation set keeps those folders,
// scales the stored boxes to 56 px, records its settings in metrics.json, and with --metrics
// false logs no metrics rate.
TEST_F(ExplainCliTest, RunAt56PxImagesBoxesAndSettings) {
  ASSERT_EQ(train("fc56", " --img_size 56 --use_slot false"), "");
  std::string run = dir_->file("fc56");
  write_sample_png(2, 2, 1, dir_->file("v2.png"));
  auto r = explain_stdout(
      run + " --image " + dir_->file("v2.png") + " --box 10,12,24,20 --classes 1,plus",
      dir_->file("fc56.log"));
  ASSERT_EQ(r.exit_code, 0) << r.output << read_text_file(dir_->file("fc56.log"));
  auto maps = records(r.output, "map");
  ASSERT_EQ(maps.size(), 6u) << r.output;  // cam, gradcam, gradcampp x classes 1 and 2 (plus)
  std::string json_path = records(r.output, "image").at(0).at(3);
  auto result = nlohmann::json::parse(read_text_file(json_path));
  EXPECT_EQ(result["input_size"], nlohmann::json::array({56, 56}));
  EXPECT_EQ(result["classes"], nlohmann::json::array({1, 2}));
  const std::vector<double> in = result["box"]["input"];
  EXPECT_EQ(in, (std::vector<double>{10, 12, 24, 20}));
  h5::Handle f = h5::open_file(run + "/explain/images/v2.png/maps.h5");
  for (const char* method : {"cam", "gradcampp"}) {
    auto m = h5::read<float>(f.get(), method);  // 2 classes x 56 x 56
    for (size_t t = 0; t < 2; ++t) {
      std::vector<float> one(m.begin() + static_cast<long>(t * 3136),
                             m.begin() + static_cast<long>((t + 1) * 3136));
      EXPECT_NEAR(result["methods"][method][t]["precision"].get<double>(),
                  precision_of(one, 56, 56, in), 1e-6)
          << method << " class " << t;
    }
  }
  f.reset();

  auto v = explain(run +
                   " --images 4 --pictures 1 --metrics false --explain_step 7"
                   " --infidelity_samples 3");
  ASSERT_EQ(v.exit_code, 0) << v.output;
  EXPECT_NE(v.output.find("explain: maps "), std::string::npos) << v.output;
  EXPECT_EQ(v.output.find("metrics 0"), std::string::npos) << v.output;
  EXPECT_EQ(v.output.find("img/s, metrics"), std::string::npos) << v.output;
  EXPECT_TRUE(file_exists(json_path)) << "explain/images/ must survive a new explain";
  auto lines = read_jsonl(run + "/explain/images.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    std::vector<float> b = stored_box(static_cast<int64_t>(i));
    for (size_t k = 0; k < 4; ++k) EXPECT_DOUBLE_EQ(lines[i]["box"][k].get<double>(), 2.0 * b[k]);
  }
  auto m = nlohmann::json::parse(read_text_file(run + "/explain/metrics.json"));
  const auto& s = m["settings"];
  EXPECT_EQ(s["images"], 4);
  EXPECT_EQ(s["images_explained"], 4);
  EXPECT_EQ(s["img_size"], 56);
  EXPECT_EQ(s["explain_step"], 7);
  EXPECT_EQ(s["infidelity_samples"], 3);
  EXPECT_EQ(s["sensitivity_samples"], 50);
  EXPECT_EQ(s["metrics"], false);
  EXPECT_EQ(s["dataset_dir"], dir_->file("data"));
  EXPECT_EQ(s["grad_min_level"], 0.0);
  EXPECT_TRUE(s["map_postprocessing"].is_string());
  EXPECT_TRUE(file_exists(m["checkpoint"].get<std::string>()));
}

// A trained run keeps what --image needs of its dataset (RUN/dataset.json): after its dataset
// folder is gone it explains an image exactly as before, naming the class; a damaged file is one
// clear line, and a run without the file and without its folder says what is missing.
TEST_F(ExplainCliTest, ImageIsExplainedAfterTheDatasetFolderIsGone) {
  const std::string data = dir_->file("gone"), run = dir_->file("gone_run");
  testing::write_localisation_shards(data, 128, 16, 3, 32);
  auto t = testing::run_command(testing::scouter_bin() +
                                " train --model smallcnn --num_classes 4 --batch_size 32"
                                " --threads 1 --epochs 1 --img_size 0 --dataset_dir " +
                                data + " --output_dir " + run);
  ASSERT_EQ(t.exit_code, 0) << t.output;
  auto stored = nlohmann::json::parse(read_text_file(run + "/dataset.json"));
  const ShardMeta meta = ShardSet::open(data, "val")->meta();
  EXPECT_EQ(stored["from"], "shards");
  EXPECT_EQ(stored["class_names"], nlohmann::json(meta.class_names));
  EXPECT_EQ(stored["mean"], nlohmann::json(meta.mean));
  EXPECT_EQ(stored["height"], meta.height);
  write_sample_png(0, 2, 3, dir_->file("g0.png"));
  const std::string args = run + " --image " + dir_->file("g0.png") + " --top_k 4";
  const std::string json = run + "/explain/images/g0.png/result.json";
  auto before = explain(args);
  ASSERT_EQ(before.exit_code, 0) << before.output;
  auto a = nlohmann::json::parse(read_text_file(json));

  // Numbered classes (a run imported without shards): where the shards are read, they name them.
  nlohmann::json numbered = stored;
  numbered["from"] = "dataset table";
  numbered["class_names"] = {"class 0", "class 1", "class 2", "class 3"};
  testing::write_bytes(run + "/dataset.json", numbered.dump());
  auto val = explain(run + " --images 1 --pictures 1 --metrics false");
  ASSERT_EQ(val.exit_code, 0) << val.output;
  const std::string svg = read_text_file(run + "/explain/grids/00000_slot.svg");
  EXPECT_NE(svg.find(">0 " + meta.class_names[0] + "<"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("class 0"), std::string::npos) << svg;
  testing::write_bytes(run + "/dataset.json", stored.dump());

  fs::remove_all(data);
  auto after = explain(args);
  ASSERT_EQ(after.exit_code, 0) << after.output;
  auto b = nlohmann::json::parse(read_text_file(json));
  EXPECT_EQ(a["top_k"], b["top_k"]);  // the same input, to the last bit
  const int64_t pred = b["prediction"]["class"];
  EXPECT_EQ(b["prediction"]["name"], meta.class_names.at(static_cast<size_t>(pred)));
  EXPECT_EQ(b["methods"]["slot"][0]["name"], b["prediction"]["name"]);

  testing::write_bytes(run + "/dataset.json", "{\"format\": \"scouter-run-dataset\"");
  auto damaged = explain(args);
  EXPECT_USAGE_ERROR(damaged, "'" + run + "/dataset.json': not a JSON object -- hint:");
  stored["dataset"] = "FashionMNIST";
  testing::write_bytes(run + "/dataset.json", stored.dump());
  EXPECT_USAGE_ERROR(explain(args), "describes FashionMNIST with 4 classes, but the run was "
                                    "trained on MNIST");
  fs::remove(run + "/dataset.json");
  EXPECT_USAGE_ERROR(explain(args), "'" + run + "' has no dataset.json (made before scouter kept "
                                    "its dataset's form) and its dataset folder '" + data +
                                    "' does not exist -- hint: give --dataset_dir DIR");
}

}  // namespace
}  // namespace scouter
