#include "datasets/image_decode.h"

#include <fmt/format.h>
#include <png.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

// jpeglib.h needs size_t and FILE declared before it.
#include <jerror.h>
#include <jpeglib.h>

namespace scouter {
namespace {

// Why a header's claimed size is refused, or "" when it may be decoded: checked before any pixel
// memory is allocated, since a broken header can claim anything.
std::string size_problem(int64_t w, int64_t h) {
  if (w <= 0 || h <= 0) return fmt::format("header claims an empty {}x{} image", w, h);
  if (w > kMaxImageSide || h > kMaxImageSide)
    return fmt::format("header claims {}x{} pixels, over the limit of {} pixels a side", w, h,
                       kMaxImageSide);
  if (w * h > kMaxImagePixels)
    return fmt::format(
        "header claims {}x{} = {} pixels, over the limit of {} (64 megapixels, e.g. "
        "8192x8192)",
        w, h, w * h, kMaxImagePixels);
  return "";
}

// PIL's MULDIV255: a * b / 255, rounded, in integers.
inline int muldiv255(int a, int b) {
  int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// One decoded row of `channels` interleaved samples -> row y of the planar RGB image.
void store_row(const uint8_t* row, int channels, bool adobe_cmyk, int y, RgbImage* out) {
  const size_t plane = static_cast<size_t>(out->width) * out->height;
  uint8_t* r = out->planar.data() + static_cast<size_t>(y) * out->width;
  uint8_t* g = r + plane;
  uint8_t* b = g + plane;
  const int w = out->width;
  if (adobe_cmyk) {
    for (int x = 0; x < w; ++x, row += 4) {
      int nk = row[3];  // 255 - (255 - k): the stored K is already inverted
      r[x] = static_cast<uint8_t>(nk - muldiv255(255 - row[0], nk));
      g[x] = static_cast<uint8_t>(nk - muldiv255(255 - row[1], nk));
      b[x] = static_cast<uint8_t>(nk - muldiv255(255 - row[2], nk));
    }
  } else if (channels >= 3) {  // RGB, or RGBA whose alpha is dropped
    for (int x = 0; x < w; ++x, row += channels) {
      r[x] = row[0];
      g[x] = row[1];
      b[x] = row[2];
    }
  } else {  // gray, or gray+alpha
    for (int x = 0; x < w; ++x, row += channels) r[x] = g[x] = b[x] = row[0];
  }
}

// ---- JPEG ----

// Progressive JPEGs are decoded through whole-image coefficient buffers (2 bytes a coefficient,
// 64 per 8x8 block, up to 4 components: ~8 bytes a pixel, ~0.55 GB at the pixel limit with MCU
// padding). libjpeg refuses more than this ("backing store") instead of allocating it: a backstop.
constexpr long kJpegMaxMemory = long{1} << 30;
// Each scan of a progressive JPEG passes over the whole image, so thousands of tiny scans cost
// minutes. Encoders write about 10; libjpeg-turbo's TurboJPEG stops at 500 in the same way.
constexpr int kMaxJpegScans = 500;

struct JpegErrors {
  jpeg_error_mgr mgr;  // first member: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings are not fatal (PIL ignores "extraneous bytes" and the like), except running out of
// data: libjpeg then pads the picture with gray, where PIL refuses a truncated file.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = true;
}

// Called while libjpeg reads input; stops a file with too many scans as libjpeg's errors do.
void jpeg_on_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number <= kMaxJpegScans) return;
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  std::snprintf(e->message, sizeof e->message, "more than %d scans (encoders write about 10)",
                kMaxJpegScans);
  cinfo->err->msg_code = 0;  // not a libjpeg error: the message above is the reason
  std::longjmp(e->jump, 1);
}

struct JpegState {
  jpeg_decompress_struct cinfo;
  JpegErrors err;
  jpeg_progress_mgr progress;
  std::vector<uint8_t> row;
  std::string failure;
};

// Everything the error path reads lives in *s, never in this frame's locals, so the longjmp
// back into this frame sees current values. Returns false with s->failure set.
bool jpeg_decode(JpegState* s, const uint8_t* data, size_t size, RgbImage* out) {
  s->cinfo.err = jpeg_std_error(&s->err.mgr);
  s->err.mgr.error_exit = jpeg_on_error;
  s->err.mgr.emit_message = jpeg_on_message;
  s->err.truncated = false;
  if (setjmp(s->err.jump)) {
    s->failure = s->err.mgr.msg_code == JERR_NO_BACKING_STORE
                     ? fmt::format("JPEG needs more than {} MiB to decode", kJpegMaxMemory >> 20)
                     : fmt::format("corrupt JPEG: {}", s->err.message);
    jpeg_destroy_decompress(&s->cinfo);
    return false;
  }
  jpeg_create_decompress(&s->cinfo);
  s->cinfo.mem->max_memory_to_use = kJpegMaxMemory;
  s->progress.progress_monitor = jpeg_on_progress;
  s->cinfo.progress = &s->progress;
  jpeg_mem_src(&s->cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&s->cinfo, TRUE);
  s->failure = size_problem(s->cinfo.image_width, s->cinfo.image_height);
  if (!s->failure.empty()) {
    jpeg_destroy_decompress(&s->cinfo);
    return false;
  }
  switch (s->cinfo.num_components) {
    case 1:
      s->cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case 3:
      s->cinfo.out_color_space = JCS_RGB;
      break;
    case 4:
      s->cinfo.out_color_space = JCS_CMYK;
      break;  // libjpeg turns YCCK into CMYK
    default:
      s->failure = fmt::format("JPEG with {} colour components (1, 3 or 4 are read)",
                               s->cinfo.num_components);
      jpeg_destroy_decompress(&s->cinfo);
      return false;
  }
  jpeg_start_decompress(&s->cinfo);
  out->width = static_cast<int>(s->cinfo.output_width);
  out->height = static_cast<int>(s->cinfo.output_height);
  out->planar.resize(3 * static_cast<size_t>(out->width) * out->height);
  const int channels = s->cinfo.output_components;
  s->row.resize(static_cast<size_t>(out->width) * channels);
  while (s->cinfo.output_scanline < s->cinfo.output_height) {
    int y = static_cast<int>(s->cinfo.output_scanline);
    JSAMPROW rows[1] = {s->row.data()};
    if (jpeg_read_scanlines(&s->cinfo, rows, 1) != 1) break;
    store_row(s->row.data(), channels, channels == 4, y, out);
  }
  jpeg_finish_decompress(&s->cinfo);
  jpeg_destroy_decompress(&s->cinfo);
  if (s->err.truncated) {
    s->failure = "truncated JPEG (premature end of file)";
    return false;
  }
  return true;
}

// ---- PNG ----

struct PngSource {
  const uint8_t* data;
  size_t size, pos;
};

void png_read_memory(png_structp png, png_bytep dst, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "truncated PNG (premature end of file)");
  std::memcpy(dst, src->data + src->pos, n);
  src->pos += n;
}

