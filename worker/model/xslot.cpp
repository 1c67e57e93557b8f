// xSlot as published (sloter/utils/slot_attention.py), with |sigma| for the initial-slot draw.
// The last iteration's GRU step is skipped: the published code computes it but never uses its
// output, so outputs and gradients are the same without it.
#include "worker/model/xslot.h"

#include <cmath>

#include "common/error.h"

namespace scouter {

namespace nn = torch::nn;

XSlotImpl::XSlotImpl(int64_t num_classes, int64_t slots_per_class, int64_t dim, int64_t to_k_layer,
                     int64_t loss_status, double power, int64_t iters)
    : num_classes_(num_classes),
      slots_per_class_(slots_per_class),
      dim_(dim),
      iters_(iters),
      loss_status_(loss_status),
      power_(power) {
  SCOUTER_CHECK(num_classes > 0 && slots_per_class > 0 && dim > 0, "xSlot sizes must be positive");
  SCOUTER_CHECK(to_k_layer >= 1 && iters >= 1, "to_k_layer and iters must be >= 1");
  const int64_t num_slots = num_classes * slots_per_class;
  // Draw order as published: mu, sigma, then the slots (global generator, so manual_seed works).
  auto mu = torch::randn({1, 1, dim});
  auto sigma = torch::randn({1, 1, dim});
  initial_slots = register_parameter(
      "initial_slots", at::normal(mu.expand({1, num_slots, dim}).contiguous(),
                                  sigma.abs().expand({1, num_slots, dim}).contiguous()));

  to_q = register_module("to_q", nn::Sequential(nn::Linear(dim, dim)));
  to_k = register_module("to_k", nn::Sequential(nn::Linear(dim, dim)));
  for (int64_t i = 1; i < to_k_layer; ++i) {
    to_k->push_back(nn::ReLU());
    to_k->push_back(nn::Linear(dim, dim));
  }
  gru = register_module("gru", nn::GRU(nn::GRUOptions(dim, dim)));
}

XSlotOutput XSlotImpl::forward(const torch::Tensor& x_pe, const torch::Tensor& x) {
  SCOUTER_CHECK(x_pe.dim() == 3 && x_pe.sizes() == x.sizes() && x.size(2) == dim_,
                "xSlot expects x_pe and x of shape B x N x d");
  const int64_t b = x.size(0), n = x.size(1), d = x.size(2);
  const int64_t num_slots = num_classes_ * slots_per_class_;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim_));

  auto params = gru->named_parameters(/*recurse=*/false);
  const auto& w_ih = params["weight_ih_l0"];
  const auto& w_hh = params["weight_hh_l0"];
  const auto& b_ih = params["bias_ih_l0"];
  const auto& b_hh = params["bias_hh_l0"];

  torch::Tensor slots = initial_slots.expand({b, num_slots, d});
  const torch::Tensor k_t = to_k->forward(x_pe).transpose(1, 2);  // B x d x N
  torch::Tensor attn, updates;
  for (int64_t it = 0; it < iters_; ++it) {
    auto dots = torch::matmul(slots, k_t) * scale;  // B x K x N
    // Each slot's row divided by its own sum, times the image's total (the published quirk).
    dots = dots / dots.sum(2, /*keepdim=*/true) * dots.sum({1, 2}, /*keepdim=*/true);
    attn = torch::sigmoid(dots);
    updates = torch::matmul(attn, x) / static_cast<double>(d);  // B x K x d
    if (it + 1 < iters_) {
      // One GRU step over B*K sequences: input = updates, hidden = previous slots.
      slots = torch::gru_cell(updates.reshape({b * num_slots, d}),
                              slots.reshape({b * num_slots, d}), w_ih, w_hh, b_ih, b_hh)
                  .view({b, num_slots, d});
    }
  }

  XSlotOutput out;
  auto class_updates = per_class_sum(updates, num_classes_, slots_per_class_);  // B x C x d
  out.logits = class_updates.sum(2) * static_cast<double>(loss_status_);
  // Divided one axis at a time, as published (attn is a sigmoid, so its relu there is a no-op).
  out.area =
      attn.sum() / static_cast<double>(b) / static_cast<double>(num_slots) / static_cast<double>(n);
  out.attn_loss = out.area.pow(power_);
  out.attn = attn;
  return out;
}

torch::Tensor per_class_sum(const torch::Tensor& t, int64_t num_classes, int64_t slots_per_class) {
  SCOUTER_CHECK(t.dim() == 3 && t.size(1) == num_classes * slots_per_class,
                "per_class_sum expects B x (classes * slots_per_class) x N");
  if (slots_per_class == 1) return t;
  return t.reshape({t.size(0), num_classes, slots_per_class, t.size(2)}).sum(2);
}

}  // namespace scouter
