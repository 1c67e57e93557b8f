// The MAT-file reader on files scipy.io.savemat wrote (tests/fixtures/imagenet_devkit/, from
// tests/tools/make_devkit_fixtures.py: the values below are that script's table), and on damaged
// copies of them: every damage is a UserError naming the file, never a crash.
#include "datasets/mat_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "common/error.h"
#include "test_util.h"

namespace scouter {
namespace {

std::string fixture(const std::string& name) {
  return testing::fixtures_dir() + "/imagenet_devkit/" + name;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const MatArray& field(const MatArray& s, int64_t e, const std::string& name) {
  const MatArray* f = s.field(e, name);
  if (!f) throw Error("no field " + name);
  return *f;
}

void expect_synsets(const MatArray& s) {
  ASSERT_EQ(s.kind, MatArray::Kind::kStruct);
  EXPECT_EQ(s.dims, (std::vector<int64_t>{5, 1}));
  const std::vector<std::string> names = {
      "ILSVRC2012_ID", "WNID",     "words",          "gloss",
      "num_children",  "children", "wordnet_height", "num_train_images"};
  ASSERT_GE(s.field_names.size(), names.size());
  EXPECT_EQ(std::vector<std::string>(s.field_names.begin(), s.field_names.begin() + 8), names);
  const char* wnids[] = {"n01000003", "n01000001", "n01000002", "n01000004", "n00000001"};
  for (int64_t e = 0; e < 5; ++e) {
    SCOPED_TRACE(e);
    EXPECT_EQ(field(s, e, "ILSVRC2012_ID").numbers, std::vector<double>{double(e + 1)});
    EXPECT_EQ(field(s, e, "WNID").kind, MatArray::Kind::kText);
    EXPECT_EQ(field(s, e, "WNID").text, wnids[e]);
    EXPECT_EQ(field(s, e, "gloss").text, "a gloss with a non-ASCII letter: caf\xc3\xa9");
    EXPECT_EQ(field(s, e, "num_children").numbers, std::vector<double>{e == 4 ? 4.0 : 0.0});
    EXPECT_EQ(field(s, e, "num_train_images").numbers, std::vector<double>{1300.0});
    EXPECT_EQ(field(s, e, "children").kind, MatArray::Kind::kNumeric);
    EXPECT_EQ(field(s, e, "children").numbers,
              e == 4 ? (std::vector<double>{1, 2, 3, 4}) : std::vector<double>{});
  }
  EXPECT_EQ(field(s, 1, "words").text, "tench, Tinca tinca");
  EXPECT_EQ(s.field(5, "WNID"), nullptr);
  EXPECT_EQ(s.field(0, "nope"), nullptr);
}

TEST(MatFileTest, ReadsCompressedStructArrays) {
  expect_synsets(read_mat_variable(fixture("meta.mat"), "synsets"));
}

TEST(MatFileTest, ReadsOtherStorageTypesAndSkipsWhatItDoesNotRead) {
  const std::string path = fixture("meta_uncompressed.mat");
  MatArray s = read_mat_variable(path, "synsets");
  expect_synsets(s);  // ids uint16, num_children uint8, num_train_images single
  EXPECT_EQ(field(s, 0, "notes").kind, MatArray::Kind::kOther);  // a cell array
  MatArray first = read_mat_variable(path, "aaa_first");         // numpy [[0, 1, 2], [3, 4, 5]]
  EXPECT_EQ(first.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(first.numbers, (std::vector<double>{0, 3, 1, 4, 2, 5}));  // column-major
  std::string msg = testing::user_error_message([&] { read_mat_variable(path, "nope"); });
  EXPECT_NE(msg.find("holds no variable 'nope' (it holds: aaa_first, synsets)"), std::string::npos)
      << msg;
}

// Every truncation and every flipped byte either reads or fails with a UserError naming the file.
TEST(MatFileTest, DamageIsAUserError) {
  const std::string path = "damaged.mat";
  auto error_of = [&](const std::vector<uint8_t>& bytes) {
    try {
      parse_mat_variable(bytes, "synsets", path);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (const char* name : {"meta.mat", "meta_uncompressed.mat"}) {
    const std::string file = bytes_of(fixture(name));
    const std::vector<uint8_t> good(file.begin(), file.end());
    SCOPED_TRACE(name);
    EXPECT_EQ(error_of(good), "");
    for (size_t n = 0; n < good.size(); ++n) {  // every proper prefix
      std::string msg = error_of({good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)});
      EXPECT_EQ(msg.find("'" + path + "'"), 0u) << n << ": " << msg;
    }
    for (size_t i = 128; i < good.size(); ++i) {  // every byte after the header, flipped
      std::vector<uint8_t> bad = good;
      bad[i] = static_cast<uint8_t>(~bad[i]);
      std::string msg = error_of(bad);  // a flip in a name or a value may still read
      EXPECT_TRUE(msg.empty() || msg.find("'" + path + "'") == 0) << i << ": " << msg;
    }
  }
  std::string v73 = bytes_of(fixture("meta.mat"));
  v73.replace(0, 10, "MATLAB 7.3");
  std::string msg = error_of({v73.begin(), v73.end()});
  EXPECT_NE(msg.find("a v7.3 MAT-file (HDF5)"), std::string::npos) << msg;
  testing::TempDir dir;
  testing::write_bytes(dir.file("text.mat"), "ILSVRC2012_ID,WNID\n");
  msg = testing::user_error_message([&] { read_mat_variable(dir.file("text.mat"), "synsets"); });
  EXPECT_NE(msg.find("shorter than the 128-byte header"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scouter
