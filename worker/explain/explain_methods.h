// What `scouter explain` over the validation set and over a user's own images (--image) share
// besides the opened run (worker/run/trained_run.h): the explanation methods of the run
// (SCOUTER's attention, or the FC baseline's CAM family), the classes asked for, and boxes in
// input pixels.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "datasets/shard_format.h"
#include "worker/explain/cam.h"
#include "worker/explain/explain_metrics.h"
#include "worker/model/scouter_model.h"

namespace scouter {

// What one method gives for a batch of images.
struct MethodBatch {
  torch::Tensor logits;      // B x K
  torch::Tensor shown;       // B x T x h x w raw maps of the shown classes (feature resolution)
  torch::Tensor shown_maps;  // B x T x H x W their explanation maps (explain_maps.h), if asked
  torch::Tensor saliency;    // B x H x W the explanation map of each image's target class
};

// One explanation method of a run: SCOUTER's attention ("slot"), or one CAM flavour of an FC
// model ("cam", "gradcam", "gradcampp"). Every map goes through explanation_maps.
class ExplainMethod {
 public:
  ExplainMethod(std::string name, ScouterModel model, double min_level,
                std::optional<CamMethod> cam);
  const std::string& name() const { return name_; }
  // x: B x C x H x W normalised inputs; targets: B int64; shown: the T classes kept for all.
  MethodBatch run(const torch::Tensor& x, const torch::Tensor& targets,
                  const std::vector<int64_t>& shown, bool with_shown_maps);
  // The target-class map of (perturbed) images, exactly as run() computes `saliency`.
  torch::Tensor saliency(const torch::Tensor& x, const torch::Tensor& targets);

 private:
  std::string name_;
  ScouterModel model_;
  double min_level_;
  std::optional<CamMethod> cam_;
};

// The methods `scouter explain` uses for a run: "slot" for SCOUTER, the three CAMs for FC.
std::vector<ExplainMethod> explain_methods(const ScouterModel& model, const Config& cfg);

// "scouter+", "scouter-" or "fc".
std::string explain_kind(const Config& cfg);

// --classes items (indices or class names) -> class indices; UserError naming an unknown one.
// Empty items: every class.
std::vector<int64_t> parse_classes(const std::vector<std::string>& items,
                                   const std::vector<std::string>& names, int64_t num_classes);

// A box in stored pixels (x, y, w, h; w <= 0: none) in input pixels (H x W) of the model.
Box input_box(const float* stored_box, const ShardMeta& meta, int64_t height, int64_t width);

}  // namespace scouter
