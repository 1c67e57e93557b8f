#include "worker/explain/explain_pictures.h"

#include <algorithm>

#include "common/base64.h"
#include "common/files.h"
#include "common/format.h"
#include "common/text.h"
#include "datasets/image_ops.h"

namespace scouter {
namespace {

constexpr int kMinTile = 96;  // small inputs (28 px) are upscaled to at least this
constexpr int kFrame = 3;     // frame width around each tile
constexpr int kGap = 4;       // space between tiles

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kTrue{0, 170, 0}, kPred{220, 0, 0}, kNone{255, 255, 255};

void paint_rect(std::vector<uint8_t>& px, int width, int x0, int y0, int w, int h, Rgb c) {
  for (int y = y0; y < y0 + h; ++y)
    for (int x = x0; x < x0 + w; ++x) {
      uint8_t* p = &px[static_cast<size_t>((y * width + x) * 3)];
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
}

// A tile with its frame: green for the true class, red for the predicted one; both: a green
// outer ring around a red inner ring.
void paint_tile(std::vector<uint8_t>& px, int width, int x0, const std::vector<uint8_t>& tile,
                int ts, bool is_true, bool is_pred) {
  int outer = ts + 2 * kFrame;
  paint_rect(px, width, x0, 0, outer, outer, is_true ? kTrue : (is_pred ? kPred : kNone));
  if (is_true && is_pred) paint_rect(px, width, x0 + 2, 2, outer - 4, outer - 4, kPred);
  for (int y = 0; y < ts; ++y)
    std::copy_n(&tile[static_cast<size_t>(y * ts * 3)], ts * 3,
                &px[static_cast<size_t>(((y + kFrame) * width + x0 + kFrame) * 3)]);
}

}  // namespace

std::vector<uint8_t> upscale_rgb(const std::vector<uint8_t>& rgb, int h, int w, int factor) {
  if (factor <= 1) return rgb;
  int oh = h * factor, ow = w * factor;
  std::vector<uint8_t> out(static_cast<size_t>(oh * ow * 3));
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x)
      std::copy_n(&rgb[static_cast<size_t>(((y / factor) * w + x / factor) * 3)], 3,
                  &out[static_cast<size_t>((y * ow + x) * 3)]);
  return out;
}

void write_grid(const std::string& png_path, const std::string& svg_path,
                const std::vector<uint8_t>& image_rgb, int h, int w,
                const std::vector<std::vector<uint8_t>>& overlays, const GridSpec& spec) {
  int factor = std::max(1, (kMinTile + std::max(h, w) - 1) / std::max(h, w));
  int th = h * factor, tw = w * factor;
  int ts = std::max(th, tw);  // square tiles (images are square; keeps the layout simple)
  int cell = ts + 2 * kFrame + kGap;
  int tiles = static_cast<int>(overlays.size()) + 1;
  int width = tiles * cell - kGap, height = ts + 2 * kFrame;
  std::vector<uint8_t> px(static_cast<size_t>(width * height * 3), 255);
  auto square = [&](const std::vector<uint8_t>& rgb) {
    std::vector<uint8_t> up = upscale_rgb(rgb, h, w, factor),
                         sq(static_cast<size_t>(ts * ts * 3), 255);
    for (int y = 0; y < th; ++y)
      std::copy_n(&up[static_cast<size_t>(y * tw * 3)], tw * 3,
                  &sq[static_cast<size_t>(y * ts * 3)]);
    return sq;
  };
  paint_tile(px, width, 0, square(image_rgb), ts, false, false);
  for (size_t t = 0; t < overlays.size(); ++t) {
    int64_t c = spec.classes[t];
    paint_tile(px, width, static_cast<int>(t + 1) * cell, square(overlays[t]), ts, c == spec.label,
               c == spec.pred);
  }
  write_png(png_path, px.data(), width, height, 3);

  // The SVG shows the same pixels (the PNG embedded) with the words a PNG cannot carry.
  std::string png64 = base64_encode(read_text_file(png_path));
  int top = 34, bottom = 34;
  std::string svg = str_format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"0\" y=\"14\" font-weight=\"bold\">{2}</text>\n"
      "<text x=\"0\" y=\"29\" fill=\"#444\">{3}</text>\n"
      "<image x=\"0\" y=\"{4}\" width=\"{5}\" height=\"{6}\" "
      "href=\"data:image/png;base64,{7}\"/>\n",
      width, height + top + bottom, html_escape(spec.title),
      html_escape(spec.why_not ? "SCOUTER-: each map shows why the image is NOT that class; "
                                 "green frame = true class, red = predicted"
                               : "green frame = true class, red = predicted class"),
      top, width, height, png64);
  auto name = [&](int64_t c) {
    return c >= 0 && c < static_cast<int64_t>(spec.class_names.size())
               ? spec.class_names[static_cast<size_t>(c)]
               : std::to_string(c);
  };
  // Two caption lines under each tile, cut to the tile's width (about 6.5 px a character at 11 px).
  const size_t fit = static_cast<size_t>(std::max(4, cell / 7));
  auto cut = [&](std::string text) {
    if (text.size() > fit) text = text.substr(0, fit - 1) + "~";
    return html_escape(text);
  };
  auto caption = [&](int x, const std::string& colour, const std::string& line1,
                     const std::string& line2) {
    return str_format(
        "<text x=\"{0}\" y=\"{1}\"{2}>{3}</text>\n<text x=\"{0}\" y=\"{4}\"{2}>{5}</text>\n", x,
        top + height + 13, colour.empty() ? "" : " fill=\"" + colour + "\"", cut(line1),
        top + height + 27, cut(line2));
  };
  svg += caption(kFrame, "", "image", "true: " + name(spec.label));
  for (size_t t = 0; t < spec.classes.size(); ++t) {
    int64_t c = spec.classes[t];
    std::string mark = c == spec.label && c == spec.pred ? "[true, pred]"
                       : c == spec.label                 ? "[true]"
                       : c == spec.pred                  ? "[pred]"
                                                         : "";
    svg += caption(static_cast<int>(t + 1) * cell + kFrame,
                   c == spec.label ? "#080" : (c == spec.pred ? "#c00" : ""),
                   str_format("{}{} {}", spec.why_not ? "not " : "", c, name(c)), mark);
  }
  svg += "</svg>\n";
  write_text_file_atomic(svg_path, svg);
}

}  // namespace scouter
