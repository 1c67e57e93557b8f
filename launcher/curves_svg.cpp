#include "launcher/curves_svg.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/format.h"

namespace scouter {
namespace {

constexpr double kPanelW = 420, kPanelH = 260, kMargin = 50, kLegendW = 260;
const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

// One panel: axes with min/max labels and a polyline per curve.
std::string panel(const std::vector<Curve>& curves, bool acc, double x0, const std::string& title) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& c : curves)
    for (const auto& [x, y] : acc ? c.acc : c.loss) {
      if (!std::isfinite(y)) continue;
      xmin = std::min(xmin, x), xmax = std::max(xmax, x);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  std::string s = str_format(
      "<text x='{}' y='20' font-family='sans-serif' font-size='14'>{}</text>\n"
      "<rect x='{}' y='{}' width='{}' height='{}' fill='none' stroke='#444'/>\n",
      x0 + kMargin, title, x0 + kMargin, kMargin, kPanelW, kPanelH);
  if (!std::isfinite(xmin)) return s;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) ymax = ymin + 1e-6;
  auto px = [&](double x) { return x0 + kMargin + (x - xmin) / (xmax - xmin) * kPanelW; };
  auto py = [&](double y) { return kMargin + kPanelH - (y - ymin) / (ymax - ymin) * kPanelH; };
  s += str_format(
      "<g font-family='sans-serif' font-size='11' fill='#444'>"
      "<text x='{}' y='{}'>{:.4g}</text><text x='{}' y='{}'>{:.4g}</text>"
      "<text x='{}' y='{}'>epoch {}</text><text x='{}' y='{}' text-anchor='end'>{}</text></g>\n",
      x0 + 2, kMargin + 10, ymax, x0 + 2, kMargin + kPanelH, ymin, px(xmin), kMargin + kPanelH + 16,
      xmin, px(xmax), kMargin + kPanelH + 16, xmax);
  for (size_t i = 0; i < curves.size(); ++i) {
    std::string pts;
    for (const auto& [x, y] : acc ? curves[i].acc : curves[i].loss)
      if (std::isfinite(y)) pts += str_format("{:.1f},{:.1f} ", px(x), py(y));
    if (pts.empty()) continue;
    s += str_format("<polyline fill='none' stroke='{}' stroke-width='1.5' points='{}'/>\n",
                    kColors[i % 10], pts);
  }
  return s;
}

}  // namespace

std::string curves_svg(const std::vector<Curve>& curves) {
  double width = 2 * (kPanelW + kMargin) + kMargin + kLegendW;
  double height = std::max(kPanelH + 2 * kMargin + 10, 30.0 + 16.0 * static_cast<double>(curves.size()));
  std::string s = str_format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{0}' height='{1}' viewBox='0 0 {0} {1}'>\n"
      "<rect width='100%' height='100%' fill='white'/>\n",
      width, height);
  s += panel(curves, false, 0, "training loss");
  s += panel(curves, true, kPanelW + kMargin, "validation accuracy");
  double lx = 2 * (kPanelW + kMargin) + kMargin;
  for (size_t i = 0; i < curves.size(); ++i)
    s += str_format(
        "<line x1='{}' y1='{}' x2='{}' y2='{}' stroke='{}' stroke-width='3'/>"
        "<text x='{}' y='{}' font-family='sans-serif' font-size='11'>{}</text>\n",
        lx, 30 + 16 * i, lx + 18, 30 + 16 * i, kColors[i % 10], lx + 24, 34 + 16 * i,
        escape(curves[i].label));
  return s + "</svg>\n";
}

}  // namespace scouter