void png_on_error(png_structp png, png_const_charp message) {
  auto* failure = static_cast<std::string*>(png_get_error_ptr(png));
  *failure = message;
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // e.g. a bad ancillary chunk: PIL reads on

struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngSource src{};
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
  std::string failure;
};

bool png_decode(PngState* s, RgbImage* out) {
  s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s->failure, png_on_error, png_on_warning);
  if (!s->png) throw std::bad_alloc();
  s->info = png_create_info_struct(s->png);
  if (!s->info) {
    png_destroy_read_struct(&s->png, nullptr, nullptr);
    throw std::bad_alloc();
  }
  if (setjmp(png_jmpbuf(s->png))) {
    png_destroy_read_struct(&s->png, &s->info, nullptr);
    s->failure = "corrupt PNG: " + s->failure;
    return false;
  }
  png_set_read_fn(s->png, &s->src, png_read_memory);
  // Any width and height the format allows reach size_problem, whose message names the limit.
  png_set_user_limits(s->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_read_info(s->png, s->info);
  png_uint_32 w = png_get_image_width(s->png, s->info), h = png_get_image_height(s->png, s->info);
  s->failure = size_problem(w, h);
  if (!s->failure.empty()) {
    png_destroy_read_struct(&s->png, &s->info, nullptr);
    return false;
  }
  png_set_strip_16(s->png);  // keeps the high byte
  png_set_packing(s->png);
  png_set_palette_to_rgb(s->png);
  png_set_expand_gray_1_2_4_to_8(s->png);
  png_set_interlace_handling(s->png);
  png_read_update_info(s->png, s->info);
  const int channels = png_get_channels(s->png, s->info);
  const size_t rowbytes = png_get_rowbytes(s->png, s->info);
  if (png_get_bit_depth(s->png, s->info) != 8 || channels < 1 || channels > 4 ||
      rowbytes != static_cast<size_t>(w) * channels)
    png_error(s->png, "unexpected sample layout after expansion");
  s->pixels.resize(rowbytes * h);
  s->rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) s->rows[y] = s->pixels.data() + y * rowbytes;
  png_read_image(s->png, s->rows.data());
  png_read_end(s->png, nullptr);
  png_destroy_read_struct(&s->png, &s->info, nullptr);
  out->width = static_cast<int>(w);
  out->height = static_cast<int>(h);
  out->planar.resize(3 * static_cast<size_t>(w) * h);
  for (png_uint_32 y = 0; y < h; ++y)
    store_row(s->rows[y], channels, false, static_cast<int>(y), out);
  return true;
}

bool starts_with_bytes(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

}  // namespace

void decode_image(const uint8_t* data, size_t size, RgbImage* out) {
  if (starts_with_bytes(data, size, "\xFF\xD8\xFF", 3)) {
    auto s = std::make_unique<JpegState>();
    if (!jpeg_decode(s.get(), data, size, out)) throw BadImage(s->failure);
  } else if (starts_with_bytes(data, size, "\x89PNG\r\n\x1A\n", 8)) {
    auto s = std::make_unique<PngState>();
    s->src = {data, size, 0};
    if (!png_decode(s.get(), out)) throw BadImage(s->failure);
  } else {
    std::string head;
    for (size_t i = 0; i < std::min<size_t>(size, 4); ++i)
      head += fmt::format("{}{:02x}", i ? " " : "", data[i]);
    throw BadImage(size == 0 ? std::string("empty file")
                             : fmt::format("neither JPEG nor PNG (starts with {})", head));
  }
}

void decode_image_file(const std::string& path, RgbImage* out, std::vector<uint8_t>* scratch) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw BadImage(fmt::format("cannot open: {}", std::strerror(errno)));
  if (std::fseek(f.get(), 0, SEEK_END) != 0)
    throw BadImage(fmt::format("cannot read: {}", std::strerror(errno)));
  long size = std::ftell(f.get());
  if (size < 0) throw BadImage(fmt::format("cannot read: {}", std::strerror(errno)));
  std::rewind(f.get());
  scratch->resize(static_cast<size_t>(size));
  if (std::fread(scratch->data(), 1, scratch->size(), f.get()) != scratch->size())
    throw BadImage(fmt::format(
        "cannot read: {}", std::ferror(f.get()) ? std::strerror(errno) : "file shrank while read"));
  decode_image(scratch->data(), scratch->size(), out);
}

}  // namespace scouter
