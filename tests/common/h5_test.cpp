#include "common/h5.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_util.h"

namespace scouter {
namespace {

using testing::TempDir;

TEST(H5, DatasetsAndAttributesRoundTrip) {
  TempDir dir;
  std::string path = dir.file("t.h5");
  std::vector<float> data{1.5f, -2, 3, 4, 5, 6};
  {
    h5::Handle f = h5::create_file(path);
    h5::write<float>(f.get(), "group/with.dots", {2, 3}, data.data(), {1, 3});
    h5::write_attr(f.get(), "s", std::string("hello"));
    h5::write_attr(f.get(), "i", int64_t{-7});
    h5::write_attr(f.get(), "d", 0.25);
    h5::write_attr(f.get(), "names", std::vector<std::string>{"a", "bb", ""});
    h5::write_attr(f.get(), "v", std::vector<double>{1, 2});
    h5::write_attr(f.get(), "no_names", std::vector<std::string>{});
    h5::write_attr(f.get(), "no_values", std::vector<double>{});
  }
  h5::Handle f = h5::open_file(path);
  auto info = h5::dataset_info(f.get(), "group/with.dots");
  EXPECT_EQ(info.dims, (std::vector<hsize_t>{2, 3}));
  EXPECT_EQ(info.type_class, H5T_FLOAT);
  EXPECT_EQ(h5::read<float>(f.get(), "group/with.dots"), data);
  EXPECT_EQ(h5::read_attr_string(f.get(), "s"), "hello");
  EXPECT_EQ(h5::read_attr_int(f.get(), "i"), -7);
  EXPECT_DOUBLE_EQ(h5::read_attr_double(f.get(), "d"), 0.25);
  EXPECT_EQ(h5::read_attr_strings(f.get(), "names"), (std::vector<std::string>{"a", "bb", ""}));
  EXPECT_EQ(h5::read_attr_doubles(f.get(), "v"), (std::vector<double>{1, 2}));
  EXPECT_TRUE(h5::read_attr_strings(f.get(), "no_names").empty());
  EXPECT_TRUE(h5::read_attr_doubles(f.get(), "no_values").empty());
  h5::Handle g = h5::open_group(f.get(), "group");
  EXPECT_EQ(h5::list_children(g.get()), std::vector<std::string>{"with.dots"});

  h5::Handle ds = h5::open_dataset(f.get(), "group/with.dots");
  std::vector<float> row(3);
  h5::read_rows(ds.get(), H5T_NATIVE_FLOAT, 1, 1, row.data());
  EXPECT_EQ(row, (std::vector<float>{4, 5, 6}));
  EXPECT_THROW(h5::read_rows(ds.get(), H5T_NATIVE_FLOAT, 1, 2, row.data()), Error);
}

TEST(H5, FailuresCarryTheLibraryMessage) {
  TempDir dir;
  testing::write_bytes(dir.file("garbage.h5"), "this is not HDF5");
  EXPECT_FALSE(h5::is_hdf5(dir.file("garbage.h5")));
  try {
    h5::open_file(dir.file("garbage.h5"));
    FAIL() << "opened garbage";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("H5Fopen"), std::string::npos) << msg;
  }
  h5::Handle f = h5::create_file(dir.file("ok.h5"));
  EXPECT_THROW(h5::read_attr_int(f.get(), "absent"), Error);
  EXPECT_THROW(h5::open_dataset(f.get(), "absent"), Error);
}

}  // namespace
}  // namespace scouter
