// A user's image for `explain --image` becomes what prep stores for the run's dataset: PIL's
// pixels (tests/fixtures/convert_images/expected.h5, made by PIL), gray datasets by PIL's
// convert('L'); the box moves into stored pixels; bad files and boxes are one clear error.
#include "datasets/user_image.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/h5.h"
#include "datasets/image_convert.h"
#include "datasets/image_ops.h"
#include "datasets/layout_fixture.h"
#include "test_util.h"

namespace scouter {
namespace {

std::string fixture(const std::string& name) {
  return testing::fixtures_dir() + "/convert_images/" + name;
}

ShardMeta meta_of(int64_t channels, int64_t size) {
  ShardMeta m;
  m.channels = channels;
  m.height = m.width = size;
  return m;
}

// PIL 9.4's Image.new('RGB', (1, 1), c).convert('L').getpixel((0, 0)) for these colours.
TEST(UserImage, LumaIsPilConvertL) {
  const std::vector<std::array<uint8_t, 4>> rgb_l = {
      {255, 0, 0, 76},    {0, 255, 0, 150},   {0, 0, 255, 29}, {255, 255, 255, 255},
      {10, 200, 37, 125}, {123, 45, 250, 92}, {1, 1, 1, 1},    {128, 128, 127, 128}};
  RgbImage img;
  img.width = static_cast<int>(rgb_l.size());
  img.height = 1;
  img.planar.resize(3 * rgb_l.size());
  for (size_t i = 0; i < rgb_l.size(); ++i)
    for (size_t k = 0; k < 3; ++k) img.planar[k * rgb_l.size() + i] = rgb_l[i][k];
  std::vector<uint8_t> out(rgb_l.size());
  rgb_to_luma(img, out.data());
  for (size_t i = 0; i < rgb_l.size(); ++i) EXPECT_EQ(out[i], rgb_l[i][3]) << i;
}

TEST(UserImage, PixelsAreWhatPilMakesOfTheFile) {
  h5::Handle f = h5::open_file(fixture("expected.h5"));
  const int64_t size = h5::read_attr_int(f.get(), "img_size");
  for (const char* name : {"rgb.jpg", "palette.png", "cmyk.jpg"}) {
    SCOPED_TRACE(name);
    UserImage img = load_user_image(fixture(name), meta_of(3, size));
    EXPECT_EQ(img.pixels, h5::read<uint8_t>(f.get(), std::string("resized/") + name));
  }
  // A gray file in a 1-channel dataset: PIL's L of a gray picture is the gray itself, and PIL
  // resizes each channel of the RGB alike, so channel 0 of the RGB resize is the expected plane.
  for (const char* name : {"gray.png", "gray.jpg"}) {
    SCOPED_TRACE(name);
    UserImage img = load_user_image(fixture(name), meta_of(1, size));
    auto rgb = h5::read<uint8_t>(f.get(), std::string("resized/") + name);
    EXPECT_EQ(img.channels, 1);
    EXPECT_EQ(img.pixels, std::vector<uint8_t>(rgb.begin(), rgb.begin() + size * size));
  }
}

TEST(UserImage, BoxMovesIntoStoredPixelsAndMustLieInsideTheImage) {
  testing::TempDir dir;
  const int w = 60, h = 40;
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3), 90);
  write_png(dir.file("a.png"), px.data(), w, h, 3);
  UserImage img = load_user_image(dir.file("a.png"), meta_of(1, 28), {30, 5, 25, 15});
  EXPECT_EQ(img.source_width, 60);
  EXPECT_EQ(img.source_height, 40);
  // Each axis by its own factor: 28/60 and 28/40.
  EXPECT_FLOAT_EQ(img.box[0], 30 * 28 / 60.0f);
  EXPECT_FLOAT_EQ(img.box[1], 5 * 28 / 40.0f);
  EXPECT_FLOAT_EQ(img.box[2], 25 * 28 / 60.0f);
  EXPECT_FLOAT_EQ(img.box[3], 15 * 28 / 40.0f);
  EXPECT_EQ(load_user_image(dir.file("a.png"), meta_of(1, 28)).box[2], -1.f);
  EXPECT_NO_THROW(load_user_image(dir.file("a.png"), meta_of(3, 28), {0, 0, 60, 40}));
  for (SourceBox bad : {SourceBox{50, 5, 25, 15}, SourceBox{-1, 0, 5, 5}, SourceBox{0, 0, 0, 5},
                        SourceBox{0, 30, 5, 11}}) {
    std::string msg = testing::user_error_message(
        [&] { load_user_image(dir.file("a.png"), meta_of(1, 28), bad); });
    EXPECT_NE(msg.find("is not inside '" + dir.file("a.png") + "' (60x40 pixels)"),
              std::string::npos)
        << msg;
  }
  testing::write_bytes(dir.file("notes.gif"), "GIF89a....");
  std::string msg =
      testing::user_error_message([&] { load_user_image(dir.file("notes.gif"), meta_of(1, 28)); });
  EXPECT_NE(msg.find("--image '" + dir.file("notes.gif") + "': neither JPEG nor PNG"),
            std::string::npos)
      << msg;
  msg = testing::user_error_message(
      [&] { load_user_image(dir.file("missing.jpg"), meta_of(1, 28)); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

// A header claiming more than the pixel limit is one error naming the file, its claim and the
// limit, from the header alone (image_decode_test covers the decoders).
TEST(UserImage, PicturesOverThePixelLimitAreRefused) {
  testing::TempDir dir;
  const std::vector<uint8_t> png = testing::png_claiming(16000, 16000);
  testing::write_bytes(dir.file("huge.png"), std::string(png.begin(), png.end()));
  try {
    load_user_image(dir.file("huge.png"), meta_of(3, 28));
    ADD_FAILURE() << "no UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "--image '" + dir.file("huge.png") +
                                         "': header claims 16000x16000 = 256000000 pixels, over "
                                         "the limit of 67108864 (64 megapixels, e.g. 8192x8192)");
    EXPECT_NE(e.hint().find("scale a larger picture down"), std::string::npos) << e.hint();
  }
}

}  // namespace
}  // namespace scouter
