// The backbone table (worker/model/backbone_spec.h): every row builds the backbone it describes
// (feature channels, stage and stem names as freezing, pretrained loading and import read them),
// and the checks of the `model` and `stem` keys.
#include "worker/model/backbone_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "test_util.h"
#include "worker/model/backbone.h"

namespace scouter {
namespace {

std::vector<std::string> child_names(torch::nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& c : m.named_children()) names.push_back(c.key());
  return names;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(BackboneSpec, ProjectRowsComeFirstInTheirOrder) {
  const std::vector<std::string> project = {"resnet18", "resnet50", "resnest26d", "resnest50d",
                                            "smallcnn"};
  std::vector<std::string> names = backbone_names();
  ASSERT_GE(names.size(), project.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5), project);
  EXPECT_EQ(
      backbone_list().rfind("resnet18, resnet50, resnest26d, resnest50d (timm's), smallcnn", 0), 0u)
      << backbone_list();
  EXPECT_NE(find_backbone(Config{}.model), nullptr) << "the config's default model is no row";
  // docs/architecture.md "Adding a backbone" lists them.
  std::string doc = read_text_file(testing::source_dir() + "/docs/architecture.md");
  std::replace(doc.begin(), doc.end(), '\n', ' ');
  EXPECT_NE(doc.find(": " + backbone_list() + ". "), std::string::npos) << backbone_list();
}

// Every row, registered ones too, against the backbone it builds, for 1 and 3 input channels.
TEST(BackboneSpec, EveryRowDescribesTheBackboneItBuilds) {
  for (const BackboneSpec& spec : backbone_specs()) {
    for (int64_t in_chans : {1, 3}) {
      SCOPED_TRACE(spec.name + " in_chans " + std::to_string(in_chans));
      auto bb = make_backbone(spec.name, in_chans, 10);
      EXPECT_EQ(&bb->spec(), &spec);
      EXPECT_EQ(bb->feature_channels(), spec.feature_channels);
      const std::vector<std::string> children = child_names(*bb);
      ASSERT_FALSE(spec.stages.empty());
      for (const auto& stage : spec.stages) EXPECT_TRUE(contains(children, stage)) << stage;
      auto params = bb->named_parameters();
      int64_t stems = 0;
      for (const auto& conv : spec.stem_convs) {
        if (!params.contains(conv)) continue;
        ++stems;
        EXPECT_EQ(params[conv].size(1), in_chans) << conv;
      }
      EXPECT_EQ(stems, 1) << "exactly one stem conv takes the image";
      // The import rule: with 1 channel, "auto" builds the published MNIST stem for kAuto rows
      // and keeps the row's own stem (stem_convs.front()) for kOnRequest rows.
      if (in_chans == 1 && spec.mnist_stem == MnistStem::kAuto) {
        EXPECT_EQ(params[spec.mnist_stem_conv].sizes(), (std::vector<int64_t>{64, 1, 3, 3}));
      }
      if (in_chans == 1 && spec.mnist_stem == MnistStem::kOnRequest) {
        EXPECT_TRUE(params.contains(spec.stem_convs.front()));
      }
    }
    if (spec.mnist_stem == MnistStem::kNone) continue;
    SCOPED_TRACE(spec.name + " with the published stem");
    auto published = make_backbone(spec.name, 1, 0, /*published_stem=*/true)->named_parameters();
    ASSERT_TRUE(published.contains(spec.mnist_stem_conv));
    EXPECT_EQ(published[spec.mnist_stem_conv].sizes(), (std::vector<int64_t>{64, 1, 3, 3}));
    for (const auto& conv : spec.stem_convs) {
      if (conv != spec.mnist_stem_conv) {
        EXPECT_FALSE(published.contains(conv)) << conv;
      }
    }
  }
}

TEST(BackboneSpec, AnUnknownModelIsRefusedWhereItWasSet) {
  testing::TempDir dir;
  testing::write_bytes(dir.file("run.toml"), "model = \"vgg\"\n");
  Config cfg;
  Origins origins;
  apply_toml_file(cfg, dir.file("run.toml"), &origins);
  try {
    validate_run_config(cfg, origins);
    FAIL() << "vgg accepted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("run.toml") + ":1: invalid value \"vgg\" for key 'model'");
    EXPECT_EQ(e.hint(), "valid: " + join(backbone_names(), ", "));
  }
  // The dataset is the dataset table's to check, also here.
  apply_override(cfg, "dataset", "CIFAR", &origins);
  EXPECT_EQ(testing::user_error_message([&] { validate_run_config(cfg, origins); }),
            "--dataset: invalid value \"CIFAR\" for key 'dataset'");
  // Ranges are common's, checked first.
  apply_override(cfg, "epochs", "0", &origins);
  EXPECT_EQ(testing::user_error_message([&] { validate_run_config(cfg, origins); }),
            "--epochs: invalid value 0 for key 'epochs'");
}

// stem = "published": a row with that stem and a 1-channel dataset, both from the tables.
TEST(BackboneSpec, ThePublishedStemNeedsARowWithItAndOneChannel) {
  auto error = [](const std::string& dataset, const std::string& model) {
    Config cfg;
    Origins origins;
    apply_override(cfg, "dataset", dataset, &origins);
    apply_override(cfg, "model", model, &origins);
    apply_override(cfg, "stem", "published", &origins);
    try {
      validate_run_config(cfg, origins);
    } catch (const UserError& e) {
      return std::string(e.what()) + " | " + e.hint();
    }
    return std::string();
  };
  for (const char* model : {"resnet18", "resnet50", "resnest26d", "resnest50d"}) {
    EXPECT_EQ(error("MNIST", model), "") << model;
    EXPECT_EQ(error("FashionMNIST", model), "") << model;
  }
  const std::string refused =
      "--stem: stem = \"published\" is the published MNIST stem of the ResNet family | use it "
      "with a 1-channel dataset (MNIST, FashionMNIST";
  EXPECT_EQ(error("MNIST", "smallcnn").rfind(refused, 0), 0u) << error("MNIST", "smallcnn");
  EXPECT_EQ(error("ImageNet", "resnet18").rfind(refused, 0), 0u);
  EXPECT_NE(error("ImageNet", "resnet18")
                .find("a model that has it (resnet18, resnet50, "
                      "resnest26d, resnest50d"),
            std::string::npos);
}

TEST(BackboneSpec, ARowIsRegisteredOnceAndComplete) {
  BackboneSpec copy = backbone_spec("smallcnn");
  EXPECT_THROW(register_backbone(copy), Error);
  copy.name = "halfmade";
  copy.stem_convs.clear();
  EXPECT_THROW(register_backbone(copy), Error);
  EXPECT_EQ(find_backbone("halfmade"), nullptr);
  EXPECT_EQ(testing::user_error_message([] { backbone_spec("vgg"); }),
            "unknown model 'vgg' (key `model`)");
}

}  // namespace
}  // namespace scouter
