// ImageNet's official ILSVRC2012 layout (train/, flat ILSVRC2012_img_val/, the devkit's ground
// truth and meta.mat, ILSVRC2012_bbox_val_v3 XML boxes) against Kaggle's layout of the same
// images, and the layout mistakes a user meets: disagreeing label sources, a folder inside the
// Kaggle archive passed as --src, no layout at all. meta.mat is scipy's, from
// tests/tools/make_devkit_fixtures.py (ILSVRC2012_ID 1 = n01000003, 2 = n01000001,
// 3 = n01000002, 4 = n01000004, 5 = their parent).
#include <gtest/gtest.h>

#include <filesystem>

#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "datasets/dataset_info.h"
#include "datasets/image_prep.h"
#include "datasets/layout_fixture.h"
#include "datasets/shard_reader.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

using testing::user_error_message;
using testing::write_text;

struct Object {
  std::string wnid;
  int x1, y1, x2, y2;
};

struct ValImage {
  std::string fixture;
  int ground_truth_id;          // ILSVRC2012_ID of the label
  std::vector<Object> objects;  // the first is of the label's class (Kaggle's label)
};

// Images 1..6. 4 is of n01000004, which has no train folder: left out. 5's box lies wholly
// outside its 27x19 image: a bad image. 2's box is clipped to the 48-pixel width.
const std::vector<ValImage> kVal = {
    {"gray_alpha.png",
     3,
     {{"n01000002", 2, 3, 10, 12}, {"n01000001", 0, 0, 27, 20}, {"n01000002", 5, 1, 20, 15}}},
    {"rgb.jpg", 2, {{"n01000001", 3, 2, 60, 25}}},
    {"bilevel.png", 1, {{"n01000003", 1, 1, 5, 5}}},
    {"rgb16.png", 4, {{"n01000004", 1, 1, 5, 5}}},
    {"gray16.png", 2, {{"n01000001", 30, 2, 40, 9}}},
    {"palette.png", 3, {{"n01000002", 4, 5, 30, 20}, {"n01000003", 0, 0, 2, 2}}},
};

std::string image_id(size_t i) { return str_format("ILSVRC2012_val_{:08d}", i + 1); }

// ILSVRC2012_bbox_val_v3's format, tabs and all.
std::string box_xml(size_t i, const ValImage& v) {
  auto [w, h] = testing::fixture_size(v.fixture);
  std::string x = str_format(
      "<annotation>\n\t<folder>val</folder>\n\t<filename>{}</filename>\n\t<source>\n\t\t"
      "<database>ILSVRC_2012</database>\n\t</source>\n\t<size>\n\t\t<width>{}</width>\n\t\t"
      "<height>{}</height>\n\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n",
      image_id(i), w, h);
  for (const auto& o : v.objects)
    x += str_format(
        "\t<object>\n\t\t<name>{}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0"
        "</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{}</xmin>\n\t\t\t"
        "<ymin>{}</ymin>\n\t\t\t<xmax>{}</xmax>\n\t\t\t<ymax>{}</ymax>\n\t\t</bndbox>\n\t"
        "</object>\n",
        o.wnid, o.x1, o.y1, o.x2, o.y2);
  return x + "</annotation>\n";
}

std::string solution_csv(const std::vector<ValImage>& val) {
  std::string csv = "ImageId,PredictionString\n";
  for (size_t i = 0; i < val.size(); ++i) {
    csv += image_id(i) + ",";
    for (const auto& o : val[i].objects)
      csv += str_format("{} {} {} {} {} ", o.wnid, o.x1, o.y1, o.x2, o.y2);
    csv += "\n";
  }
  return csv;
}

