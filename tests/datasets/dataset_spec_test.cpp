// The dataset table (datasets/dataset_spec.h): its rows, the check of the `dataset` key, and a
// dataset added from this file alone (a layout function and one registered row) that the image
// converter prepares and the shard reader reads, as a new dataset of the project would be.
#include "datasets/dataset_spec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "datasets/idx_prep.h"
#include "datasets/layout_files.h"
#include "datasets/layout_fixture.h"
#include "datasets/shard_reader.h"
#include "test_util.h"

namespace scouter {
namespace {

// A test-only layout: src/<class>/<images>, classes and files sorted by name; each class's first
// file goes to val, the others to train. No boxes.
ImageListing list_folders(const std::string& src, const LayoutOptions& opt) {
  ImageListing L;
  L.root = src;
  for (const auto& cls : list_folder(src, true, "a test class folder")) {
    if (opt.num_classes > 0 && static_cast<int64_t>(L.class_names.size()) == opt.num_classes) break;
    const auto label = static_cast<int64_t>(L.class_names.size());
    L.class_names.push_back(cls);
    std::vector<std::string> files = list_folder(src + "/" + cls, false, "a test class folder");
    for (size_t i = 0; i < files.size(); ++i)
      (i == 0 ? L.val : L.train).push_back({cls + "/" + files[i], label, {-1, -1, -1, -1}});
  }
  return L;
}

DatasetSpec folders_spec() {
  DatasetSpec d;
  d.name = "TestFolders";
  d.kind = DatasetKind::kImages;
  d.channels = 3;
  d.default_dir = "data/test-folders";
  d.mean = {0.5, 0.25, 0.125};
  d.std = {0.2, 0.3, 0.4};
  d.list = list_folders;
  return d;
}

const DatasetRegistrar kFolders(folders_spec());

TEST(DatasetSpec, ProjectRowsComeFirstInTheirOrder) {
  const std::vector<std::string> project = {"MNIST", "FashionMNIST", "CUB200", "ConText",
                                            "ImageNet"};
  std::vector<std::string> names = dataset_names();
  ASSERT_GE(names.size(), project.size());
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 5), project);
  EXPECT_EQ(names.back(), "TestFolders");  // registered rows follow
  // docs/architecture.md "Adding a dataset" lists them.
  std::string doc = read_text_file(testing::source_dir() + "/docs/architecture.md");
  std::replace(doc.begin(), doc.end(), '\n', ' ');
  EXPECT_NE(doc.find(": " + join(project, ", ") + ". "), std::string::npos);
}

// What the layers above rely on, for every row (the one registered here too).
TEST(DatasetSpec, EveryRowIsComplete) {
  std::set<std::string> names, dirs;
  for (const DatasetSpec& d : dataset_specs()) {
    SCOPED_TRACE(d.name);
    EXPECT_TRUE(names.insert(d.name).second);
    EXPECT_TRUE(dirs.insert(d.default_dir).second) << d.default_dir;
    EXPECT_EQ(d.mean.size(), d.std.size());
    if (d.kind == DatasetKind::kIdx) {
      EXPECT_EQ(d.channels, 1);
      EXPECT_GE(d.class_names.size(), 2u);
      EXPECT_EQ(d.list, nullptr);
      EXPECT_EQ(idx_class_names(d.name), d.class_names);
    } else {
      EXPECT_EQ(d.channels, 3);
      EXPECT_NE(d.list, nullptr);
      EXPECT_EQ(d.mean.size(), 3u);
    }
  }
}

TEST(DatasetSpec, TheConfigDefaultsAreARowAndItsFolder) {
  const Config defaults;
  const DatasetSpec* d = find_dataset(defaults.dataset);
  ASSERT_NE(d, nullptr) << defaults.dataset;
  EXPECT_EQ(defaults.dataset_dir, d->default_dir);
}

