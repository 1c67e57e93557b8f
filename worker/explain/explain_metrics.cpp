// The explanation metrics: box precision, RISE insertion/deletion, infidelity and
// max-sensitivity. Model calls go through one batching helper, which builds its inputs item by
// item, so memory stays at one batch (plus one image's perturbations) whatever the number of
// images or steps.
#include "worker/explain/explain_metrics.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace scouter {

namespace {

// A model-like function on a batch: images n x C x H x W and targets n -> n x ... outputs.
using BatchFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;

// Evaluates items 0 .. total - 1 in chunks of at most batch_size. make(item) returns the item's
// input (C x H x W) and is called in increasing item order, so it may cache per-image state;
// consume(item, output) gets row `item` of fn's output.
void evaluate_in_batches(int64_t total, int64_t batch_size,
                         const std::function<torch::Tensor(int64_t)>& make,
                         const std::function<int64_t(int64_t)>& target, const BatchFn& fn,
                         const std::function<void(int64_t, const torch::Tensor&)>& consume) {
  SCOUTER_CHECK(batch_size > 0, "batch_size must be positive");
  for (int64_t first = 0; first < total; first += batch_size) {
    const int64_t n = std::min(batch_size, total - first);
    std::vector<torch::Tensor> inputs;
    std::vector<int64_t> targets;
    inputs.reserve(n);
    targets.reserve(n);
    for (int64_t j = 0; j < n; ++j) {
      inputs.push_back(make(first + j));
      targets.push_back(target(first + j));
    }
    auto out = fn(torch::stack(inputs), torch::tensor(targets, torch::kInt64));
    SCOUTER_CHECK(out.size(0) == n, "a metric's model function returned the wrong batch size");
    for (int64_t j = 0; j < n; ++j) consume(first + j, out[j]);
  }
}

// The target class's probability for each image of a batch, without autograd.
BatchFn target_prob_fn(const ProbFn& prob) {
  return [&prob](const torch::Tensor& images, const torch::Tensor& targets) {
    torch::NoGradGuard no_grad;
    auto p = prob(images);
    return p.gather(1, targets.to(p.device()).view({-1, 1})).squeeze(1).to(torch::kFloat64).cpu();
  };
}

void check_inputs(const torch::Tensor& images, const torch::Tensor& saliency,
                  const torch::Tensor& targets) {
  SCOUTER_CHECK(images.dim() == 4, "images must be B x C x H x W");
  SCOUTER_CHECK(saliency.dim() == 3 && saliency.size(0) == images.size(0) &&
                    saliency.size(1) == images.size(2) && saliency.size(2) == images.size(3),
                "saliency must be B x H x W at the images' resolution");
  SCOUTER_CHECK(targets.dim() == 1 && targets.size(0) == images.size(0),
                "targets must hold one class per image");
}

int64_t target_of(const torch::Tensor& targets, int64_t image) {
  return targets[image].item<int64_t>();
}

// rank[p] = position of pixel p in descending saliency order (ties: lower pixel index first).
torch::Tensor saliency_ranks(const torch::Tensor& map) {
  auto values = map.flatten().to(torch::kFloat64).contiguous();
  const double* v = values.data_ptr<double>();
  const int64_t n = values.numel();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [v](int64_t a, int64_t b) { return v[a] > v[b]; });
  auto rank = torch::empty({n}, torch::kInt64);
  auto r = rank.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) r[order[i]] = i;
  return rank.view_as(map);
}

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

torch::Tensor box_mask(const Box& box, int64_t height, int64_t width) {
  if (!box.valid()) return torch::zeros({height, width}, torch::kBool);
  auto cols = torch::arange(width, torch::kFloat64) + 0.5;
  auto rows = torch::arange(height, torch::kFloat64) + 0.5;
  auto in_x = (cols >= box.x) & (cols < box.x + box.w);
  auto in_y = (rows >= box.y) & (rows < box.y + box.h);
  return in_y.view({height, 1}) & in_x.view({1, width});
}

double box_precision(const torch::Tensor& map, const Box& box) {
  SCOUTER_CHECK(map.dim() == 2, "box_precision takes one H x W map");
  auto m = map.to(torch::kFloat64).cpu();
  const double total = m.sum().item<double>();
  if (!box.valid() || total == 0) return std::numeric_limits<double>::quiet_NaN();
  auto inside = m.masked_select(box_mask(box, m.size(0), m.size(1))).sum().item<double>();
  return inside / total;
}

