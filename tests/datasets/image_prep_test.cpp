// The image converters on small datasets generated in their real layouts (ImageNet with flat and
// sorted val, CUB-200-2011, Con-Text) from the fixture images: labels, class order, splits,
// pixels equal to PIL's decode+resize, boxes, bad images, and the layout errors a user meets.
#include "datasets/image_prep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/h5.h"
#include "datasets/layout_fixture.h"
#include "datasets/shard_reader.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::by_source;
using testing::expect_pixels;
using testing::ImagePrepTest;
using testing::write_text;

// ---- ImageNet ----

class ImageNetPrepTest : public ImagePrepTest {
 protected:
  void SetUp() override {
    place("rgb.jpg", "train/n01000001/a.JPEG");
    place("gray.jpg", "train/n01000001/b.JPEG");
    place("cmyk.jpg", "train/n01000001/c.JPEG");
    place("rgb.png", "train/n01000001/d.png");
    write_text(src_ + "/train/n01000001/notes.txt", "not an image: not listed\n");
    place("rgb444_progressive.jpg", "train/n01000002/e.JPEG");
    place("palette.png", "train/n01000002/f.JPEG");  // a PNG named .JPEG, as in ImageNet
    place("rgba.png", "train/n01000002/g.PNG");
    place("truncated.jpg", "train/n01000002/h.JPEG");
    place("small.png", "train/n01000003/i.JPEG");
    write_text(src_ + "/LOC_synset_mapping.txt",
               "n01000001 tench, Tinca tinca\nn01000002 goldfish, Carassius auratus\n"
               "n01000003 great white shark\n");
  }
  void flat_val() {
    place("gray_alpha.png", "val/ILSVRC2012_val_00000001.JPEG");
    place("garbage.jpg", "val/ILSVRC2012_val_00000002.JPEG");
    place("bilevel.png", "val/ILSVRC2012_val_00000003.JPEG");
    place("rgb16.png", "val/ILSVRC2012_val_00000004.JPEG");
    place("gray16.png", "val/ILSVRC2012_val_00000006.JPEG");
    place("rgb.jpg", "val/ILSVRC2012_val_00000099.JPEG");  // in no CSV row: left out
    write_text(src_ + "/LOC_val_solution.csv",
               "ImageId,PredictionString\r\n"
               "ILSVRC2012_val_00000001,n01000002 2 3 10 12 n01000001 0 0 27 20 "
               "n01000002 5 1 20 15 \r\n"
               "ILSVRC2012_val_00000002,n01000002 1 1 5 5 \r\n"
               "ILSVRC2012_val_00000003,n01000003 1 1 5 5 \r\n"
               "ILSVRC2012_val_00000004,n01000001 3 2 35 25 \r\n"
               "ILSVRC2012_val_00000005,n01000001 1 1 5 5 \r\n"
               "ILSVRC2012_val_00000006,n01000001 4 4 8 9 \r\n");
  }
};

