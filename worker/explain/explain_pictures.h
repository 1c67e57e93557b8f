// Pictures of `scouter explain` (layout in worker/explain/explain.h): the published per-class picture
// (jet at alpha 0.4 over the image) and, per image, a grid of the image and every shown class,
// as a PNG (frames: green = true class, red = predicted class) and as an SVG that adds the class
// names and marks. No LibTorch: maps arrive as uint8 at image size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

struct GridSpec {
  std::string title;                     // e.g. "00017  scouter_pos  (SCOUTER+, attention)"
  std::vector<int64_t> classes;          // shown classes, one tile each
  std::vector<std::string> class_names;  // names of all classes (by class index)
  int64_t label = 0, pred = 0;
  bool why_not = false;  // SCOUTER-: the maps say why the image is NOT class c
};

// Upscales an RGB interleaved h x w image by an integer factor (nearest), for small inputs.
std::vector<uint8_t> upscale_rgb(const std::vector<uint8_t>& rgb, int h, int w, int factor);

// overlays: one RGB interleaved h x w picture per shown class (same order as spec.classes).
// Writes png_path and svg_path (atomically).
void write_grid(const std::string& png_path, const std::string& svg_path,
                const std::vector<uint8_t>& image_rgb, int h, int w,
                const std::vector<std::vector<uint8_t>>& overlays, const GridSpec& spec);

}  // namespace scouter