torch::Tensor rise_kernel(int64_t klen, double sigma) {
  SCOUTER_CHECK(klen > 0 && sigma > 0, "bad RISE kernel size");
  // scipy.ndimage.gaussian_filter1d of a centred delta: a sampled Gaussian of radius
  // int(4 sigma + 0.5), normalised, correlated with the delta under 'reflect' extension
  // (d c b a | a b c d | d c b a, period 2 klen).
  const int64_t radius = static_cast<int64_t>(4.0 * sigma + 0.5);
  std::vector<double> weights;
  for (int64_t t = -radius; t <= radius; ++t) {
    weights.push_back(std::exp(-0.5 * static_cast<double>(t * t) / (sigma * sigma)));
  }
  const double wsum = std::accumulate(weights.begin(), weights.end(), 0.0);
  const int64_t centre = klen / 2;
  auto kernel = torch::zeros({klen}, torch::kFloat64);
  auto k = kernel.accessor<double, 1>();
  for (int64_t p = 0; p < klen; ++p) {
    for (int64_t t = -radius; t <= radius; ++t) {
      int64_t q = ((p + t) % (2 * klen) + 2 * klen) % (2 * klen);
      if (q >= klen) q = 2 * klen - 1 - q;
      if (q == centre) k[p] += weights[t + radius] / wsum;
    }
  }
  return kernel;
}

torch::Tensor rise_blur(const torch::Tensor& images, int64_t klen, double sigma) {
  SCOUTER_CHECK(images.dim() == 4, "rise_blur takes n x C x H x W images");
  auto k1 = rise_kernel(klen, sigma);
  auto k2 = torch::outer(k1, k1).to(torch::kFloat32).to(images.device());
  const int64_t c = images.size(1);
  // Depthwise: each channel blurred on its own (RISE's kern[i, i] = k, zeros elsewhere).
  auto weight = k2.view({1, 1, klen, klen}).expand({c, 1, klen, klen}).contiguous();
  namespace F = torch::nn::functional;
  return F::conv2d(images.to(torch::kFloat32), weight,
                   F::Conv2dFuncOptions().padding(klen / 2).groups(c));
}

std::vector<CausalCurve> causal_curves(const ProbFn& prob, const torch::Tensor& images,
                                       const torch::Tensor& saliency, const torch::Tensor& targets,
                                       CausalMode mode, const CausalOptions& options) {
  check_inputs(images, saliency, targets);
  const int64_t batch = images.size(0), height = images.size(2), width = images.size(3);
  const int64_t step = options.step_pixels > 0 ? options.step_pixels : width;
  const int64_t n_steps = (height * width + step - 1) / step;
  const bool insertion = mode == CausalMode::kInsertion;
  // start: the picture before any step; finish: what a step copies in.
  auto finish = insertion ? images.to(torch::kFloat32) : torch::zeros_like(images, torch::kFloat32);
  auto start = insertion ? rise_blur(images) : images.to(torch::kFloat32);
  std::vector<torch::Tensor> ranks;
  for (int64_t b = 0; b < batch; ++b) {
    ranks.push_back(saliency_ranks(saliency[b]).to(images.device()));
  }

  std::vector<CausalCurve> curves(batch);
  for (auto& c : curves) c.probs.resize(n_steps + 1);
  const int64_t per_image = n_steps + 1;
  evaluate_in_batches(
      batch * per_image, options.batch_size,
      [&](int64_t item) {
        const int64_t b = item / per_image, k = item % per_image;
        auto changed = ranks[b] < k * step;  // H x W, broadcast over channels
        return torch::where(changed, finish[b], start[b]);
      },
      [&](int64_t item) { return target_of(targets, item / per_image); }, target_prob_fn(prob),
      [&](int64_t item, const torch::Tensor& p) {
        curves[item / per_image].probs[item % per_image] = p.item<double>();
      });
  for (auto& c : curves) {
    const double sum = std::accumulate(c.probs.begin(), c.probs.end(), 0.0);
    c.auc = (sum - c.probs.front() / 2 - c.probs.back() / 2) / static_cast<double>(n_steps);
  }
  return curves;
}

