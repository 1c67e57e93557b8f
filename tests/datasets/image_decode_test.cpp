// image_decode and convert_image against PIL (tests/fixtures/convert_images/expected.h5, written
// by tests/tools/make_convert_fixtures.py): decoded pixels and decoded+resized pixels must be
// identical; broken files must be refused with a reason; a YCCK JPEG (which PIL cannot write)
// decodes as Adobe CMYK within JPEG's rounding.
#include "datasets/image_decode.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>

#include "common/files.h"
#include "common/h5.h"
#include "datasets/image_convert.h"
#include "test_util.h"

namespace scouter {
namespace {

std::string fixture(const std::string& name) {
  return testing::fixtures_dir() + "/convert_images/" + name;
}

std::vector<std::string> fixture_names(hid_t f, const std::string& group) {
  h5::Handle g = h5::open_group(f, group);
  return h5::list_children(g.get());
}

int mismatches(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return -1;
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return n;
}

class ImageDecodeFixture : public ::testing::Test {
 protected:
  void SetUp() override { file_ = h5::open_file(fixture("expected.h5")); }
  h5::Handle file_;
};

TEST_F(ImageDecodeFixture, DecodesEveryKindLikePil) {
  std::vector<std::string> names = fixture_names(file_.get(), "decoded");
  ASSERT_GE(names.size(), 13u);  // jpg: rgb, gray, cmyk, progressive 4:4:4; png: 9 kinds
  std::vector<uint8_t> scratch;
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto dims = h5::dataset_info(file_.get(), "decoded/" + name).dims;
    auto expected = h5::read<uint8_t>(file_.get(), "decoded/" + name);
    RgbImage img;
    decode_image_file(fixture(name), &img, &scratch);
    EXPECT_EQ(img.height, static_cast<int>(dims[1]));
    EXPECT_EQ(img.width, static_cast<int>(dims[2]));
    EXPECT_EQ(mismatches(img.planar, expected), 0);
  }
}

TEST_F(ImageDecodeFixture, ResizedPixelsMatchPilBilinear) {
  int64_t size = h5::read_attr_int(file_.get(), "img_size");
  for (const auto& name : fixture_names(file_.get(), "resized")) {
    SCOPED_TRACE(name);
    auto expected = h5::read<uint8_t>(file_.get(), "resized/" + name);
    std::vector<uint8_t> out(static_cast<size_t>(3 * size * size));
    float box[4];
    convert_image(fixture(name), size, {-1.f, -1.f, -1.f, -1.f}, out.data(), box);
    EXPECT_EQ(mismatches(out, expected), 0);
    EXPECT_EQ(box[2], -1.f);
  }
}

TEST_F(ImageDecodeFixture, BrokenFilesAreRefusedWithAReason) {
  std::vector<std::string> bad = h5::read_attr_strings(file_.get(), "bad");
  ASSERT_EQ(bad.size(), 2u);
  std::vector<uint8_t> scratch;
  RgbImage img;
  auto reason = [&](const std::string& path) -> std::string {
    try {
      decode_image_file(path, &img, &scratch);
    } catch (const BadImage& e) {
      return e.what();
    }
    return "decoded";
  };
  EXPECT_NE(reason(fixture("truncated.jpg")).find("truncated JPEG"), std::string::npos);
  EXPECT_NE(reason(fixture("garbage.jpg")).find("neither JPEG nor PNG"), std::string::npos);
  EXPECT_NE(reason(fixture("no_such_file.jpg")).find("cannot open"), std::string::npos);
  testing::TempDir dir;
  testing::write_bytes(dir.file("empty.jpg"), "");
  EXPECT_EQ(reason(dir.file("empty.jpg")), "empty file");
  std::string png = read_text_file(fixture("rgb.png"));
  testing::write_bytes(dir.file("cut.png"), png.substr(0, png.size() / 2));
  EXPECT_NE(reason(dir.file("cut.png")).find("corrupt PNG"), std::string::npos);
  std::string jpeg = read_text_file(fixture("rgb.jpg"));
  testing::write_bytes(dir.file("junk.jpg"), jpeg.substr(0, 4) + std::string(40, '\x17'));
  EXPECT_NE(reason(dir.file("junk.jpg")).find("JPEG"), std::string::npos);
}

TEST_F(ImageDecodeFixture, FormatComesFromTheBytesNotTheName) {
  // ImageNet's train set holds a PNG and CMYK JPEGs named .JPEG.
  testing::TempDir dir;
  std::filesystem::copy_file(fixture("rgb.png"), dir.file("n02105855_2933.JPEG"));
  RgbImage img;
  std::vector<uint8_t> scratch;
  decode_image_file(dir.file("n02105855_2933.JPEG"), &img, &scratch);
  EXPECT_EQ(mismatches(img.planar, h5::read<uint8_t>(file_.get(), "decoded/rgb.png")), 0);
}

// PIL's cmyk2rgb on Adobe-inverted samples.
uint8_t adobe_cmyk_to_rgb(int stored_ink, int stored_k) {
  int t = (255 - stored_ink) * stored_k + 128;
  return static_cast<uint8_t>(stored_k - (((t >> 8) + t) >> 8));
}

std::vector<uint8_t> encode_ycck(const std::vector<uint8_t>& cmyk, int w, int h) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, JCS_YCCK);  // also writes the Adobe marker (transform 2)
  jpeg_set_quality(&c, 100, TRUE);
  for (int k = 0; k < 4; ++k) c.comp_info[k].h_samp_factor = c.comp_info[k].v_samp_factor = 1;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(&cmyk[static_cast<size_t>(c.next_scanline) * w * 4]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

TEST(ImageDecode, YcckJpegDecodesAsAdobeCmyk) {
  const int w = 24, h = 16;
  std::vector<uint8_t> cmyk(static_cast<size_t>(w) * h * 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 4; ++k)
        cmyk[(static_cast<size_t>(y) * w + x) * 4 + k] =
            static_cast<uint8_t>(k == 3 ? 120 + 5 * y : 20 + 9 * x + 4 * y * (k + 1));
  std::vector<uint8_t> jpeg = encode_ycck(cmyk, w, h);
  RgbImage img;
  decode_image(jpeg.data(), jpeg.size(), &img);
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  int worst = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < 3; ++ch) {
        const uint8_t* px = &cmyk[(static_cast<size_t>(y) * w + x) * 4];
        int expected = adobe_cmyk_to_rgb(px[ch], px[3]);
        int got = img.planar[(static_cast<size_t>(ch) * h + y) * w + x];
        worst = std::max(worst, std::abs(got - expected));
      }
  EXPECT_LE(worst, 6);  // JPEG at quality 100, no subsampling: a few levels of rounding
}

}  // namespace
}  // namespace scouter
