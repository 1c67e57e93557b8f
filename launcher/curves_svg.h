// Training curves as one self-contained SVG: training loss and validation accuracy per epoch,
// one line per run, with axes and a legend (no fonts or scripts needed to view it).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace scouter {

struct Curve {
  std::string label;
  std::vector<std::pair<double, double>> loss, acc;  // (epoch, value)
};

std::string curves_svg(const std::vector<Curve>& curves);

}  // namespace scouter
