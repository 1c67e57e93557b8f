// image_decode and convert_image against PIL (tests/fixtures/convert_images/expected.h5, written
// by tests/tools/make_convert_fixtures.py): decoded pixels and decoded+resized pixels must be
// identical; broken files must be refused with a reason; a YCCK JPEG (which PIL cannot write)
// decodes as Adobe CMYK within JPEG's rounding; a header claiming a huge picture is refused
// before decoding, and so is a progressive JPEG of too many scans.
#include "datasets/image_decode.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>

// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>

#include "common/files.h"
#include "common/h5.h"
#include "datasets/image_convert.h"
#include "datasets/layout_fixture.h"
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

// Interleaved `pixels` of `components` samples as a JPEG; `configure` adjusts libjpeg's defaults.
std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& pixels, int w, int h, int components,
                                 J_COLOR_SPACE space,
                                 const std::function<void(jpeg_compress_struct&)>& configure) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = components;
  c.in_color_space = space;
  jpeg_set_defaults(&c);
  configure(c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(
        &pixels[static_cast<size_t>(c.next_scanline) * static_cast<size_t>(w * components)]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

std::vector<uint8_t> encode_ycck(const std::vector<uint8_t>& cmyk, int w, int h) {
  return encode_jpeg(cmyk, w, h, 4, JCS_CMYK, [](jpeg_compress_struct& c) {
    jpeg_set_colorspace(&c, JCS_YCCK);  // also writes the Adobe marker (transform 2)
    jpeg_set_quality(&c, 100, TRUE);
    for (int k = 0; k < 4; ++k) c.comp_info[k].h_samp_factor = c.comp_info[k].v_samp_factor = 1;
  });
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

// A w x h gray JPEG of a gradient; `scans`, when given, is its progressive scan script.
std::vector<uint8_t> encode_gray(int w, int h, const std::vector<jpeg_scan_info>& scans = {}) {
  std::vector<uint8_t> gray(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      gray[static_cast<size_t>(y) * w + x] = static_cast<uint8_t>(3 * x + 5 * y);
  return encode_jpeg(gray, w, h, 1, JCS_GRAYSCALE, [&](jpeg_compress_struct& c) {
    if (scans.empty()) return;
    c.scan_info = scans.data();
    c.num_scans = static_cast<int>(scans.size());
  });
}

// The JPEG with its frame header (SOF0..SOF2) claiming w x h.
std::vector<uint8_t> claim_jpeg_size(std::vector<uint8_t> jpeg, int w, int h) {
  for (size_t p = 2; p + 9 <= jpeg.size(); p += 2 + (jpeg[p + 2] << 8 | jpeg[p + 3])) {
    if (jpeg[p] != 0xFF) break;
    if (jpeg[p + 1] >= 0xC0 && jpeg[p + 1] <= 0xC2) {  // FF Cn, length, precision, height, width
      jpeg[p + 5] = static_cast<uint8_t>(h >> 8);
      jpeg[p + 6] = static_cast<uint8_t>(h);
      jpeg[p + 7] = static_cast<uint8_t>(w >> 8);
      jpeg[p + 8] = static_cast<uint8_t>(w);
      return jpeg;
    }
  }
  ADD_FAILURE() << "no frame header";
  return jpeg;
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  RgbImage img;
  try {
    decode_image(bytes.data(), bytes.size(), &img);
  } catch (const BadImage& e) {
    return e.what();
  }
  return "decoded";
}

std::string claims(int64_t w, int64_t h) {
  return std::to_string(w) + "x" + std::to_string(h) + " = " + std::to_string(w * h) +
         " pixels, over the limit of " + std::to_string(kMaxImagePixels);
}

// A mutation-fuzzing campaign's bomb: a 1.5 KB JPEG claiming 16000 x 16000 used to be
// decoded into 1.1 GB of gray. Refused from the header now, for JPEG and PNG alike.
TEST(ImageDecode, HeadersClaimingTooManyPixelsAreRefusedBeforeDecoding) {
  const std::vector<uint8_t> jpeg = encode_gray(64, 64);
  ASSERT_LT(jpeg.size(), 1500u);
  RgbImage img;
  decode_image(jpeg.data(), jpeg.size(), &img);  // as written: decodes
  EXPECT_EQ(img.width, 64);
  EXPECT_EQ(img.height, 64);
  std::string msg = decode_error(claim_jpeg_size(jpeg, 16000, 16000));
  EXPECT_EQ(msg.find("header claims " + claims(16000, 16000)), 0u) << msg;
  msg = decode_error(claim_jpeg_size(jpeg, 8193, 8192));  // one column over 8192 x 8192
  EXPECT_EQ(msg.find("header claims " + claims(8193, 8192)), 0u) << msg;

  msg = decode_error(testing::png_claiming(16000, 16000));
  EXPECT_EQ(msg.find("header claims " + claims(16000, 16000)), 0u) << msg;
  msg = decode_error(testing::png_claiming(8192, 8193));
  EXPECT_EQ(msg.find("header claims " + claims(8192, 8193)), 0u) << msg;
  // A thin picture under the pixel limit, with a side over 65535; beyond libpng's own default
  // limit of 1,000,000 too, which would otherwise answer first.
  for (int64_t side : {kMaxImageSide + 1, kMaxImagePixels}) {
    msg = decode_error(testing::png_claiming(side, 1));
    EXPECT_EQ(msg, "header claims " + std::to_string(side) +
                       "x1 pixels, over the limit of 65535 pixels a side");
  }
  // At the limits the size is accepted: the decoder then finds the data missing.
  for (auto [w, h] : {std::pair<int64_t, int64_t>{8192, 8192}, {kMaxImageSide, 1}}) {
    msg = decode_error(testing::png_claiming(w, h));
    EXPECT_EQ(msg.find("corrupt PNG"), 0u) << w << "x" << h << ": " << msg;
  }
  std::vector<uint8_t> png = testing::png_claiming(16, 16);
  decode_image(png.data(), png.size(), &img);
  EXPECT_EQ(img.planar, std::vector<uint8_t>(3 * 16 * 16, 77));
}

// A progressive script of one DC scan, then each AC coefficient alone in `bits` + 1 scans:
// successive approximation from bit `bits` down to 0, so the coefficients end up exact.
std::vector<jpeg_scan_info> one_coefficient_scans(int bits) {
  std::vector<jpeg_scan_info> scans = {{1, {0}, 0, 0, 0, 0}};
  for (int k = 1; k < 64; ++k) {
    scans.push_back({1, {0}, k, k, 0, bits});
    for (int al = bits - 1; al >= 0; --al) scans.push_back({1, {0}, k, k, al + 1, al});
  }
  return scans;
}

TEST(ImageDecode, ProgressiveJpegsOfTooManyScansAreRefused) {
  RgbImage sequential, progressive;
  const std::vector<uint8_t> plain = encode_gray(40, 24);
  decode_image(plain.data(), plain.size(), &sequential);
  const std::vector<jpeg_scan_info> under = one_coefficient_scans(5);  // 1 + 63 * 6 = 379 scans
  ASSERT_EQ(under.size(), 379u);
  const std::vector<uint8_t> many = encode_gray(40, 24, under);
  decode_image(many.data(), many.size(), &progressive);
  EXPECT_EQ(progressive.planar, sequential.planar);  // same coefficients, only in more scans
  const std::vector<jpeg_scan_info> over = one_coefficient_scans(7);  // 1 + 63 * 8 = 505
  ASSERT_EQ(over.size(), 505u);
  const std::vector<uint8_t> too_many = encode_gray(40, 24, over);
  EXPECT_EQ(decode_error(too_many), "corrupt JPEG: more than 500 scans (encoders write about 10)");
}

}  // namespace
}  // namespace scouter
