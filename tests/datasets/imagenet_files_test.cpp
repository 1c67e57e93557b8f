// The readers of the ILSVRC2012 devkit and box files: meta.mat's leaf classes (scipy's fixture,
// tests/tools/make_devkit_fixtures.py), the ground truth's line-per-image ids, the XML boxes,
// and the one-line errors for their mistakes.
#include "datasets/imagenet_files.h"

#include <gtest/gtest.h>

#include "datasets/layout_fixture.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::user_error_message;
using testing::write_text;

std::string meta_path() { return testing::fixtures_dir() + "/imagenet_devkit/meta.mat"; }

TEST(ImageNetFilesTest, MetaMatLeavesAndGroundTruth) {
  DevkitMeta meta = read_devkit_meta(meta_path());
  EXPECT_EQ(meta.wnid_of_id,
            (std::map<int64_t, std::string>{{1, "n01000003"},
                                            {2, "n01000001"},
                                            {3, "n01000002"},
                                            {4, "n01000004"}}));  // not the parent, id 5
  EXPECT_EQ(meta.words.at("n01000002"), "goldfish, Carassius auratus");

  testing::TempDir dir;
  const std::string truth = dir.file("ILSVRC2012_validation_ground_truth.txt");
  write_text(truth, "3\n1\r\n4\n\n");  // CRLF and a blank last line are fine
  EXPECT_EQ(read_ground_truth(truth, meta_path(), meta),
            (std::map<std::string, std::string>{{"ILSVRC2012_val_00000001", "n01000002"},
                                                {"ILSVRC2012_val_00000002", "n01000003"},
                                                {"ILSVRC2012_val_00000003", "n01000004"}}));
  write_text(truth, "3\n5\n");  // the parent's id is no class
  std::string msg = user_error_message([&] { read_ground_truth(truth, meta_path(), meta); });
  EXPECT_NE(
      msg.find(truth + "' line 2: '5' is not the ILSVRC2012_ID of a class in '" + meta_path()),
      std::string::npos)
      << msg;
  write_text(truth, "3\n\n1\n");  // would shift every later label
  msg = user_error_message([&] { read_ground_truth(truth, meta_path(), meta); });
  EXPECT_NE(msg.find(truth + "' line 2 is empty"), std::string::npos) << msg;

  // The same synsets stored with other number types (uint16 ids, uint8 num_children) read alike.
  EXPECT_EQ(read_devkit_meta(testing::fixtures_dir() + "/imagenet_devkit/meta_uncompressed.mat")
                .wnid_of_id,
            meta.wnid_of_id);
}

TEST(ImageNetFilesTest, BoxXml) {
  testing::TempDir dir;
  const std::string xml = dir.file("ILSVRC2012_val_00000001.xml");
  write_text(xml,
             "<annotation><filename>ILSVRC2012_val_00000001</filename><size><width>500</width>"
             "<height>375</height></size>\n<object>\n\t<name>n01751748</name>\n\t<bndbox>\n\t\t"
             "<xmin>111</xmin>\n\t\t<ymin>108</ymin>\n\t\t<xmax>441</xmax>\n\t\t<ymax>375</ymax>"
             "\n\t</bndbox>\n</object><object><name>n09999999</name><bndbox><xmin>1</xmin>"
             "<ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>"
             "<object><name>n01751748</name><bndbox><xmin>0</xmin><ymin>0.5</ymin><xmax>9</xmax>"
             "<ymax>10</ymax></bndbox></object></annotation>\n");
  EXPECT_EQ(read_box_xml(xml, "n01751748"),
            (std::vector<CornerBox>{{111, 108, 441, 375}, {0, 0.5f, 9, 10}}));
  EXPECT_EQ(read_box_xml(xml, "n09999999"), (std::vector<CornerBox>{{1, 2, 3, 4}}));
  EXPECT_TRUE(read_box_xml(xml, "n00000000").empty());

  write_text(xml,
             "<annotation><object><name>n1</name><bndbox><xmin>1</xmin></bndbox></object>"
             "<object><name>n1</name></object></annotation>");
  std::string msg = user_error_message([&] { read_box_xml(xml, "n1"); });
  EXPECT_NE(msg.find(xml + "': <object> 1 <bndbox> has 0 <ymin> elements, expected 1"),
            std::string::npos)
      << msg;
  write_text(xml,
             "<annotation><object><name>n1</name><bndbox><xmin>5</xmin><ymin>1</ymin>"
             "<xmax>4</xmax><ymax>2</ymax></bndbox></object></annotation>");
  msg = user_error_message([&] { read_box_xml(xml, "n1"); });
  EXPECT_NE(msg.find(xml + "': <object> 1: a box with x2 < x1"), std::string::npos) << msg;
  write_text(xml, "<annotation><object><name>n1</name><bndbox><xmin>5");
  msg = user_error_message([&] { read_box_xml(xml, "n1"); });
  EXPECT_NE(msg.find(xml + "': <object> without its </object>"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
