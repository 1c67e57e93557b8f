// A backbone and a dataset added from this file alone, each as one registered row of its table
// (worker/model/backbone_spec.h, datasets/dataset_spec.h), go through the real code: the dataset
// is converted and read, the backbone freezes by its own stage names, takes pretrained weights by
// its own stem name, trains in train_run, is explained (run_explain) and reported (report_table),
// and is exported and imported again. Here, above every layer, because the report is the
// launcher's.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "datasets/dataset_spec.h"
#include "datasets/idx_prep.h"
#include "datasets/shard_reader.h"
#include "launcher/report.h"
#include "test_util.h"
#include "worker/explain/explain.h"
#include "worker/model/backbone.h"
#include "worker/model/resnet_blocks.h"
#include "worker/model/safetensors.h"
#include "worker/toy_data.h"
#include "worker/run/checkpoint.h"
#include "worker/train/model_io.h"
#include "worker/train/pretrained.h"
#include "worker/train/trainer.h"

namespace scouter {
namespace {

namespace nn = torch::nn;
using testing::TempDir;

// A test-only backbone whose parts are named unlike the ResNet family's: stem `entry` (conv) and
// `entry_bn`, stages block_a..block_c, 16 x 7 x 7 features at 28 px.
class TinyNetImpl : public BackboneImpl {
 public:
  TinyNetImpl(int64_t in_chans, int64_t num_classes) {
    entry_ = register_module("entry", conv_nobias(in_chans, 8, 3, 1, 1));
    entry_bn_ = register_module("entry_bn", nn::BatchNorm2d(8));
    blocks_ = {register_module("block_a", stage(8, 8, 2)),
               register_module("block_b", stage(8, 16, 1)),
               register_module("block_c", stage(16, 16, 2))};
    init_head(16, num_classes);
  }
  torch::Tensor forward_features(const torch::Tensor& x) override {
    torch::Tensor y = relu_inplace(entry_bn_(entry_(x)));
    for (auto& b : blocks_) y = b->forward(y);
    return y;
  }

 private:
  static nn::Sequential stage(int64_t in, int64_t out, int64_t stride) {
    return nn::Sequential(conv_nobias(in, out, 3, stride, 1), nn::BatchNorm2d(out),
                          nn::ReLU(nn::ReLUOptions(true)));
  }
  nn::Conv2d entry_{nullptr};
  nn::BatchNorm2d entry_bn_{nullptr};
  std::vector<nn::Sequential> blocks_;
};

std::shared_ptr<BackboneImpl> make_tinynet(const std::string&, int64_t in_chans,
                                           int64_t num_classes, bool) {
  return std::make_shared<TinyNetImpl>(in_chans, num_classes);
}

BackboneSpec tinynet_spec() {
  BackboneSpec b;
  b.name = "tinynet";
  b.note = "a test's";
  b.make = make_tinynet;
  b.feature_channels = 16;
  b.stages = {"block_a", "block_b", "block_c"};
  b.stem_convs = {"entry.weight"};
  return b;
}
const BackboneRegistrar kTinyNet(tinynet_spec());

// A test-only IDX dataset: class k of 4 is a bright 10 x 10 square in quadrant k (as toy_data.h).
DatasetSpec quadrants_spec() {
  DatasetSpec d;
  d.name = "Quadrants";
  d.kind = DatasetKind::kIdx;
  d.channels = 1;
  d.default_dir = "data/quadrants";
  d.class_names = {"top-left", "top-right", "bottom-left", "bottom-right"};
  return d;
}
const DatasetRegistrar kQuadrants(quadrants_spec());

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// The four IDX files of `n` train and n / 4 val images.
void write_quadrant_files(const std::string& dir, uint32_t n) {
  uint64_t state = 12345;
  auto next = [&state](uint32_t below) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>((state >> 33) % below);
  };
  for (const auto& [prefix, count] :
       {std::pair<std::string, uint32_t>{"train", n}, {"t10k", n / 4}}) {
    std::string images = be32(0x803) + be32(count) + be32(28) + be32(28),
                labels = be32(0x801) + be32(count);
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t label = i % 4, y0 = (label / 2) * 14 + next(5),
                     x0 = (label % 2) * 14 + next(5);
      std::string img(28 * 28, '\0');
      for (auto& px : img) px = static_cast<char>(next(30));
      for (uint32_t y = y0; y < y0 + 10; ++y)
        for (uint32_t x = x0; x < x0 + 10; ++x) img[y * 28 + x] = static_cast<char>(200 + next(56));
      images += img;
      labels += static_cast<char>(label);
    }
    testing::write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", images);
    testing::write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
  }
}

std::map<std::string, torch::Tensor> tensors_of(nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().detach().clone();
  return out;
}

