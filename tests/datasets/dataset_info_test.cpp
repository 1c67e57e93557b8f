// What a run keeps of its dataset (datasets/dataset_info.h): RUN/dataset.json written and read
// back, every wrong field one error naming the file and the field, the dataset table's values
// for a run imported without shards, and the class names as people read them.
#include "datasets/dataset_info.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "datasets/dataset_spec.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

DatasetInfo cub_like() {
  DatasetInfo info;
  info.dataset = "CUB200";
  info.from = "shards";
  info.channels = 3;
  info.height = info.width = 64;
  info.num_classes = 2;
  info.class_names = {"Black_footed_Albatross", "Laysan_Albatross"};
  info.class_descriptions = {"", ""};
  info.mean = {0.485, 0.456, 0.406};
  info.std = {0.229, 0.224, 0.225};
  info.flip_allowed = true;
  return info;
}

TEST(DatasetInfo, WrittenAndReadBackUnchanged) {
  TempDir dir;
  EXPECT_FALSE(read_dataset_info(dir.path()).has_value());  // a run made before the file
  const DatasetInfo info = cub_like();
  write_dataset_info(dir.path(), info);
  std::optional<DatasetInfo> back = read_dataset_info(dir.path());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(dataset_info_json(*back), dataset_info_json(info));
  EXPECT_EQ(back->class_names, info.class_names);
  EXPECT_EQ(back->mean, info.mean);
  EXPECT_EQ(back->std, info.std);
  EXPECT_EQ(back->height, 64);
  EXPECT_TRUE(back->flip_allowed);
  ShardMeta meta = shard_meta_of(*back);
  EXPECT_EQ(meta.channels, 3);
  EXPECT_EQ(meta.num_classes, 2);
  EXPECT_EQ(meta.class_names, info.class_names);
}

// Each damage gives one UserError that names the file and what is wrong.
TEST(DatasetInfo, EveryWrongFieldIsOneErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.file(kDatasetInfoFile);
  const nlohmann::json good = nlohmann::json::parse(dataset_info_json(cub_like()));
  struct Case {
    std::string text, expected;
  };
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json j = good;
    if (value.is_discarded())
      j.erase(key);
    else
      j[key] = value;
    return j.dump();
  };
  const nlohmann::json gone = nlohmann::json(nlohmann::json::value_t::discarded);
  const std::vector<Case> cases = {
      {"", "not a JSON object"},
      {"{\"format\": \"scouter-run-dataset\", ", "not a JSON object"},
      {"[1, 2]", "not a JSON object"},
      {with("format", "scouter-shard"), "\"format\" is not \"scouter-run-dataset\""},
      {with("version", 2), "version 2; this scouter reads version 1"},
      {with("dataset", ""), "\"dataset\" must be a non-empty string"},
      {with("channels", 2), "\"channels\" must be 1 or 3"},
      {with("channels", 4), "\"channels\" must be an integer in 1..3, got 4"},
      {with("height", -28), "\"height\" must be an integer in 1..65536, got -28"},
      {with("width", "28"), "\"width\" must be an integer"},
      {with("num_classes", 3), "\"class_names\" must be a list of 3 strings"},
      {with("class_names", {"a", 2}), "\"class_names\" must be a list of 2 strings"},
      {with("class_descriptions", gone), "no \"class_descriptions\""},
      {with("mean", {0.5, 0.5}), "\"mean\" must be a list of 3 finite numbers"},
      {with("std", {0.2, 0.0, 0.2}), "\"std\" must be a list of 3 finite positive numbers"},
      {with("flip_allowed", 1), "\"flip_allowed\" must be true or false"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    testing::write_bytes(path, c.text);
    const std::string message = testing::user_error_message([&] { read_dataset_info(dir.path()); });
    EXPECT_NE(message.find("'" + path + "': "), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  testing::write_bytes(path, good.dump());
  EXPECT_NO_THROW(read_dataset_info(dir.path()));
}

// Without shards: the IDX datasets' size, normalisation (what prep computes from their training
// split, to 6 digits) and names; image datasets at the run's img_size with numbered classes.
TEST(DatasetInfo, DatasetTableGivesWhatARunWithoutShardsNeeds) {
  DatasetInfo fashion = *dataset_info_from_table("FashionMNIST", 10, 260);
  EXPECT_EQ(fashion.from, "dataset table");
  EXPECT_EQ(fashion.channels, 1);
  EXPECT_EQ(fashion.height, 28);
  EXPECT_EQ(fashion.width, 28);
  EXPECT_EQ(fashion.class_names, find_dataset("FashionMNIST")->class_names);
  ASSERT_EQ(fashion.mean.size(), 1u);
  EXPECT_NEAR(fashion.mean[0], 0.2860406, 1e-6);  // numpy over the 60,000 training images
  EXPECT_NEAR(fashion.std[0], 0.3530242, 1e-6);
  EXPECT_FALSE(fashion.flip_allowed);
  DatasetInfo mnist = *dataset_info_from_table("MNIST", 10, 0);
  EXPECT_NEAR(mnist.mean[0], 0.1307, 1e-4);  // the published constants
  EXPECT_NEAR(mnist.std[0], 0.3081, 1e-4);

  DatasetInfo imagenet = *dataset_info_from_table("ImageNet", 100, 224);
  EXPECT_EQ(imagenet.channels, 3);
  EXPECT_EQ(imagenet.height, 224);
  EXPECT_EQ(imagenet.num_classes, 100);
  EXPECT_EQ(imagenet.class_names[42], "class 42");
  EXPECT_EQ(imagenet.mean, find_dataset("ImageNet")->mean);
  EXPECT_EQ(dataset_info_from_table("CUB200", 200, 0)->height, 260);  // prep's default size
  EXPECT_NE(testing::user_error_message([] {
              dataset_info_from_table("Nope", 3, 0);
            }).find("unknown dataset 'Nope'"),
            std::string::npos);
}

TEST(DatasetInfo, ClassNamesAsPeopleReadThem) {
  DatasetInfo cub = cub_like();
  EXPECT_EQ(class_display_name(cub, 0), "Black footed Albatross");
  EXPECT_EQ(class_label(cub, 1), "1 Laysan Albatross");
  EXPECT_EQ(class_label(cub, 7), "7");  // beyond the names

  DatasetInfo imagenet = *dataset_info_from_table("ImageNet", 2, 0);
  imagenet.class_names = {"n01440764", "n01443537"};
  imagenet.class_descriptions = {"tench, Tinca tinca", ""};
  EXPECT_EQ(class_display_name(imagenet, 0), "n01440764 tench");
  EXPECT_EQ(class_display_name(imagenet, 1), "n01443537");
  EXPECT_EQ(class_label(imagenet, 0), "0 n01440764 tench");

  DatasetInfo fashion = *dataset_info_from_table("FashionMNIST", 10, 0);
  EXPECT_EQ(class_label(fashion, 3), "3 Dress");
  EXPECT_EQ(class_display_names(fashion).back(), "Ankle boot");
  EXPECT_EQ(class_label(*dataset_info_from_table("MNIST", 10, 0), 3), "3");
  DatasetInfo numbered = *dataset_info_from_table("ConText", 5, 0);
  EXPECT_EQ(class_label(numbered, 3), "class 3");
  // Names that say nothing, which shards replace where they are read; real names are kept.
  EXPECT_FALSE(has_class_names(numbered));
  EXPECT_TRUE(has_class_names(fashion));
  EXPECT_TRUE(has_class_names(cub));
}

}  // namespace
}  // namespace scouter
