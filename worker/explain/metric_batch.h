// What an explanation metric's computation gets (the two kinds of worker/explain/metric_spec.h),
// and the computations that metric_spec.cpp's table lists (the project's in builtin_metrics.cpp;
// a new metric's in a file of its own). Every map is the float
// explanation map of the one post-processing (worker/explain/explain_maps.h), at input resolution.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "common/config.h"
#include "worker/explain/explain_metrics.h"
#include "worker/explain/metric_spec.h"

namespace scouter {

// N explanation maps and the box each is measured against (explain: one image's target-class
// map each; explain --image: one image's maps of the classes asked for, with that image's box).
struct MapBatch {
  const torch::Tensor& maps;      // N x H x W, 0..1, on any device
  const std::vector<Box>& boxes;  // N boxes in input pixels (invalid: the image has none)
};

// A batch of validation images with the explanation map of their true class, and what it takes
// to measure more than the map: the model and the method (both deterministic), and the settings.
struct ModelBatch {
  const torch::Tensor& images;          // B x C x H x W, normalised (the model's input)
  const torch::Tensor& targets;         // B int64: the true classes
  const torch::Tensor& saliency;        // B x H x W: the maps of the targets
  const std::vector<int64_t>& indices;  // split-wide index of each image: seeds its random draws
                                        // (image_generator), so values do not depend on the ranks
  const std::vector<Box>& boxes;        // B boxes in input pixels (invalid: none)
  const ProbFn& prob;                   // the model's class probabilities
  const SaliencyFn& explain;            // the method's target maps of (perturbed) images
  const Config& cfg;                    // explain_step, infidelity_*, sensitivity_*, seed, ...
};

// One metric over a batch, as its spec says: NaN for the images without a box when it needs
// boxes (without calling it when no image has one). The batch kind must be the spec's.
std::vector<double> measure(const MetricSpec& spec, const MapBatch& batch);
std::vector<double> measure(const MetricSpec& spec, const ModelBatch& batch);

// The project's metrics (builtin_metrics.cpp; definitions in explain_metrics.h, explain_maps.h).
std::vector<double> area_values(const MapBatch& b);
std::vector<double> precision_values(const MapBatch& b);
std::vector<double> insertion_values(const ModelBatch& b);
std::vector<double> deletion_values(const ModelBatch& b);
std::vector<double> infidelity_values(const ModelBatch& b);
std::vector<double> sensitivity_values(const ModelBatch& b);

}  // namespace scouter
