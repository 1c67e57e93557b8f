// Backbones: timm's names and sizes, feature-map shapes, the published freeze rule, and the
// state_dict keys of whole SCOUTER and FC models.
#include "worker/model/backbone.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "common/error.h"
#include "common/h5.h"
#include "test_util.h"
#include "worker/fixture_tensors.h"
#include "worker/model/scouter_model.h"

namespace scouter {
namespace {

std::set<std::string> state_dict_keys(const torch::nn::Module& m) {
  std::set<std::string> keys;
  for (const auto& p : m.named_parameters()) keys.insert(p.key());
  for (const auto& b : m.named_buffers()) keys.insert(b.key());
  return keys;
}

std::vector<int64_t> feature_shape(const std::string& name, int64_t in_chans, int64_t px) {
  torch::NoGradGuard no_grad;
  auto bb = make_backbone(name, in_chans, 0);
  bb->eval();
  return bb->forward_features(torch::randn({1, in_chans, px, px})).sizes().vec();
}

TEST(BackboneTest, FeatureMapShapes) {
  EXPECT_EQ(feature_shape("resnet18", 1, 260), (std::vector<int64_t>{1, 512, 9, 9}));
  EXPECT_EQ(feature_shape("resnet18", 3, 224), (std::vector<int64_t>{1, 512, 7, 7}));
  EXPECT_EQ(feature_shape("resnet18", 1, 28), (std::vector<int64_t>{1, 512, 1, 1}));
  EXPECT_EQ(feature_shape("smallcnn", 1, 28),
            (std::vector<int64_t>{1, backbone_channels("smallcnn"), 7, 7}));
  EXPECT_EQ(backbone_channels("resnet18"), 512);
}

// 260-px inputs (the published size) give 9 x 9 maps of 2048 channels; one input channel works
// for every backbone (the MNIST stem or timm's in_chans, worker/model/resnet.h).
TEST(BackboneTest, TimmBackbonesGiveNineByNineAt260Pixels) {
  for (const char* name : {"resnet50", "resnest26d", "resnest50d"}) {
    EXPECT_EQ(feature_shape(name, 3, 260), (std::vector<int64_t>{1, 2048, 9, 9})) << name;
    EXPECT_EQ(backbone_channels(name), 2048) << name;
  }
  EXPECT_EQ(feature_shape("resnest26d", 1, 260), (std::vector<int64_t>{1, 2048, 9, 9}));
  EXPECT_EQ(feature_shape("resnet50", 1, 64), (std::vector<int64_t>{1, 2048, 2, 2}));
}

// timm's counts with 3 channels and 1000 classes (also checked against the fixture that timm
// wrote, timm_conformance_test.cpp).
TEST(BackboneTest, ParameterCountsAreTimms) {
  const std::vector<std::pair<std::string, int64_t>> counts = {
      {"resnet18", 11689512}, {"resnet50", 25557032}, {"resnest26d", 17069448}, {"resnest50d", 27483240}};
  for (const auto& [name, expected] : counts) {
    int64_t count = 0;
    for (const auto& p : make_backbone(name, 3, 1000)->parameters()) count += p.numel();
    EXPECT_EQ(count, expected) << name;
  }
}

TEST(BackboneTest, ResNestHasTimmsNamesAndStems) {
  auto keys = state_dict_keys(*make_backbone("resnest26d", 3, 10));
  for (const char* k :
       {"conv1.0.weight", "conv1.1.running_var", "conv1.3.weight", "conv1.4.bias", "conv1.6.weight",
        "bn1.weight", "layer1.0.downsample.1.weight", "layer1.0.downsample.2.running_mean",
        "layer2.0.conv2.conv.weight", "layer2.0.conv2.bn0.weight", "layer2.0.conv2.fc1.bias",
        "layer2.0.conv2.bn1.running_var", "layer2.0.conv2.fc2.weight", "layer4.1.bn3.weight", "fc.bias"})
    EXPECT_TRUE(keys.count(k)) << k;
  EXPECT_FALSE(keys.count("layer2.1.downsample.1.weight"));
  auto p = make_backbone("resnest26d", 1, 0)->named_parameters();
  EXPECT_EQ(p["conv1.0.weight"].sizes(), (std::vector<int64_t>{32, 1, 3, 3}));  // timm's in_chans
  EXPECT_EQ(p["layer3.0.conv2.conv.weight"].sizes(), (std::vector<int64_t>{512, 128, 3, 3}));  // 2 groups
  EXPECT_EQ(p["layer3.0.conv2.fc1.weight"].sizes(), (std::vector<int64_t>{128, 256, 1, 1}));
  auto r50 = make_backbone("resnet50", 1, 0)->named_parameters();
  EXPECT_EQ(r50["conv1.weight"].sizes(), (std::vector<int64_t>{64, 1, 3, 3}));  // MNIST stem
  EXPECT_EQ(make_backbone("resnet50", 3, 0)->named_parameters()["conv1.weight"].sizes(),
            (std::vector<int64_t>{64, 3, 7, 7}));
}

TEST(BackboneTest, ResNestInitIsTimms) {
  auto p = make_backbone("resnest50d", 3, 0)->named_parameters();
  EXPECT_EQ(p["layer2.3.bn3.weight"].abs().sum().item<double>(), 0.0);  // zero_init_last
  EXPECT_EQ(p["layer2.3.bn1.weight"].min().item<double>(), 1.0);
  EXPECT_EQ(p["layer2.3.conv2.bn0.bias"].abs().sum().item<double>(), 0.0);
  // kaiming_normal_(fan_out, relu) on split attention's grouped conv: PyTorch's fan_out is
  // out_channels * 3 * 3 whatever the groups.
  EXPECT_NEAR(p["layer3.1.conv2.conv.weight"].std().item<double>(), std::sqrt(2.0 / (512 * 9)), 0.002);
  EXPECT_NEAR(p["layer3.1.conv2.fc2.weight"].std().item<double>(), std::sqrt(2.0 / 512), 0.003);
}

TEST(BackboneTest, FreezeTakesTheWholeDeepStem) {
  auto bb = make_backbone("resnest26d", 3, 0);
  // Stem conv1.{0,1,3,4,6} 7 tensors, bn1 2; a block 15 (split attention 9), a downsample 3:
  // 7 + 2 + layer1 33 + layer2 33.
  EXPECT_EQ(freeze_backbone(*bb, 2), 75);
  for (const auto& p : bb->named_parameters()) {
    const bool trainable = p.key().rfind("layer3.", 0) == 0 || p.key().rfind("layer4.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), trainable) << p.key();
  }
}

TEST(BackboneTest, ResNet18HasTimmSizeAndNames) {
  auto bb = make_backbone("resnet18", 3, 1000);
  int64_t count = 0;
  for (const auto& p : bb->parameters()) count += p.numel();
  EXPECT_EQ(count, 11689512);  // timm resnet18
  auto keys = state_dict_keys(*bb);
  for (const char* k :
       {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
        "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer1.0.bn1.weight",
        "layer1.0.conv2.weight", "layer1.0.bn2.running_var", "layer1.1.conv2.weight",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
        "layer2.0.downsample.1.running_mean", "layer4.1.bn2.bias", "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(keys.count(k)) << k;
  }
  EXPECT_FALSE(keys.count("layer1.0.downsample.0.weight"));  // stride 1, 64 -> 64
  EXPECT_EQ(keys.size(), 62u + 60u);  // timm: 62 parameters and 3 buffers for each of 20 BNs
  EXPECT_FALSE(state_dict_keys(*make_backbone("resnet18", 1, 0)).count("fc.weight"));
}

TEST(BackboneTest, ResNet18InitIsTimms) {
  auto bb = make_backbone("resnet18", 3, 0);
  auto p = bb->named_parameters();
  EXPECT_EQ(p["layer1.0.bn2.weight"].abs().sum().item<double>(), 0.0);  // zero_init_last
  EXPECT_EQ(p["layer1.0.bn1.weight"].min().item<double>(), 1.0);
  EXPECT_EQ(p["layer2.0.downsample.1.weight"].min().item<double>(), 1.0);
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (out * k * k)), on convs whose in and out
  // channels differ, so fan_in's std (sqrt(2 / (in * k * k)), sqrt(2) times larger here) fails.
  // The std of n normal draws has a standard error of std / sqrt(2 n): 5 of them is the
  // tolerance (a chance of about 6e-7 to fail a correct init), 0.3% of std for the 3x3 conv
  // (n = 73728) and 1.1% for the 1x1 downsample (n = 8192), against a 41% gap to fan_in.
  for (const auto& name : {"layer2.0.conv1.weight", "layer2.0.downsample.0.weight"}) {
    auto w = p[name];
    const int64_t out = w.size(0), in = w.size(1), k2 = w.size(2) * w.size(3);
    ASSERT_EQ(out, 2 * in) << name;
    const double fan_out_std = std::sqrt(2.0 / static_cast<double>(out * k2));
    const double fan_in_std = std::sqrt(2.0 / static_cast<double>(in * k2));
    const double tol = 5 * fan_out_std / std::sqrt(2.0 * static_cast<double>(w.numel()));
    const double got = w.std().item<double>();
    EXPECT_NEAR(got, fan_out_std, tol) << name;
    EXPECT_GT(std::abs(got - fan_in_std), tol) << name;  // fan_in's init would fail the line above
  }
}

// Training mode, then eval mode with the running statistics that one training forward left, in
// float64: training-mode BatchNorm over a few images can amplify rounding, and float64 keeps that
// far below the tolerance on any CPU (the generator measures an amplification of at most 9 for
// these cases and refuses one above 1e5): |a - e| <= 1e-9 max|e| against PyTorch's float64
// result. A planted error of 1e-3 relative in the first or the last conv weight
// (testing::plant_error) must fail it.
std::map<std::string, torch::Tensor> resnet18_train_then_eval(const h5::Handle& g,
                                                               const std::string& plant = "") {
  auto bb = make_backbone("resnet18", h5::read_attr_int(g.get(), "in_chans"),
                          h5::read_attr_int(g.get(), "num_classes"));
  testing::fill_conformance(*bb);
  bb->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  if (!plant.empty()) testing::plant_error(bb->named_parameters()[plant]);
  auto x = testing::read_tensor(g.get(), "x").to(torch::kFloat64);
  std::map<std::string, torch::Tensor> out;
  for (const std::string mode : {"train", "eval"}) {
    bb->train(mode == "train");
    auto feats = bb->forward_features(x);
    out["logits_" + mode] = bb->forward_head(feats);
    out["features_" + mode] = feats;
  }
  return out;
}

TEST(BackboneTest, ResNet18MatchesPyTorch) {
  constexpr double kTol = 1e-9, kRtol = 0;
  auto file = h5::open_file(testing::fixtures_dir() + "/backbone_conformance.h5");
  auto root = h5::open_group(file.get(), "resnet18");
  auto names = h5::list_children(root.get());
  ASSERT_EQ(names.size(), 2u);
  for (const auto& name : names) {
    auto g = h5::open_group(root.get(), name);
    auto e = h5::open_group(g.get(), "expected");
    for (const auto& [key, actual] : resnet18_train_then_eval(g))
      testing::expect_conformant(actual, testing::read_tensor(e.get(), key), name + " " + key, kTol, kRtol);
    for (const std::string plant : {"conv1.weight", "layer4.1.conv2.weight"}) {
      double worst = 0;
      for (const auto& [key, actual] : resnet18_train_then_eval(g, plant))
        worst = std::max(worst, testing::conformance_ratio(actual, testing::read_tensor(e.get(), key),
                                                           kTol, kRtol));
      std::cout << "[ planted  ] " << name << " " << plant << " x(1+-1e-3): error " << worst
                << " x the tolerance\n";
      EXPECT_GT(worst, 1.0) << name << ": a planted error in " << plant << " went unnoticed";
    }
  }
}

TEST(BackboneTest, SmallCnnNamedLikeAResNet) {
  auto keys = state_dict_keys(*make_backbone("smallcnn", 1, 10));
  for (const char* k :
       {"conv1.weight", "bn1.running_mean", "layer1.0.conv.weight", "layer1.0.bn.weight",
        "layer4.0.conv.weight", "layer4.0.bn.bias", "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(keys.count(k)) << k;
  }
}

// Trainable after freeze_backbone(n): exactly the names under the first 4 - n of
// layer4, layer3, layer2, layer1; n = 0 freezes nothing (published dfs_freeze returns at once).
void check_freeze(int64_t n, const std::vector<std::string>& trainable_prefixes) {
  auto bb = make_backbone("resnet18", 1, 10);
  const int64_t frozen = freeze_backbone(*bb, n);
  int64_t expected_frozen = 0;
  for (const auto& p : bb->named_parameters()) {
    bool trainable = n == 0;
    for (const auto& prefix : trainable_prefixes)
      trainable = trainable || p.key().rfind(prefix + ".", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), trainable) << "n=" << n << " " << p.key();
    expected_frozen += trainable ? 0 : 1;
  }
  EXPECT_EQ(frozen, expected_frozen) << "n=" << n;
}

TEST(BackboneTest, FreezeFollowsPublishedDfsFreeze) {
  check_freeze(0, {});
  check_freeze(1, {"layer4", "layer3", "layer2"});
  check_freeze(2, {"layer4", "layer3"});
  check_freeze(3, {"layer4"});
  check_freeze(4, {});
  // n = 2 on resnet18 with fc: conv1 1 + bn1 2 + layer1 12 + layer2 15 + fc 2.
  auto bb = make_backbone("resnet18", 1, 10);
  EXPECT_EQ(freeze_backbone(*bb, 2), 32);
}

Config small_config(bool use_slot) {
  Config cfg;
  cfg.model = "smallcnn";
  cfg.use_slot = use_slot;
  cfg.num_classes = 10;
  cfg.slots_per_class = 2;
  return cfg;
}

TEST(BackboneTest, ScouterStateDictKeys) {
  Config cfg;  // resnet18, SCOUTER, MNIST
  auto keys = state_dict_keys(*ScouterModel(cfg, 1));
  for (const char* k :
       {"backbone.conv1.weight", "backbone.bn1.running_mean", "backbone.layer1.0.conv1.weight",
        "backbone.layer2.0.downsample.0.weight", "conv1x1.weight", "conv1x1.bias",
        "slot.initial_slots", "slot.to_q.0.weight", "slot.to_q.0.bias", "slot.to_k.0.weight",
        "slot.to_k.0.bias", "slot.gru.weight_ih_l0", "slot.gru.weight_hh_l0", "slot.gru.bias_ih_l0",
        "slot.gru.bias_hh_l0"}) {
    EXPECT_TRUE(keys.count(k)) << k;
  }
  EXPECT_FALSE(keys.count("backbone.fc.weight"));
  EXPECT_FALSE(keys.count("backbone.fc.bias"));
  EXPECT_FALSE(keys.count("slot.to_k.2.weight"));  // to_k_layer 1
  cfg.to_k_layer = 3;
  keys = state_dict_keys(*ScouterModel(cfg, 1));
  EXPECT_TRUE(keys.count("slot.to_k.2.weight") && keys.count("slot.to_k.4.bias"));
}

TEST(BackboneTest, FcStateDictKeys) {
  Config cfg;
  cfg.use_slot = false;
  auto keys = state_dict_keys(*ScouterModel(cfg, 1));
  EXPECT_TRUE(keys.count("backbone.fc.weight") && keys.count("backbone.fc.bias"));
  EXPECT_TRUE(keys.count("backbone.layer4.1.bn2.running_var"));
  for (const auto& k : keys) {
    EXPECT_EQ(k.rfind("backbone.", 0), 0u) << k;  // no conv1x1, no slot
  }
}

TEST(BackboneTest, ModelsRunEndToEnd) {
  auto images = torch::randn({2, 1, 28, 28});
  ScouterModel scouter(small_config(true), 1);
  ModelOutput out = scouter->forward(images);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(out.attn.sizes(), (std::vector<int64_t>{2, 20, 49}));
  EXPECT_EQ(class_attention_maps(out, 10, 2).sizes(), (std::vector<int64_t>{2, 10, 7, 7}));
  auto labels = torch::tensor({3, 7}, torch::kInt64);
  LossParts loss = compute_loss(out, labels, 2.0);
  EXPECT_NEAR(loss.total.item<double>(), (loss.nll + loss.attn).item<double>(), 1e-6);
  EXPECT_NEAR(loss.attn.item<double>(), 2.0 * out.attn_loss.item<double>(), 1e-6);

  ScouterModel fc(small_config(false), 1);
  ModelOutput fo = fc->forward(images);
  EXPECT_EQ(fo.logits.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_FALSE(fo.attn.defined());
  LossParts fl = compute_loss(fo, labels, 2.0);
  EXPECT_EQ(fl.attn.item<double>(), 0.0);
  fl.total.backward();
  EXPECT_TRUE(fc->backbone->named_parameters()["fc.weight"].grad().defined());
}

TEST(BackboneTest, ChannelMismatchIsAUserError) {
  Config cfg;
  cfg.channel = 2048;  // resnet18 has 512
  try {
    ScouterModel model(cfg, 1);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("channel"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("512"), std::string::npos) << e.hint();
  }
  cfg.channel = 512;
  EXPECT_NO_THROW(ScouterModel(cfg, 1));
}

TEST(BackboneTest, HiddenDimNotAMultipleOfFourIsAUserError) {
  Config cfg = small_config(true);
  cfg.hidden_dim = 6;
  EXPECT_THROW(ScouterModel(cfg, 1), UserError);
}

TEST(BackboneTest, UnknownModelIsAUserError) {
  try {
    make_backbone("resnet101", 3, 0);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'resnet101'"), std::string::npos);
    // The project's rows, then any a test of this executable registered.
    EXPECT_EQ(e.hint().rfind("valid: resnet18, resnet50, resnest26d, resnest50d, smallcnn", 0), 0u)
        << e.hint();
  }
  EXPECT_THROW(backbone_channels("vgg"), UserError);
  Config cfg;
  cfg.model = "nope";
  EXPECT_THROW(ScouterModel(cfg, 1), UserError);
}

}  // namespace
}  // namespace scouter
