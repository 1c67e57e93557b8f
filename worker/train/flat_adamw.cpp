#include "worker/train/flat_adamw.h"

#include "common/error.h"
#include "worker/run/optimizer_state.h"

namespace scouter {

FlatAdamW::FlatAdamW(FlatParams& flat, double lr, double weight_decay, double beta1, double beta2,
                     double eps)
    : flat_(flat), beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay) {
  exp_avg_ = torch::zeros_like(flat.values());
  exp_avg_sq_ = torch::zeros_like(flat.values());
  auto scalar = flat.values().options().dtype(torch::kFloat64);
  step_ = torch::zeros({}, scalar);
  lr_ = torch::full({}, lr, scalar);
}

void FlatAdamW::set_lr(double lr) { lr_.fill_(lr); }

void FlatAdamW::step() {
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