TEST(DatasetSpec, TheRgbDatasetsUseTheImageNetNormalisation) {
  for (const char* name : {"CUB200", "ConText", "ImageNet"}) {
    EXPECT_EQ(find_dataset(name)->mean, (std::vector<double>{0.485, 0.456, 0.406})) << name;
    EXPECT_EQ(find_dataset(name)->std, (std::vector<double>{0.229, 0.224, 0.225})) << name;
  }
  EXPECT_TRUE(find_dataset("MNIST")->mean.empty());  // measured on the train split
}

// One line at the key's origin (file:line, or the option), naming every row.
TEST(DatasetSpec, AnUnknownNameIsRefusedWhereItWasSet) {
  testing::TempDir dir;
  testing::write_bytes(dir.file("run.toml"), "epochs = 1\ndataset = \"CIFAR\"\n");
  Config cfg;
  Origins origins;
  apply_toml_file(cfg, dir.file("run.toml"), &origins);
  try {
    check_dataset_key(cfg, origins);
    FAIL() << "CIFAR accepted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("run.toml") + ":2: invalid value \"CIFAR\" for key 'dataset'");
    EXPECT_EQ(e.hint(), "valid: " + join(dataset_names(), ", "));
  }
  apply_override(cfg, "dataset", "Imagenet", &origins);
  EXPECT_EQ(testing::user_error_message([&] { check_dataset_key(cfg, origins); }),
            "--dataset: invalid value \"Imagenet\" for key 'dataset'");
  apply_override(cfg, "dataset", "TestFolders", &origins);
  EXPECT_NO_THROW(check_dataset_key(cfg, origins));
  EXPECT_EQ(testing::user_error_message([] { dataset_spec("Imagenet", "command line"); }),
            "command line: unknown dataset 'Imagenet'");
}

TEST(DatasetSpec, ARowIsRegisteredOnce) {
  EXPECT_THROW(register_dataset(folders_spec()), Error);
  DatasetSpec no_layout = folders_spec();
  no_layout.name = "NoLayout";
  no_layout.list = nullptr;
  EXPECT_THROW(register_dataset(no_layout), Error);
  EXPECT_EQ(find_dataset("NoLayout"), nullptr);
}

class RegisteredDataset : public testing::ImagePrepTest {};

// The converter takes the registered row like the project's own: its layout lists the images and
// classes, its normalisation goes into the shards, and the reader reads them back.
TEST_F(RegisteredDataset, IsPreparedAndRead) {
  place("rgb.jpg", "cat/a.jpg");
  place("gray.png", "cat/b.png");
  place("rgb.png", "cat/c.png");
  place("cmyk.jpg", "dog/a.jpg");
  place("rgba.png", "dog/b.png");
  ImagePrepResult r = prep_image_dataset("TestFolders", options(), nullptr);
  EXPECT_EQ(r.train_count, 3);
  EXPECT_EQ(r.val_count, 2);
  for (const char* split : {"train", "val"}) {
    SCOPED_TRACE(split);
    auto set = ShardSet::open(out_, split);
    const ShardMeta& m = set->meta();
    EXPECT_EQ(m.dataset, "TestFolders");
    EXPECT_EQ(m.channels, 3);
    EXPECT_EQ(m.class_names, (std::vector<std::string>{"cat", "dog"}));
    EXPECT_EQ(m.mean, folders_spec().mean);
    EXPECT_EQ(m.std, folders_spec().std);
    testing::expect_pixels(testing::read_stored(out_, split), origin_);
  }
  EXPECT_EQ(testing::by_source(testing::read_stored(out_, "val"), "dog/a.jpg").label, 1);
  EXPECT_TRUE(prep_image_dataset("TestFolders", options(), nullptr).up_to_date);
  // Not an IDX dataset, and the IDX converter says so, naming the IDX rows.
  std::string msg;
  try {
    idx_class_names("TestFolders");
  } catch (const UserError& e) {
    msg = e.hint();
  }
  EXPECT_EQ(msg, "IDX datasets: MNIST, FashionMNIST");
}

}  // namespace
}  // namespace scouter
