// The files of `scouter explain` (layout documented in worker/explain/explain.h), written by rank 0
// from the results gathered over the ranks: into <run>/explain.tmp.<pid>, swapped in for
// <run>/explain when complete, so an interrupted explain never leaves a folder that looks whole.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "worker/explain/explain_record.h"

namespace scouter {

struct ExplainResults {
  std::string run_dir, kind;                   // kind: scouter+, scouter-, fc
  std::vector<std::string> methods;            // slot, or cam, gradcam, gradcampp
  std::vector<int64_t> shown;                  // classes pictured and stored
  std::vector<std::string> class_names;        // all classes of the dataset, display names
  int64_t n = 0, n_pictures = 0;               // images explained; the first n_pictures pictured
  int64_t H = 0, W = 0, h = 0, w = 0;          // input and feature map sizes
  std::vector<ExplainRecord> records;          // n, in split order; values per metric of
                                               // explain_metric_table()
  std::vector<std::vector<float>> maps;        // per method: n x shown x h x w raw maps
  std::vector<std::vector<uint8_t>> pictures;  // per method: n_pictures x shown x H x W
  nlohmann::json info;  // more fields of metrics.json (dataset, settings, ...)
};

// image_rgb(index, h, w): the image of split-wide sample `index` as pictured (RGB interleaved).
// Returns metrics.json's "methods" object (each metric reduced as its spec says).
nlohmann::json write_explain_files(
    const ExplainResults& res,
    const std::function<std::vector<uint8_t>(int64_t index, int& h, int& w)>& image_rgb);

}  // namespace scouter