class ImageNetLayoutTest : public testing::ImagePrepTest {
 protected:
  // The official layout in src_, the same images in Kaggle's layout in kaggle_.
  void SetUp() override {
    const char* train[][2] = {{"rgb.jpg", "n01000001/a.JPEG"},
                              {"gray.jpg", "n01000001/b.JPEG"},
                              {"cmyk.jpg", "n01000002/c.JPEG"},
                              {"truncated.jpg", "n01000002/d.JPEG"},
                              {"rgb.png", "n01000003/e.JPEG"}};
    const std::string cls_loc = kaggle_ + "/ILSVRC/Data/CLS-LOC";
    for (const auto& t : train) {
      place(t[0], std::string("train/") + t[1]);
      testing::place_image(t[0], cls_loc + "/train/" + t[1]);
    }
    std::string truth;
    for (size_t i = 0; i < kVal.size(); ++i) {
      place(kVal[i].fixture, "ILSVRC2012_img_val/" + image_id(i) + ".JPEG");
      testing::place_image(kVal[i].fixture, cls_loc + "/val/" + image_id(i) + ".JPEG");
      write_text(src_ + "/ILSVRC2012_bbox_val_v3/val/" + image_id(i) + ".xml", box_xml(i, kVal[i]));
      truth += std::to_string(kVal[i].ground_truth_id) + "\n";
    }
    const std::string data = src_ + "/ILSVRC2012_devkit_t12/data";
    write_text(data + "/ILSVRC2012_validation_ground_truth.txt", truth);
    fs::copy_file(testing::fixtures_dir() + "/imagenet_devkit/meta.mat", data + "/meta.mat");
    write_text(kaggle_ + "/LOC_val_solution.csv", solution_csv(kVal));
    write_text(kaggle_ + "/LOC_synset_mapping.txt",
               "n01000001 tench, Tinca tinca\nn01000002 goldfish, Carassius auratus\n"
               "n01000003 great white shark\nn01000004 hammerhead, hammerhead shark\n");
  }

  std::string kaggle_ = dir_.file("kaggle");
};

TEST_F(ImageNetLayoutTest, OfficialLayoutConvertsLikeKaggle) {
  ImagePrepResult official = prep_image_dataset("ImageNet", options(), nullptr);
  ImagePrepOptions k = options();
  k.src = kaggle_;
  k.out = dir_.file("kaggle_out");
  ImagePrepResult kaggle = prep_image_dataset("ImageNet", k, nullptr);
  EXPECT_EQ(official.source_count, 5 + 5);  // image 4's class has no train folder
  EXPECT_EQ(official.bad_count, 2);         // the truncated train image, image 5's box
  EXPECT_EQ(kaggle.source_count, official.source_count);
  EXPECT_EQ(kaggle.bad_count, official.bad_count);

  for (const char* split : {"train", "val"}) {
    SCOPED_TRACE(split);
    auto a = testing::read_stored(out_, split);
    auto b = testing::read_stored(k.out, split);
    testing::expect_pixels(a, origin_);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].label, b[i].label) << a[i].source;
      EXPECT_EQ(a[i].pixels, b[i].pixels) << a[i].source;
      EXPECT_EQ(a[i].box, b[i].box) << a[i].source;
      std::string kaggle_source = a[i].source;
      if (std::string(split) == "val") kaggle_source.replace(0, 18, "val");
      EXPECT_EQ(kaggle_source, b[i].source);
    }
    auto ma = ShardSet::open(out_, split)->meta(), mb = ShardSet::open(k.out, split)->meta();
    EXPECT_EQ(ma.class_names, mb.class_names);
    EXPECT_EQ(ma.has_boxes, mb.has_boxes);
    EXPECT_EQ(h5::read_attr_strings(h5::open_file(ShardSet::open(out_, split)->paths()[0]).get(),
                                    "class_descriptions"),
              h5::read_attr_strings(h5::open_file(ShardSet::open(k.out, split)->paths()[0]).get(),
                                    "class_descriptions"));
  }

  // What a run keeps of them: the wnids with their first words (LOC_synset_mapping.txt's).
  DatasetInfo info = dataset_info_from_shards(*ShardSet::open(out_, "val"));
  EXPECT_EQ(class_display_name(info, 0), "n01000001 tench");
  EXPECT_EQ(class_label(info, 1), "1 n01000002 goldfish");

  // What both produce: labels through meta.mat's ids (not sorted), the union of the label's boxes.
  auto val = testing::read_stored(out_, "val");
  ASSERT_EQ(val.size(), 4u);  // images 1, 2, 3, 6
  EXPECT_EQ(val[0].source, "ILSVRC2012_img_val/ILSVRC2012_val_00000001.JPEG");
  std::vector<int64_t> labels;
  for (const auto& s : val) labels.push_back(s.label);
  EXPECT_EQ(labels, (std::vector<int64_t>{1, 0, 2, 1}));
  auto [w, h] = testing::fixture_size("gray_alpha.png");
  const double sx = static_cast<double>(size_) / w, sy = static_cast<double>(size_) / h;
  EXPECT_NEAR(val[0].box[0], 2 * sx, 1e-4);
  EXPECT_NEAR(val[0].box[1], 1 * sy, 1e-4);
  EXPECT_NEAR(val[0].box[2], 18 * sx, 1e-4);
  EXPECT_NEAR(val[0].box[3], 14 * sy, 1e-4);
  EXPECT_NEAR(val[1].box[0] + val[1].box[2], size_, 1e-4);  // clipped at the right edge
  auto meta = ShardSet::open(out_, "val")->meta();
  EXPECT_EQ(meta.source_files,
            (std::vector<std::string>{"meta.mat", "ILSVRC2012_validation_ground_truth.txt"}));
  EXPECT_NE(read_text_file(out_ + "/bad_images.txt")
                .find("ILSVRC2012_img_val/ILSVRC2012_val_00000005.JPEG: its box (x 30, y 2, "
                      "w 10, h 7) lies outside the 27x19 image"),
            std::string::npos);
}

