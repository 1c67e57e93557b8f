// The project's explanation metrics as rows of the table (metric_spec.cpp) call them: each turns a
// batch into one value per image with the algorithms of explain_metrics.h and explain_maps.h.
#include "worker/explain/explain_maps.h"
#include "worker/explain/metric_batch.h"

namespace scouter {
namespace {

std::vector<double> to_vector(const torch::Tensor& values) {
  auto v = values.to(torch::kFloat64).cpu().contiguous();
  return std::vector<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
}

std::vector<double> causal_values(const ModelBatch& b, CausalMode mode) {
  CausalOptions options;
  options.step_pixels = b.cfg.explain_step;
  options.batch_size = b.cfg.effective_eval_batch_size();
  std::vector<CausalCurve> curves =
      causal_curves(b.prob, b.images, b.saliency, b.targets, mode, options);
  std::vector<double> out;
  for (const auto& c : curves) out.push_back(c.auc);
  return out;
}

// One generator per image from (seed, its split-wide index), so the draws do not depend on the
// batching or the ranks.
std::vector<torch::Generator> generators(const ModelBatch& b, uint64_t seed) {
  std::vector<torch::Generator> gens;
  for (int64_t i : b.indices) gens.push_back(image_generator(seed, i));
  return gens;
}

}  // namespace

std::vector<double> area_values(const MapBatch& b) { return to_vector(map_areas(b.maps)); }

std::vector<double> precision_values(const MapBatch& b) {
  auto maps = b.maps.cpu();
  std::vector<double> out;
  for (size_t i = 0; i < b.boxes.size(); ++i)
    out.push_back(box_precision(maps[static_cast<int64_t>(i)], b.boxes[i]));
  return out;
}

std::vector<double> insertion_values(const ModelBatch& b) {
  return causal_values(b, CausalMode::kInsertion);
}

std::vector<double> deletion_values(const ModelBatch& b) {
  return causal_values(b, CausalMode::kDeletion);
}

std::vector<double> infidelity_values(const ModelBatch& b) {
  auto gens = generators(b, static_cast<uint64_t>(b.cfg.seed));
  PerturbOptions options;
  options.samples = b.cfg.infidelity_samples;
  options.sigma = b.cfg.infidelity_sigma;
  options.batch_size = b.cfg.effective_eval_batch_size();
  return infidelity(b.prob, b.images, b.saliency, b.targets, gens, options);
}

std::vector<double> sensitivity_values(const ModelBatch& b) {
  // Seed + 1: draws of their own, not infidelity's.
  auto gens = generators(b, static_cast<uint64_t>(b.cfg.seed) + 1);
  PerturbOptions options;
  options.samples = b.cfg.sensitivity_samples;
  options.radius = b.cfg.sensitivity_radius;
  options.batch_size = b.cfg.effective_eval_batch_size();
  return sensitivity_max(b.explain, b.images, b.saliency, b.targets, gens, options);
}

}  // namespace scouter