TEST_F(ImageNetPrepTest, FlatValWithSolutionFile) {
  flat_val();
  ImagePrepOptions o = options();
  o.num_classes = 2;
  ImagePrepResult r = prep_image_dataset("ImageNet", o, nullptr);
  EXPECT_EQ(r.source_count, 8 + 5);  // class 3 and the unlisted val image are left out
  EXPECT_EQ(r.bad_count, 3);         // truncated, garbage, listed but missing
  EXPECT_EQ(r.train_count, 7);
  EXPECT_EQ(r.val_count, 3);

  auto train = testing::read_stored(out_, "train");
  auto val = testing::read_stored(out_, "val");
  expect_pixels(train, origin_);
  expect_pixels(val, origin_);
  std::set<int64_t> labels;
  for (const auto& s : train) {
    EXPECT_EQ(s.label, s.source.find("n01000001") != std::string::npos ? 0 : 1) << s.source;
    EXPECT_EQ(s.box[2], -1.f);  // no train boxes
    labels.insert(s.label);
  }
  EXPECT_EQ(labels, (std::set<int64_t>{0, 1}));

  // Val: labels from the solution file, in ImageId order; box = union of the class's boxes.
  ASSERT_EQ(val.size(), 3u);
  EXPECT_EQ(val[0].source, "val/ILSVRC2012_val_00000001.JPEG");
  EXPECT_EQ(val[1].source, "val/ILSVRC2012_val_00000004.JPEG");
  EXPECT_EQ(val[2].source, "val/ILSVRC2012_val_00000006.JPEG");
  EXPECT_EQ(val[0].label, 1);
  EXPECT_EQ(val[1].label, 0);
  auto [w, h] = testing::fixture_size("gray_alpha.png");
  double sx = static_cast<double>(size_) / w, sy = static_cast<double>(size_) / h;
  EXPECT_NEAR(val[0].box[0], 2 * sx, 1e-4);  // x1 = min(2, 5); the n01000001 box is ignored
  EXPECT_NEAR(val[0].box[1], 1 * sy, 1e-4);
  EXPECT_NEAR(val[0].box[2], (20 - 2) * sx, 1e-4);
  EXPECT_NEAR(val[0].box[3], (15 - 1) * sy, 1e-4);
  auto [w4, h4] = testing::fixture_size("rgb16.png");  // 30 x 22: the box is clipped to it
  EXPECT_NEAR(val[1].box[2], (w4 - 3) * static_cast<double>(size_) / w4, 1e-4);
  EXPECT_NEAR(val[1].box[1], 2.0 * size_ / h4, 1e-4);
  EXPECT_NEAR(val[1].box[1] + val[1].box[3], size_, 1e-4);

  auto set = ShardSet::open(out_, "val");
  EXPECT_EQ(set->meta().class_names, (std::vector<std::string>{"n01000001", "n01000002"}));
  EXPECT_TRUE(set->meta().flip_allowed);
  EXPECT_EQ(set->meta().mean, (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(set->meta().source_files,
            (std::vector<std::string>{"LOC_synset_mapping.txt", "LOC_val_solution.csv"}));
  EXPECT_EQ(set->meta().source_sha256[1], sha256_file(src_ + "/LOC_val_solution.csv"));
  h5::Handle f = h5::open_file(set->paths()[0]);
  EXPECT_EQ(h5::read_attr_strings(f.get(), "class_descriptions"),
            (std::vector<std::string>{"tench, Tinca tinca", "goldfish, Carassius auratus"}));

  std::string report = read_text_file(out_ + "/bad_images.txt");
  EXPECT_EQ(std::count(report.begin(), report.end(), '\n'), 3);
  EXPECT_NE(report.find("train/n01000002/h.JPEG: truncated JPEG"), std::string::npos);
  EXPECT_NE(report.find("val/ILSVRC2012_val_00000002.JPEG: neither JPEG nor PNG"),
            std::string::npos);
  EXPECT_NE(report.find("val/ILSVRC2012_val_00000005.JPEG: cannot open"), std::string::npos);
}

TEST_F(ImageNetPrepTest, SortedValWithAndWithoutSolutionFile) {
  place("rgb.jpg", "val/n01000001/ILSVRC2012_val_00000007.JPEG");
  place("gray.png", "val/n01000002/ILSVRC2012_val_00000008.JPEG");
  place("rgb.png", "val/n01000003/ILSVRC2012_val_00000009.JPEG");
  ImagePrepOptions o = options();
  prep_image_dataset("ImageNet", o, nullptr);  // all three classes
  auto val = testing::read_stored(out_, "val");
  ASSERT_EQ(val.size(), 3u);
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(val[static_cast<size_t>(c)].label, c);
  expect_pixels(val, origin_);
  EXPECT_FALSE(ShardSet::open(out_, "val")->meta().has_boxes);

  // With the solution file beside it: boxes of the image's own class.
  write_text(src_ + "/LOC_val_solution.csv",
             "ImageId,PredictionString\n"
             "ILSVRC2012_val_00000007,n01000001 4 6 20 18\n"
             "ILSVRC2012_val_00000008,n01000003 1 1 5 5\n");
  prep_image_dataset("ImageNet", o, nullptr);
  val = testing::read_stored(out_, "val");
  auto [w, h] = testing::fixture_size("rgb.jpg");
  EXPECT_NEAR(val[0].box[0], 4.0 * size_ / w, 1e-4);
  EXPECT_NEAR(val[0].box[3], 12.0 * size_ / h, 1e-4);
  EXPECT_EQ(val[1].box[2], -1.f);  // its only box belongs to another class
  EXPECT_EQ(val[2].box[2], -1.f);  // no row
}

TEST_F(ImageNetPrepTest, FlatValNeedsTheSolutionFile) {
  place("rgb.jpg", "val/ILSVRC2012_val_00000001.JPEG");
  std::string msg =
      testing::user_error_message([&] { prep_image_dataset("ImageNet", options(), nullptr); });
  EXPECT_NE(msg.find("LOC_val_solution.csv"), std::string::npos) << msg;
  ImagePrepOptions o = options();
  o.num_classes = 4;
  msg = testing::user_error_message([&] { prep_image_dataset("ImageNet", o, nullptr); });
  EXPECT_NE(msg.find("--num_classes 4"), std::string::npos) << msg;
}

// ---- CUB-200-2011 ----

class CubPrepTest : public ImagePrepTest {
 protected:
  void SetUp() override {
    const char* images[] = {"001.Black_footed_Albatross/a.jpg", "001.Black_footed_Albatross/b.jpg",
                            "002.Laysan_Albatross/c.jpg",       "002.Laysan_Albatross/d.jpg",
                            "002.Laysan_Albatross/e.png",       "003.Sooty_Albatross/f.jpg"};
    const char* fixtures[] = {"rgb.jpg",     "cmyk.jpg", "gray.jpg", "rgb444_progressive.jpg",
                              "palette.png", "rgb.png"};
    std::string list, labels, split, boxes;
    for (int i = 0; i < 6; ++i) {
      place(fixtures[i], std::string("images/") + images[i]);
      list += std::to_string(i + 1) + " " + images[i] + "\n";
      labels += std::to_string(i + 1) + " " + std::string(images[i]).substr(0, 3).back() + "\n";
      split += std::to_string(i + 1) + (i % 2 == 0 ? " 1\n" : " 0\n");
      boxes += std::to_string(i + 1) + " 2.0 3.0 " + std::to_string(10 + i) + ".0 8.5\n";
    }
    write_text(src_ + "/images.txt", list);
    write_text(src_ + "/image_class_labels.txt", labels);
    write_text(src_ + "/train_test_split.txt", split);
    write_text(src_ + "/bounding_boxes.txt", boxes);
    write_text(src_ + "/classes.txt",
               "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n");
  }
};

TEST_F(CubPrepTest, LabelsSplitsAndBoxes) {
  ImagePrepOptions o = options();
  o.num_classes = 2;
  ImagePrepResult r = prep_image_dataset("CUB200", o, nullptr);
  EXPECT_EQ(r.bad_count, 0);
  auto train = testing::read_stored(out_, "train");
  auto val = testing::read_stored(out_, "val");
  ASSERT_EQ(train.size(), 3u);  // ids 1, 3, 5
  ASSERT_EQ(val.size(), 2u);    // ids 2, 4 (id 6 is class 3)
  expect_pixels(train, origin_);
  expect_pixels(val, origin_);
  EXPECT_EQ(val[0].source, "images/001.Black_footed_Albatross/b.jpg");  // id order
  EXPECT_EQ(val[0].label, 0);
  EXPECT_EQ(val[1].label, 1);
  EXPECT_EQ(by_source(train, "images/002.Laysan_Albatross/e.png").label, 1);
  auto [w, h] = testing::fixture_size("cmyk.jpg");  // id 2: box 2 3 11 8.5
  EXPECT_NEAR(val[0].box[0], 2.0 * size_ / w, 1e-4);
  EXPECT_NEAR(val[0].box[1], 3.0 * size_ / h, 1e-4);
  EXPECT_NEAR(val[0].box[2], 11.0 * size_ / w, 1e-4);
  EXPECT_NEAR(val[0].box[3], 8.5 * size_ / h, 1e-4);
  auto set = ShardSet::open(out_, "train");
  EXPECT_EQ(set->meta().class_names,
            (std::vector<std::string>{"Black_footed_Albatross", "Laysan_Albatross"}));
  EXPECT_TRUE(set->meta().has_boxes);
  EXPECT_EQ(set->meta().source_files.size(), 5u);
}

// A box with nothing inside its image makes the sample bad (counted, reported, subject to
// --max_bad_fraction), never an empty stored box; a box partly outside is clipped.
TEST_F(CubPrepTest, BoxOutsideTheImageIsABadSample) {
  auto [w1, h1] = testing::fixture_size("rgb.jpg");                 // id 1, train
  auto [w3, h3] = testing::fixture_size("gray.jpg");                // id 3, train
  auto [w4, h4] = testing::fixture_size("rgb444_progressive.jpg");  // id 4, val
  write_text(src_ + "/bounding_boxes.txt",
             str_format("1 {} 1 10 {}\n2 2 3 4 5\n3 {} 0 4 4\n4 1 {} 4 2\n5 2 3 4 5\n6 2 3 4 5\n",
                        w1 - 3, h1 + 7, w3, h4 + 0.5));
  ImagePrepOptions o = options();
  o.max_bad_fraction = 0.5;
  ImagePrepResult r = prep_image_dataset("CUB200", o, nullptr);
  EXPECT_EQ(r.source_count, 6);
  EXPECT_EQ(r.bad_count, 2);  // id 3 starts at the right edge, id 4 below the bottom
  auto train = testing::read_stored(out_, "train");
  auto val = testing::read_stored(out_, "val");
  EXPECT_EQ(train.size() + val.size(), 4u);
  for (const auto* split : {&train, &val})
    for (const auto& s : *split) {
      EXPECT_NE(s.source, "images/002.Laysan_Albatross/c.jpg");
      EXPECT_NE(s.source, "images/002.Laysan_Albatross/d.jpg");
      EXPECT_GT(s.box[2], 0.f) << s.source;
      EXPECT_GT(s.box[3], 0.f) << s.source;
    }
  const auto& clipped = by_source(train, "images/001.Black_footed_Albatross/a.jpg");
  EXPECT_NEAR(clipped.box[0], (w1 - 3.0) * size_ / w1, 1e-4);
  EXPECT_NEAR(clipped.box[2], 3.0 * size_ / w1, 1e-4);  // 10 wide, 3 inside
  EXPECT_NEAR(clipped.box[1] + clipped.box[3], size_, 1e-4);
  std::string report = read_text_file(out_ + "/bad_images.txt");
  EXPECT_NE(report.find(str_format("images/002.Laysan_Albatross/c.jpg: its box (x {}, y 0, w 4, "
                                   "h 4) lies outside the {}x{} image",
                                   w3, w3, h3)),
            std::string::npos)
      << report;
  EXPECT_NE(report.find(str_format("images/002.Laysan_Albatross/d.jpg: its box (x 1, y {}, w 4, "
                                   "h 2) lies outside the {}x{} image",
                                   h4 + 0.5, w4, h4)),
            std::string::npos)
      << report;

  o.max_bad_fraction = 0.3;  // 2 of 6 is more
  o.out = dir_.file("strict");
  std::string msg = testing::user_error_message([&] { prep_image_dataset("CUB200", o, nullptr); });
  EXPECT_NE(msg.find("2 of 6 source images"), std::string::npos) << msg;
  EXPECT_NE(msg.find("box lies outside"), std::string::npos) << msg;
}

TEST_F(CubPrepTest, MissingLayoutFileIsNamed) {
  std::filesystem::remove(src_ + "/images.txt");
  std::string msg =
      testing::user_error_message([&] { prep_image_dataset("CUB200", options(), nullptr); });
  EXPECT_NE(msg.find("images.txt"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("bounding_boxes"), std::string::npos) << msg;  // one file, the missing one
}

TEST_F(CubPrepTest, InconsistentLayoutFilesAreNamed) {
  write_text(src_ + "/bounding_boxes.txt", "1 2 3 4 5\n2 2 3 4 5\n");
  std::string msg =
      testing::user_error_message([&] { prep_image_dataset("CUB200", options(), nullptr); });
  EXPECT_NE(msg.find("bounding_boxes.txt' has no line for image id 3"), std::string::npos) << msg;
  write_text(src_ + "/train_test_split.txt", "1 1\n2 x\n");
  msg = testing::user_error_message([&] { prep_image_dataset("CUB200", options(), nullptr); });
  EXPECT_NE(msg.find("train_test_split.txt"), std::string::npos) << msg;
}

// ---- Con-Text ----

class ContextPrepTest : public ImagePrepTest {
 protected:
  void SetUp() override {
    const char* fixtures[] = {"rgb.jpg",  "gray.jpg",  "cmyk.jpg",       "rgb.png",  "rgba.png",
                              "gray.png", "small.png", "gray_alpha.png", "rgb16.png"};
    int k = 0;
    for (const char* cat : {"Pizzeria", "Bakery", "Cafe"})
      for (int i = 1; i <= 5; ++i) {
        std::string name = fixtures[k++ % 9];
        place(name, std::string(cat) + "_" + std::to_string(i) + name.substr(name.rfind('.')));
      }
  }
};

TEST_F(ContextPrepTest, CategoriesFromNamesAndASeededStratifiedSplit) {
  ImagePrepResult r = prep_image_dataset("ConText", options(), nullptr);
  EXPECT_EQ(r.train_count, 12);  // 4 of each category
  EXPECT_EQ(r.val_count, 3);     // round(5 / 5) = 1 of each
  auto train = testing::read_stored(out_, "train");
  auto val = testing::read_stored(out_, "val");
  expect_pixels(train, origin_);
  expect_pixels(val, origin_);
  const std::vector<std::string> names = {"Bakery", "Cafe", "Pizzeria"};  // sorted
  for (const auto* split : {&train, &val})
    for (const auto& s : *split)
      EXPECT_EQ(names[static_cast<size_t>(s.label)], s.source.substr(0, s.source.find('_')));
  for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(val[static_cast<size_t>(c)].label, c);
  auto meta = ShardSet::open(out_, "train")->meta();
  EXPECT_EQ(meta.class_names, names);
  EXPECT_FALSE(meta.flip_allowed);
  EXPECT_FALSE(meta.has_boxes);

  // The same seed gives the same split and order; another seed another split.
  ImagePrepOptions o = options();
  o.out = dir_.file("again");
  prep_image_dataset("ConText", o, nullptr);
  auto again = testing::read_stored(o.out, "val");
  for (size_t i = 0; i < val.size(); ++i) EXPECT_EQ(again[i].source, val[i].source);
  o.out = dir_.file("seed5");
  o.seed = 5;
  prep_image_dataset("ConText", o, nullptr);
  auto other = testing::read_stored(o.out, "val");
  int same = 0;
  for (size_t i = 0; i < val.size(); ++i) same += other[i].source == val[i].source;
  EXPECT_LT(same, 3);
}

TEST_F(ContextPrepTest, NamesWithoutCategoryAreRefused) {
  place("rgb.jpg", "nocategory.jpg");
  std::string msg =
      testing::user_error_message([&] { prep_image_dataset("ConText", options(), nullptr); });
  EXPECT_NE(msg.find("nocategory.jpg"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
