#include "worker/comm/flat_params.h"

#include "common/error.h"

namespace scouter {

FlatParams::FlatParams(const std::vector<std::pair<std::string, torch::Tensor>>& params) {
  SCOUTER_CHECK(!params.empty(), "FlatParams needs at least one parameter");
  const torch::Tensor& first = params.front().second;
  int64_t offset = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const torch::Tensor& p = it->second;
    SCOUTER_CHECK(p.scalar_type() == first.scalar_type() && p.device() == first.device(),
                  "FlatParams: parameters of one dtype and device only (" + it->first + ")");
    SCOUTER_CHECK(p.is_non_overlapping_and_dense(),
                  "FlatParams: parameter " + it->first + " is not dense");
    slots_.push_back({it->first, p, offset, p.numel()});
    offset += p.numel();
  }
  auto opts = first.options().requires_grad(false);
  values_ = torch::empty({offset}, opts);
  grads_ = torch::zeros({offset}, opts);
  torch::NoGradGuard no_grad;
  for (Slot& s : slots_) {
    torch::Tensor view = values_.as_strided(s.param.sizes(), s.param.strides(), s.offset);
    view.copy_(s.param);
    s.param.set_data(view);
  }
  attach_grads();
}

void FlatParams::attach_grads() {
  for (Slot& s : slots_)
    s.param.mutable_grad() = grads_.as_strided(s.param.sizes(), s.param.strides(), s.offset);
}

}  // namespace scouter
