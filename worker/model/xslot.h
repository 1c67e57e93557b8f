// The explainable slot-attention head (xSlot) of SCOUTER, exactly as the published code computes
// it (sloter/utils/slot_attention.py; docs/model.md, "What is computed"): sigmoid attention with
// its row normalisation, updates divided by d, a GRU step per iteration, per-class sums of the
// updates as logits (times loss_status) and the attention-area loss. Parameter names follow the
// published state_dict: initial_slots, to_q.0.*, to_k.{0,2,4,...}.*, gru.{weight,bias}_{ih,hh}_l0.
#pragma once

#include <torch/torch.h>

namespace scouter {

struct XSlotOutput {
  torch::Tensor logits;     // B x num_classes: loss_status * sum over d of the class updates
  torch::Tensor attn;       // B x K x N, last iteration's attention (K = classes * spc)
  torch::Tensor area;       // scalar: sum(attn) / (B * K * N)
  torch::Tensor attn_loss;  // scalar: area ^ power
};

class XSlotImpl : public torch::nn::Module {
 public:
  XSlotImpl(int64_t num_classes, int64_t slots_per_class, int64_t dim, int64_t to_k_layer,
            int64_t loss_status, double power, int64_t iters = 3);
  // x_pe: B x N x d features plus position embedding (keys); x: B x N x d features (values).
  XSlotOutput forward(const torch::Tensor& x_pe, const torch::Tensor& x);

  int64_t num_classes() const { return num_classes_; }
  int64_t slots_per_class() const { return slots_per_class_; }

  torch::Tensor initial_slots;   // 1 x K x d
  torch::nn::Sequential to_q{nullptr};  // unused in forward (as published), kept for state_dicts
  torch::nn::Sequential to_k{nullptr};
  torch::nn::GRU gru{nullptr};

 private:
  int64_t num_classes_, slots_per_class_, dim_, iters_, loss_status_;
  double power_;
};
TORCH_MODULE(XSlot);

// Sums each class's consecutive slots: B x (classes*spc) x N -> B x classes x N.
torch::Tensor per_class_sum(const torch::Tensor& t, int64_t num_classes, int64_t slots_per_class);

}  // namespace scouter
