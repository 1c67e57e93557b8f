// The explanation metrics of docs/explanations.md, on any model and any saliency map, so the
// same code measures SCOUTER's attention and the FC baselines' CAM maps. Everything works on
// batches in the model's input space (normalised images B x C x H x W) with saliency maps
// B x H x W already at input resolution (>= 0; scale does not matter unless a function says so).
// Randomness (infidelity, sensitivity) comes from one generator per image, seeded by the caller
// (seed and the image's split-wide index), so results do not depend on how images are batched or
// split over ranks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "worker/explain/explain_record.h"  // Box

namespace scouter {

// images (n x C x H x W, the model's input space) -> n x num_classes probabilities (softmax).
// Metrics call it with batches of at most `batch_size` images.
using ProbFn = std::function<torch::Tensor(const torch::Tensor& images)>;
// images (n x C x H x W) and target classes (n, int64) -> n x H x W saliency maps of the
// targets, computed exactly as the maps handed to the metrics were (sensitivity re-explains
// perturbed images with it).
using SaliencyFn =
    std::function<torch::Tensor(const torch::Tensor& images, const torch::Tensor& targets)>;

// Pixel mask (H x W bool) of a box.
torch::Tensor box_mask(const Box& box, int64_t height, int64_t width);

// Precision: saliency mass inside the box / total mass (map H x W, >= 0). NaN when the map sums
// to 0 or the box is invalid.
double box_precision(const torch::Tensor& map, const Box& box);

// RISE's blur kernel, one axis (klen float64 values, sum 1; the 2-D kernel is their outer
// product): RISE's gkern is scipy's gaussian_filter(delta, sigma) on a klen x klen grid, whose
// 'reflect' border folds the tails back, so for klen 11, sigma 5 it is nearly flat
// (0.0880 .. 0.0940), not a sampled Gaussian.
torch::Tensor rise_kernel(int64_t klen = 11, double sigma = 5.0);

// RISE's kernel applied per channel with zero padding klen / 2, as RISE's insertion substrate:
// images n x C x H x W -> same shape (float32).
torch::Tensor rise_blur(const torch::Tensor& images, int64_t klen = 11, double sigma = 5.0);

enum class CausalMode { kInsertion, kDeletion };

struct CausalOptions {
  int64_t step_pixels = 0;  // pixels revealed/removed per step; 0: the image width (RISE)
  int64_t batch_size = 64;  // images per call of the ProbFn
};

struct CausalCurve {
  std::vector<double> probs;  // target probability after 0, 1, ..., n_steps steps
  double auc = 0;             // trapezoid over [0, 1]: (sum - first/2 - last/2) / n_steps
};

// RISE insertion / deletion for each image: pixels ordered by saliency (descending; ties by
// ascending pixel index, a stable order), n_steps = ceil(H*W / step_pixels). Insertion starts
// from rise_blur(image) and copies the image's pixels in (all channels of a pixel at once);
// deletion starts from the image and sets pixels to 0. All n_steps + 1 images of all images are
// evaluated together in batches of batch_size: one image's curve costs (n_steps + 1) /
// batch_size forward passes. Step images are built as their batch is evaluated, so memory holds
// one batch, never all (n_steps + 1) x n of them.
std::vector<CausalCurve> causal_curves(const ProbFn& prob, const torch::Tensor& images,
                                       const torch::Tensor& saliency, const torch::Tensor& targets,
                                       CausalMode mode, const CausalOptions& options);

struct PerturbOptions {
  int64_t samples = 50;
  double sigma = 0.1;       // infidelity: std of the Gaussian perturbation I
  double radius = 0.2;      // sensitivity: perturbations uniform in [-radius, radius] per value
  int64_t batch_size = 64;  // perturbed images per call
};

// Infidelity (Yeh et al. 2019), as captum's `infidelity(..., normalize=True)`: for samples
// I ~ N(0, sigma^2) (n x C x H x W), a = sum(I * s) with the map s broadcast over channels,
// d = p_t(x) - p_t(x - I); beta = mean(a d) / mean(a^2) (0 when mean(a^2) = 0);
// infidelity = mean((beta a - d)^2). generators[i] draws image i's perturbations.
std::vector<double> infidelity(const ProbFn& prob, const torch::Tensor& images,
                               const torch::Tensor& saliency, const torch::Tensor& targets,
                               std::vector<torch::Generator>& generators,
                               const PerturbOptions& options);

// Max-sensitivity (Yeh et al. 2019), as captum's `sensitivity_max`: the largest
// ||s(x + u) - s(x)||_F / ||s(x)||_F over samples u ~ U(-radius, radius)^(C x H x W)
// (0 when ||s(x)|| = 0; then the plain norm of the difference).
std::vector<double> sensitivity_max(const SaliencyFn& explain, const torch::Tensor& images,
                                    const torch::Tensor& saliency, const torch::Tensor& targets,
                                    std::vector<torch::Generator>& generators,
                                    const PerturbOptions& options);

// A CPU generator seeded from (seed, index) by a fixed mix (splitmix64), for per-image draws.
torch::Generator image_generator(uint64_t seed, int64_t index);

}  // namespace scouter