TEST_F(ImageNetLayoutTest, LabelSourcesMustAgree) {
  // Kaggle's CSV beside the devkit: both are read, they agree, the conversion goes ahead.
  fs::copy_file(kaggle_ + "/LOC_val_solution.csv", src_ + "/LOC_val_solution.csv");
  ImagePrepResult r = prep_image_dataset("ImageNet", options(), nullptr);
  EXPECT_EQ(r.val_count, 4);
  EXPECT_EQ(ShardSet::open(out_, "val")->meta().source_files.size(), 3u);

  std::vector<ValImage> other = kVal;
  other[2].objects[0].wnid = "n01000001";  // image 3 is n01000003 by the ground truth
  write_text(src_ + "/LOC_val_solution.csv", solution_csv(other));
  ImagePrepOptions o = options();
  o.out = dir_.file("never");
  std::string msg = user_error_message([&] { prep_image_dataset("ImageNet", o, nullptr); });
  EXPECT_NE(msg.find("disagree at ILSVRC2012_val_00000003: '" + src_ +
                     "/LOC_val_solution.csv' says n01000001"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("ILSVRC2012_validation_ground_truth.txt' with '" + src_ +
                     "/ILSVRC2012_devkit_t12/data/meta.mat' says n01000003"),
            std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(o.out));

  other = kVal;
  other.pop_back();  // no row for image 6
  write_text(src_ + "/LOC_val_solution.csv", solution_csv(other));
  msg = user_error_message([&] { prep_image_dataset("ImageNet", o, nullptr); });
  EXPECT_NE(msg.find("disagree at ILSVRC2012_val_00000006: '" + src_ +
                     "/LOC_val_solution.csv' says no row"),
            std::string::npos)
      << msg;
}

TEST_F(ImageNetLayoutTest, FolderInsideTheKaggleArchiveNamesTheRoot) {
  const std::string root = fs::canonical(kaggle_).string();
  for (const char* inside : {"/ILSVRC/Data/CLS-LOC", "/ILSVRC/Data/CLS-LOC/", "/ILSVRC"}) {
    ImagePrepOptions o = options();
    o.src = kaggle_ + inside;
    std::string msg = user_error_message([&] { prep_image_dataset("ImageNet", o, nullptr); });
    EXPECT_NE(msg.find("pass the Kaggle root '" + root + "' instead"), std::string::npos) << msg;
  }
}

TEST_F(ImageNetLayoutTest, MissingLayoutsAreListed) {
  ImagePrepOptions o = options();
  o.src = dir_.file("empty");
  fs::create_directories(o.src);
  std::string msg = user_error_message([&] { prep_image_dataset("ImageNet", o, nullptr); });
  EXPECT_NE(msg.find("looked for '" + o.src + "/train/' (official layout) and '" + o.src +
                     "/ILSVRC/Data/CLS-LOC/train/' (Kaggle root)"),
            std::string::npos)
      << msg;

  // Flat val images with neither label source.
  fs::remove_all(src_ + "/ILSVRC2012_devkit_t12");
  msg = user_error_message([&] { prep_image_dataset("ImageNet", options(), nullptr); });
  EXPECT_NE(msg.find("looked for '" + src_ + "/LOC_val_solution.csv' (Kaggle) and '" + src_ +
                     "/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt' with "
                     "meta.mat (devkit)"),
            std::string::npos)
      << msg;

  // A devkit without its meta.mat.
  write_text(src_ + "/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", "1\n");
  msg = user_error_message([&] { prep_image_dataset("ImageNet", options(), nullptr); });
  EXPECT_NE(msg.find("devkit file '" + src_ + "/ILSVRC2012_devkit_t12/data/meta.mat' is missing"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace scouter