std::vector<float> values(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous().to(torch::kFloat);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

class RegisteredExtensions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    std::filesystem::create_directories(dir_->file("src"));
    write_quadrant_files(dir_->file("src"), 512);
    prep_idx_dataset("Quadrants", dir_->file("src"), dir_->file("shards"), 256);
    // RGB weights of the backbone, as a timm checkpoint would come (fc of 10 classes).
    torch::manual_seed(3);
    auto rgb = make_backbone("tinynet", 3, 10);
    rgb_ = new std::map<std::string, torch::Tensor>(tensors_of(*rgb));
    std::vector<std::pair<std::string, torch::Tensor>> file(rgb_->begin(), rgb_->end());
    write_safetensors(dir_->file("tinynet_rgb.safetensors"), file);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete rgb_;
  }
  static TempDir* dir_;
  static std::map<std::string, torch::Tensor>* rgb_;
  TempDir out_;
};
TempDir* RegisteredExtensions::dir_ = nullptr;
std::map<std::string, torch::Tensor>* RegisteredExtensions::rgb_ = nullptr;

TEST_F(RegisteredExtensions, TheDatasetIsConvertedWithItsOwnClasses) {
  auto train = ShardSet::open(dir_->file("shards"), "train");
  EXPECT_EQ(train->meta().dataset, "Quadrants");
  EXPECT_EQ(train->meta().class_names, quadrants_spec().class_names);
  EXPECT_EQ(train->meta().num_classes, 4);
  EXPECT_EQ(train->size(), 512);
  EXPECT_EQ(ShardSet::open(dir_->file("shards"), "val")->size(), 128);
}

// freeze_layers = 2 leaves the stages after the first two trainable: block_c only.
TEST_F(RegisteredExtensions, TheBackboneFreezesByItsOwnStageNames) {
  auto bb = make_backbone("tinynet", 1, 10);
  const int64_t frozen = freeze_backbone(*bb, 2);
  int64_t expected = 0;
  for (const auto& p : bb->named_parameters()) {
    const bool trainable = p.key().rfind("block_c.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), trainable) << p.key();
    expected += trainable ? 0 : 1;
  }
  EXPECT_EQ(frozen, expected);
  EXPECT_EQ(freeze_backbone(*make_backbone("tinynet", 1, 10), 0), 0);
}

// The RGB stem conv `entry` is adapted to one channel as timm does (summed over RGB).
TEST_F(RegisteredExtensions, PretrainedWeightsLoadByItsOwnStemName) {
  auto gray = make_backbone("tinynet", 1, 0);
  EXPECT_GT(load_pretrained(dir_->file("tinynet_rgb.safetensors"), *gray), 0);
  auto p = gray->named_parameters();
  EXPECT_TRUE(torch::equal(p["entry.weight"], rgb_->at("entry.weight").sum(1, true)));
  EXPECT_TRUE(torch::equal(p["block_b.0.weight"], rgb_->at("block_b.0.weight")));
}

// train_run with both rows: pretrained, frozen, trained; then export and import give the weights.
TEST_F(RegisteredExtensions, TrainsThenExportsAndImports) {
  Config c = testing::toy_config(dir_->file("shards"), out_.file("run"));
  c.dataset = "Quadrants";
  c.model = "tinynet";
  c.epochs = 1;
  c.pretrained = dir_->file("tinynet_rgb.safetensors");
  c.freeze_layers = 2;
  TrainResult r = train_run(c);
  EXPECT_EQ(r.epochs_run, 1);
  const std::string ckpt = latest_checkpoint(c.output_dir);
  auto w = testing::checkpoint_weights(ckpt);
  EXPECT_EQ(w.at("backbone.entry.weight"), values(rgb_->at("entry.weight").sum(1, true)));
  EXPECT_EQ(w.at("backbone.block_b.0.weight"), values(rgb_->at("block_b.0.weight")));
  EXPECT_NE(w.at("backbone.block_c.0.weight"), values(rgb_->at("block_c.0.weight")));

  const std::string file = export_model(c.output_dir, "safetensors", out_.file("tiny.safetensors"));
  ImportResult imported = import_model(file,
                                       {{"dataset", "Quadrants"},
                                        {"model", "tinynet"},
                                        {"num_classes", "4"},
                                        {"use_slot", "true"},
                                        {"loss_status", "1"},
                                        {"output_dir", out_.file("imported")}},
                                       "scouter import (test)");
  EXPECT_EQ(imported.cfg.dataset_dir, "data/quadrants");  // the row's default folder
  EXPECT_EQ(testing::checkpoint_weights(imported.checkpoint), w);
  EXPECT_NE(published_args(imported.cfg).find("--dataset Quadrants"), std::string::npos);
  // No shards and no normalisation in its row: no dataset.json (explain --image needs shards).
  EXPECT_FALSE(file_exists(out_.file("imported") + "/dataset.json"));

  ExplainOptions opt;
  opt.images = 8;
  opt.pictures = 1;
  run_explain(c.output_dir, opt, Config{}, {});
  const std::string metrics = read_text_file(c.output_dir + "/explain/metrics.json");
  EXPECT_NE(metrics.find("\"Quadrants\""), std::string::npos) << metrics;
  const std::string report = report_table({out_.path()});
  EXPECT_NE(report.find("| Quadrants | "), std::string::npos) << report;
  EXPECT_NE(report.find("| SCOUTER+ tinynet | SCOUTER slots | 1 |"), std::string::npos) << report;
}

}  // namespace
}  // namespace scouter