std::vector<double> infidelity(const ProbFn& prob, const torch::Tensor& images,
                               const torch::Tensor& saliency, const torch::Tensor& targets,
                               std::vector<torch::Generator>& generators,
                               const PerturbOptions& options) {
  check_inputs(images, saliency, targets);
  const int64_t batch = images.size(0), samples = options.samples;
  SCOUTER_CHECK(static_cast<int64_t>(generators.size()) == batch && samples > 0,
                "infidelity needs one generator per image and at least one sample");
  // Item b * (samples + 1) + 0 is image b itself, + 1 + s its s-th perturbed copy.
  const int64_t per_image = samples + 1;
  auto x = images.to(torch::kFloat32);
  const std::vector<int64_t> draw_shape = {samples, x.size(1), x.size(2), x.size(3)};
  torch::Tensor noise;  // the current image's perturbations, samples x C x H x W
  int64_t noise_of = -1;
  std::vector<double> p_clean(batch);
  auto a = torch::empty({batch, samples}, torch::kFloat64);  // sum(I * s) per sample
  auto d = torch::empty({batch, samples}, torch::kFloat64);  // p_t(x) - p_t(x - I)
  evaluate_in_batches(
      batch * per_image, options.batch_size,
      [&](int64_t item) {
        const int64_t b = item / per_image, s = item % per_image;
        if (s == 0) return x[b];
        if (noise_of != b) {
          noise = torch::randn(draw_shape, generators[b], torch::kFloat32) * options.sigma;
          noise = noise.to(x.device());
          auto sal = saliency[b].to(torch::kFloat32).unsqueeze(0).unsqueeze(0);
          a[b].copy_((noise * sal).sum({1, 2, 3}).to(torch::kFloat64).cpu());
          noise_of = b;
        }
        return x[b] - noise[s - 1];
      },
      [&](int64_t item) { return target_of(targets, item / per_image); }, target_prob_fn(prob),
      [&](int64_t item, const torch::Tensor& p) {
        const int64_t b = item / per_image, s = item % per_image;
        if (s == 0) {
          p_clean[b] = p.item<double>();
        } else {
          d[b][s - 1] = p_clean[b] - p.item<double>();
        }
      });
  std::vector<double> result(batch);
  for (int64_t b = 0; b < batch; ++b) {
    const double num = (a[b] * d[b]).mean().item<double>();
    const double den = (a[b] * a[b]).mean().item<double>();
    const double beta = den == 0 ? 0.0 : num / den;
    result[b] = (beta * a[b] - d[b]).pow(2).mean().item<double>();
  }
  return result;
}

std::vector<double> sensitivity_max(const SaliencyFn& explain, const torch::Tensor& images,
                                    const torch::Tensor& saliency, const torch::Tensor& targets,
                                    std::vector<torch::Generator>& generators,
                                    const PerturbOptions& options) {
  check_inputs(images, saliency, targets);
  const int64_t batch = images.size(0), samples = options.samples;
  SCOUTER_CHECK(static_cast<int64_t>(generators.size()) == batch && samples > 0,
                "sensitivity_max needs one generator per image and at least one sample");
  auto x = images.to(torch::kFloat32);
  const std::vector<int64_t> draw_shape = {samples, x.size(1), x.size(2), x.size(3)};
  torch::Tensor noise;
  int64_t noise_of = -1;
  std::vector<double> result(batch, 0.0);
  std::vector<torch::Tensor> base_maps;  // s(x) per image, float64 on the CPU
  std::vector<double> base_norms;
  for (int64_t b = 0; b < batch; ++b) {
    base_maps.push_back(saliency[b].detach().to(torch::kFloat64).cpu());
    base_norms.push_back(base_maps.back().norm().item<double>());
  }
  evaluate_in_batches(
      batch * samples, options.batch_size,
      [&](int64_t item) {
        const int64_t b = item / samples, s = item % samples;
        if (noise_of != b) {
          // U(-radius, radius), as captum's default perturbation.
          noise =
              (torch::rand(draw_shape, generators[b], torch::kFloat32) * 2 - 1) * options.radius;
          noise = noise.to(x.device());
          noise_of = b;
        }
        return x[b] + noise[s];
      },
      [&](int64_t item) { return target_of(targets, item / samples); }, explain,
      [&](int64_t item, const torch::Tensor& map) {
        const int64_t b = item / samples;
        const double diff =
            (map.detach().to(torch::kFloat64).cpu() - base_maps[b]).norm().item<double>();
        result[b] = std::max(result[b], base_norms[b] == 0 ? diff : diff / base_norms[b]);
      });
  return result;
}

torch::Generator image_generator(uint64_t seed, int64_t index) {
  // CPU generators seed mt19937 with the low 32 bits, which splitmix64 mixes well.
  return at::detail::createCPUGenerator(
      splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(index)));
}

}  // namespace scouter
