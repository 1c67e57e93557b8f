#include "worker/train/flat_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "common/error.h"
#include "worker/run/optimizer_state.h"

namespace scouter {

FlatAdamW::FlatAdamW(FlatParams& flat, double lr, double weight_decay, double beta1, double beta2,
                     double eps, Kernel kernel)
    : flat_(flat), beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay) {
  const torch::Tensor& v = flat.values();
  const bool can_fuse = v.device().is_cpu() && v.scalar_type() == torch::kFloat && v.is_contiguous() &&
                        flat.grads().scalar_type() == torch::kFloat && flat.grads().is_contiguous();
  SCOUTER_CHECK(kernel != Kernel::kFused || can_fuse, "the fused AdamW needs contiguous float32 CPU buffers");
  fused_ = kernel == Kernel::kFused || (kernel == Kernel::kAuto && can_fuse);
  exp_avg_ = torch::zeros_like(flat.values());
  exp_avg_sq_ = torch::zeros_like(flat.values());
  auto scalar = flat.values().options().dtype(torch::kFloat64);
  step_ = torch::zeros({}, scalar);
  lr_ = torch::full({}, lr, scalar);
}

void FlatAdamW::set_lr(double lr) { lr_.fill_(lr); }

void FlatAdamW::step() {
  if (fused_) return fused_step();
  torch::NoGradGuard no_grad;
  const torch::Tensor& p = flat_.values();
  const torch::Tensor& g = flat_.grads();
  // The same operations as LibTorch's AdamW::step, with the host scalars that depend on the
  // step count or the learning rate computed on the device (in float64, as LibTorch does).
  step_.add_(1);
  auto bias_correction1 = 1 - torch::pow(beta1_, step_);
  auto bias_correction2 = 1 - torch::pow(beta2_, step_);
  if (weight_decay_ != 0) p.mul_(1 - lr_ * weight_decay_);
  exp_avg_.mul_(beta1_).add_(g, 1 - beta1_);
  exp_avg_sq_.mul_(beta2_).addcmul_(g, g, 1 - beta2_);
  auto denom = (exp_avg_sq_.sqrt() / bias_correction2.sqrt()).add_(eps_);
  auto step_size = lr_ / bias_correction1;
  p.sub_(exp_avg_.div(denom).mul_(step_size));
}

namespace {

struct FusedScalars {
  float decay, b1, one_b1, b2, one_b2, bc2_sqrt, step_size, eps;
  bool decays;
};

// One chunk of the fused update. Compiled for AVX-512, AVX2 and plain x86-64 and picked at load
// time for this CPU (GCC/Clang function multiversioning), so the loop runs vectorised (this file
// is compiled with -fno-math-errno, which lets sqrt vectorise; the moments are never negative).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void fused_adamw_chunk(float* p, const float* g, float* m, float* v, int64_t n, const FusedScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    const float pi = s.decays ? p[i] * s.decay : p[i];
    const float gi = g[i];
    const float mi = m[i] * s.b1 + gi * s.one_b1;
    const float vi = v[i] * s.b2 + gi * gi * s.one_b2;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / s.bc2_sqrt + s.eps;
    p[i] = pi - mi / denom * s.step_size;
  }
}

}  // namespace

// The operations of step() per element, in the same order and in float32 as LibTorch's float
// kernels compute them (scalars rounded to float), with the step's host scalars computed in
// float64 as LibTorch's AdamW does.
void FlatAdamW::fused_step() {
  const double step = step_.item<double>() + 1;
  step_.fill_(step);
  const double lr = lr_.item<double>();
  FusedScalars s;
  s.decay = static_cast<float>(1 - lr * weight_decay_);
  s.decays = weight_decay_ != 0;
  s.b1 = static_cast<float>(beta1_);
  s.one_b1 = static_cast<float>(1 - beta1_);
  s.b2 = static_cast<float>(beta2_);
  s.one_b2 = static_cast<float>(1 - beta2_);
  s.bc2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(beta2_, step)));
  s.step_size = static_cast<float>(lr / (1 - std::pow(beta1_, step)));
  s.eps = static_cast<float>(eps_);
  float* p = flat_.values().data_ptr<float>();
  const float* g = flat_.grads().data_ptr<float>();
  float* m = exp_avg_.data_ptr<float>();
  float* v = exp_avg_sq_.data_ptr<float>();
  at::parallel_for(0, flat_.values().numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    fused_adamw_chunk(p + begin, g + begin, m + begin, v + begin, end - begin, s);
  });
}

void FlatAdamW::export_to(torch::optim::AdamW& opt) const {
  const int64_t step = static_cast<int64_t>(step_.item<double>());
  opt.param_groups().at(0).options().set_lr(lr_.item<double>());
  for (const auto& s : flat_.slots()) {
    auto key = optimizer_state_key(s.param);
    if (step == 0) {
      opt.state().erase(key);
      continue;
    }
    auto st = std::make_unique<torch::optim::AdamWParamState>();
    st->step(step);
    st->exp_avg(exp_avg_.as_strided(s.param.sizes(), s.param.strides(), s.offset).clone());
    st->exp_avg_sq(exp_avg_sq_.as_strided(s.param.sizes(), s.param.strides(), s.offset).clone());
    opt.state()[key] = std::move(st);
  }
}

void FlatAdamW::import_from(torch::optim::AdamW& opt) {
  torch::NoGradGuard no_grad;
  int64_t step = -1;
  exp_avg_.zero_();
  exp_avg_sq_.zero_();
  for (const auto& s : flat_.slots()) {
    auto it = opt.state().find(optimizer_state_key(s.param));
    if (it == opt.state().end()) continue;
    auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
    SCOUTER_CHECK(step < 0 || st.step() == step,
                  "optimizer state: parameters at different step counts (" + s.name + ")");
    step = st.step();
    exp_avg_.as_strided(s.param.sizes(), s.param.strides(), s.offset).copy_(st.exp_avg());
    exp_avg_sq_.as_strided(s.param.sizes(), s.param.strides(), s.offset).copy_(st.exp_avg_sq());
  }
  step_.fill_(static_cast<double>(std::max<int64_t>(step, 0)));
}

}  // namespace scouter
