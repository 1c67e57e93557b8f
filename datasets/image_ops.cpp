#include "datasets/image_ops.h"

#include <fmt/format.h>
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>  // a header-only stb folder without the stb/ level
#endif

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/files.h"
#include "datasets/rng.h"

namespace scouter {
namespace {

// ---- PIL's resampling (Pillow src/libImaging/Resample.c), bilinear filter ----

// Fixed-point precision of PIL's 8-bit path: 32 bits less 8 for the pixel, less 2 for sign and
// the overshoot of rounded weights.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;  // per output pixel: first input pixel and number of taps
  std::vector<double> k;          // ksize weights per output pixel, normalised to sum 1
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// precompute_coeffs(): the same expressions in the same order, so the weights match PIL's bits.
Coeffs precompute_coeffs(int in_size, int out_size) {
  Coeffs c;
  double scale = static_cast<double>(in_size) / out_size;
  double filterscale = std::max(scale, 1.0);
  double support = 1.0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      double w = triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

std::vector<int32_t> fixed_point(const Coeffs& c) {
  std::vector<int32_t> out(c.k.size());
  for (size_t i = 0; i < c.k.size(); ++i) {
    double v = c.k[i] * (1 << kPrecisionBits);
    out[i] = static_cast<int32_t>(c.k[i] < 0 ? -0.5 + v : 0.5 + v);
  }
  return out;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// One pass along an axis of a single-channel plane: `lines` lines of `n` samples each, at
// stride `step` between samples and `line_step` between lines. Float keeps double sums and
// stores float (PIL's mode "F").
template <typename In>
void pass_float(const In* src, float* dst, const Coeffs& c, int lines, int out_n, long step,
                long line_step, long out_step, long out_line_step) {
  for (int l = 0; l < lines; ++l) {
    const In* s = src + l * line_step;
    for (int o = 0; o < out_n; ++o) {
      const double* k = &c.k[static_cast<size_t>(o) * c.ksize];
      double ss = 0.0;
      for (int t = 0; t < c.count[o]; ++t) ss += s[(c.first[o] + t) * step] * k[t];
      dst[l * out_line_step + o * out_step] = static_cast<float>(ss);
    }
  }
}

void pass_u8(const uint8_t* src, uint8_t* dst, const Coeffs& c, const std::vector<int32_t>& kk,
             int lines, int out_n, long step, long line_step, long out_step, long out_line_step) {
  for (int l = 0; l < lines; ++l) {
    const uint8_t* s = src + l * line_step;
    for (int o = 0; o < out_n; ++o) {
      const int32_t* k = &kk[static_cast<size_t>(o) * c.ksize];
      int32_t ss = 1 << (kPrecisionBits - 1);
      for (int t = 0; t < c.count[o]; ++t) ss += s[(c.first[o] + t) * step] * k[t];
      dst[l * out_line_step + o * out_step] = clip8(ss);
    }
  }
}

// The vertical pass of the 8-bit path, row by row: an output row is a weighted sum of whole
// input rows, so the inner loop runs along contiguous memory (and vectorises) instead of down a
// column. Integer sums: the same bits as pass_u8 in any order.
void vertical_u8(const uint8_t* src, uint8_t* dst, const Coeffs& c, const std::vector<int32_t>& kk,
                 int width, int out_h, std::vector<int32_t>& acc) {
  acc.resize(static_cast<size_t>(width));
  for (int o = 0; o < out_h; ++o) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &kk[static_cast<size_t>(o) * c.ksize];
    for (int t = 0; t < c.count[o]; ++t) {
      const uint8_t* row = src + static_cast<size_t>(c.first[o] + t) * width;
      const int32_t kt = k[t];
      int32_t* a = acc.data();
      for (int x = 0; x < width; ++x) a[x] += row[x] * kt;
    }
    uint8_t* out = dst + static_cast<size_t>(o) * width;
    for (int x = 0; x < width; ++x) out[x] = clip8(acc[static_cast<size_t>(x)]);
  }
}

template <typename In>
void resize_float(const In* src, int c, int h, int w, float* dst, int oh, int ow) {
  SCOUTER_CHECK(c > 0 && h > 0 && w > 0 && oh > 0 && ow > 0, "resize needs positive sizes");
  Coeffs hc = precompute_coeffs(w, ow), vc = precompute_coeffs(h, oh);
  std::vector<float> tmp(static_cast<size_t>(h) * ow);
  for (int ch = 0; ch < c; ++ch) {
    const In* s = src + static_cast<size_t>(ch) * h * w;
    float* d = dst + static_cast<size_t>(ch) * oh * ow;
    if (ow != w)
      pass_float(s, tmp.data(), hc, h, ow, 1, w, 1, ow);
    else
      std::copy(s, s + static_cast<size_t>(h) * w, tmp.begin());
    if (oh != h)
      pass_float(tmp.data(), d, vc, ow, oh, ow, 1, ow, 1);
    else
      std::copy(tmp.begin(), tmp.end(), d);
  }
}

// ---- augmentation ----

void flip(float* img, int c, int h, int w, bool horizontal) {
  for (int ch = 0; ch < c; ++ch) {
    float* p = img + static_cast<size_t>(ch) * h * w;
    if (horizontal) {
      for (int y = 0; y < h; ++y) std::reverse(p + y * w, p + (y + 1) * w);
    } else {
      for (int y = 0; y < h / 2; ++y)
        std::swap_ranges(p + y * w, p + (y + 1) * w, p + (h - 1 - y) * w);
    }
  }
}

// Output pixel q comes from input p = c + S^-1 R^-1 (q - c - t): rotation about the centre,
// per-axis scale, then translation; positive angles turn the picture counter-clockwise as seen.
// The source position is linear in x, so it advances by a constant step along each row; the
// bilinear weights are computed once per pixel and shared by the channels. Zero outside.
void affine(const AugmentParams& a, float* img, int c, int h, int w) {
  const double kPi = 3.14159265358979323846;
  double th = a.rotate_deg * kPi / 180.0;
  double cs = std::cos(th), sn = std::sin(th);
  double cx = w * 0.5, cy = h * 0.5;
  double tx = a.translate_x * w, ty = a.translate_y * h;
  const size_t plane = static_cast<size_t>(h) * w;
  std::vector<float> src(img, img + plane * c);
  double du = cs / a.scale_x, dv = sn / a.scale_y;
  for (int y = 0; y < h; ++y) {
    double dx0 = 0.5 - cx - tx, dy = y + 0.5 - cy - ty;
    double u0 = cx + (cs * dx0 - sn * dy) / a.scale_x - 0.5;
    double v0 = cy + (sn * dx0 + cs * dy) / a.scale_y - 0.5;
    for (int x = 0; x < w; ++x) {
      double u = u0 + x * du, v = v0 + x * dv;
      float* out = img + static_cast<size_t>(y) * w + x;
      if (!(u > -1 && v > -1 && u < w && v < h)) {
        for (int ch = 0; ch < c; ++ch) out[ch * plane] = 0.f;
        continue;
      }
      int x0 = static_cast<int>(u + 1) - 1, y0 = static_cast<int>(v + 1) - 1;  // floor, u > -1
      double ax = u - x0, ay = v - y0;
      // Weights of the four neighbours; those outside the image (or of weight 0) are skipped.
      bool l = x0 >= 0, r = x0 + 1 < w && ax != 0, t = y0 >= 0, b = y0 + 1 < h && ay != 0;
      double w00 = (1 - ax) * (1 - ay), w10 = ax * (1 - ay), w01 = (1 - ax) * ay, w11 = ax * ay;
      size_t at = static_cast<size_t>(y0) * w + x0;
      for (int ch = 0; ch < c; ++ch) {
        const float* p = src.data() + ch * plane;
        double acc = 0;
        if (t && l) acc += p[at] * w00;
        if (t && r) acc += p[at + 1] * w10;
        if (b && l) acc += p[at + w] * w01;
        if (b && r) acc += p[at + w + 1] * w11;
        out[ch * plane] = static_cast<float>(acc);
      }
    }
  }
}

// ---- matplotlib's jet (LinearSegmentedColormap._create_lookup_table, N = 256) ----

struct Segment {
  double x, y0, y1;
};

void make_channel(const std::vector<Segment>& seg, double* out, int stride) {
  const int n = 256;
  std::vector<double> xs(seg.size());
  for (size_t i = 0; i < seg.size(); ++i) xs[i] = seg[i].x * (n - 1);
  out[0] = seg.front().y1;
  for (int i = 1; i < n - 1; ++i) {
    double xind = (n - 1) * (i * (1.0 / (n - 1)));  // (N-1) * linspace(0, 1, N)
    size_t j = std::lower_bound(xs.begin(), xs.end(), xind) - xs.begin();  // searchsorted left
    double distance = (xind - xs[j - 1]) / (xs[j] - xs[j - 1]);
    double v = distance * (seg[j].y0 - seg[j - 1].y1) + seg[j - 1].y1;
    out[i * stride] = std::clamp(v, 0.0, 1.0);
  }
  out[(n - 1) * stride] = seg.back().y0;
}

const std::vector<double>& jet_lut_double() {
  static const std::vector<double> lut = [] {
    std::vector<double> v(256 * 3);
    make_channel({{0, 0, 0}, {0.35, 0, 0}, {0.66, 1, 1}, {0.89, 1, 1}, {1, 0.5, 0.5}}, &v[0], 3);
    make_channel({{0, 0, 0}, {0.125, 0, 0}, {0.375, 1, 1}, {0.64, 1, 1}, {0.91, 0, 0}, {1, 0, 0}},
                 &v[1], 3);
    make_channel({{0, 0.5, 0.5}, {0.11, 1, 1}, {0.34, 1, 1}, {0.65, 0, 0}, {1, 0, 0}}, &v[2], 3);
    return v;
  }();
  return lut;
}

// Pillow's ImagingAlphaComposite for one pixel (src over dst), 7 extra bits of precision.
void alpha_composite(const uint8_t* dst, const uint8_t* src, uint8_t* out) {
  if (src[3] == 0) {
    std::copy(dst, dst + 4, out);
    return;
  }
  auto div255 = [](uint32_t a) { return ((a >> 8) + a) >> 8; };
  const uint32_t kPrec = 7;
  uint32_t blend = uint32_t{dst[3]} * (255 - src[3]);
  uint32_t outa255 = uint32_t{src[3]} * 255 + blend;
  uint32_t coef1 = uint32_t{src[3]} * 255 * 255 * (1u << kPrec) / outa255;
  uint32_t coef2 = 255 * (1u << kPrec) - coef1;
  for (int ch = 0; ch < 3; ++ch) {
    uint32_t tmp = src[ch] * coef1 + dst[ch] * coef2;
    out[ch] = static_cast<uint8_t>(div255(tmp + (0x80u << kPrec)) >> kPrec);
  }
  out[3] = static_cast<uint8_t>(div255(outa255 + 0x80));
}

}  // namespace

void resize_bilinear(const uint8_t* src, int c, int h, int w, float* dst, int oh, int ow) {
  resize_float(src, c, h, w, dst, oh, ow);
}

void resize_bilinear(const float* src, int c, int h, int w, float* dst, int oh, int ow) {
  resize_float(src, c, h, w, dst, oh, ow);
}

std::vector<int32_t> pil_bilinear_weights(int in_size, int out_size) {
  static_assert(kPilPrecisionBits == kPrecisionBits, "one precision for both paths");
  SCOUTER_CHECK(in_size > 0 && out_size > 0, "resize needs positive sizes");
  Coeffs c = precompute_coeffs(in_size, out_size);
  std::vector<int32_t> k = fixed_point(c);
  std::vector<int32_t> m(static_cast<size_t>(out_size) * in_size, 0);
  for (int o = 0; o < out_size; ++o)
    for (int t = 0; t < c.count[o]; ++t)
      m[static_cast<size_t>(o) * in_size + c.first[o] + t] = k[static_cast<size_t>(o) * c.ksize + t];
  return m;
}

// PIL keeps an 8-bit image between the passes, so the intermediate is rounded and clipped too.
void resize_bilinear_u8(const uint8_t* src, int c, int h, int w, uint8_t* dst, int oh, int ow) {
  SCOUTER_CHECK(c > 0 && h > 0 && w > 0 && oh > 0 && ow > 0, "resize needs positive sizes");
  Coeffs hc = precompute_coeffs(w, ow), vc = precompute_coeffs(h, oh);
  std::vector<int32_t> hk = fixed_point(hc), vk = fixed_point(vc);
  std::vector<uint8_t> tmp(static_cast<size_t>(h) * ow);
  std::vector<int32_t> acc;
  for (int ch = 0; ch < c; ++ch) {
    const uint8_t* s = src + static_cast<size_t>(ch) * h * w;
    uint8_t* d = dst + static_cast<size_t>(ch) * oh * ow;
    if (ow != w)
      pass_u8(s, tmp.data(), hc, hk, h, ow, 1, w, 1, ow);
    else
      std::copy(s, s + static_cast<size_t>(h) * w, tmp.begin());
    if (oh != h)
      vertical_u8(tmp.data(), d, vc, vk, ow, oh, acc);
    else
      std::copy(tmp.begin(), tmp.end(), d);
  }
}

AugmentParams draw_augment(uint64_t seed, bool flip_allowed) {
  // Every value is drawn whether used or not, so each parameter depends on the seed alone.
  SplitMix64 rng(seed);
  AugmentParams p;
  bool rotate = rng.uniform() < 0.5;
  double angle = rng.uniform(-10.0, 10.0);
  bool scale = rng.uniform() < 0.5;
  double sx = rng.uniform(0.8, 1.0), sy = rng.uniform(0.8, 1.0);
  bool translate = rng.uniform() < 0.5;
  double tx = rng.uniform(0.0, 0.1), ty = rng.uniform(-0.1, 0.1);
  bool flip_h = rng.uniform() < 0.5, flip_v = rng.uniform() < 0.5;
  if (rotate) p.rotate_deg = angle;
  if (scale) {
    p.scale_x = sx;
    p.scale_y = sy;
  }
  if (translate) {
    p.translate_x = tx;
    p.translate_y = ty;
  }
  p.affine = rotate || scale || translate;
  p.flip_h = flip_allowed && flip_h;
  p.flip_v = flip_allowed && flip_v;
  return p;
}

void apply_augment(const AugmentParams& p, float* img, int c, int h, int w) {
  if (p.flip_h) flip(img, c, h, w, true);
  if (p.flip_v) flip(img, c, h, w, false);
  if (p.affine) affine(p, img, c, h, w);
}

const std::vector<float>& jet_lut() {
  static const std::vector<float> lut(jet_lut_double().begin(), jet_lut_double().end());
  return lut;
}

std::vector<uint8_t> overlay_jet(const uint8_t* rgb, const uint8_t* map, int h, int w,
                                 double alpha) {
  const std::vector<double>& lut = jet_lut_double();
  // numpy's astype(uint8) truncates: the published code turns 0.4 into 102.
  auto heat_alpha = static_cast<uint8_t>(alpha * 255);
  std::vector<uint8_t> out(static_cast<size_t>(h) * w * 3);
  for (size_t i = 0; i < static_cast<size_t>(h) * w; ++i) {
    const double* colour = &lut[map[i] * 3];
    uint8_t heat[4] = {static_cast<uint8_t>(colour[0] * 255), static_cast<uint8_t>(colour[1] * 255),
                       static_cast<uint8_t>(colour[2] * 255), heat_alpha};
    // Published order: transparent canvas, then the opaque image, then the heatmap.
    const uint8_t canvas[4] = {0, 0, 0, 0};
    uint8_t image[4] = {rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255};
    uint8_t base[4], result[4];
    alpha_composite(canvas, image, base);
    alpha_composite(base, heat, result);
    std::copy(result, result + 3, &out[i * 3]);
  }
  return out;
}

void write_png(const std::string& path, const uint8_t* pixels, int w, int h, int channels) {
  SCOUTER_CHECK(channels == 1 || channels == 3 || channels == 4, "PNG needs 1, 3 or 4 channels");
  AtomicOutput out(path);
  if (stbi_write_png(out.temp_path().c_str(), w, h, channels, pixels, w * channels) == 0)
    throw UserError(fmt::format("cannot write PNG '{}'", path),
                    "check that the folder exists and is writable, and the disk has space");
  out.commit();
}

}  // namespace scouter
