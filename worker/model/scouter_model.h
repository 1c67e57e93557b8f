// The SCOUTER model (backbone -> conv1x1 + ReLU -> + sine position embedding -> xSlot) and its FC
// baseline (backbone with timm's pooled `fc` head), selected by use_slot. Feature maps of any
// size work (the published code hard-codes 9 x 9). The loss is NLL of log_softmax(logits) plus
// lambda_value * area^power for SCOUTER, reported in parts.
#pragma once

#include <torch/torch.h>

#include "common/config.h"
#include "worker/model/backbone.h"
#include "worker/model/xslot.h"

namespace scouter {

struct ModelOutput {
  torch::Tensor logits;     // B x num_classes
  torch::Tensor attn;       // B x K x N (SCOUTER only; undefined for FC)
  torch::Tensor area;       // scalar (SCOUTER only)
  torch::Tensor attn_loss;  // scalar (SCOUTER only)
  int64_t feat_h = 0, feat_w = 0;
};

struct LossParts {
  // Scalars with total = nll + attn, where attn is the weighted term lambda_value * area^power
  // (the published code reports the unweighted area^power); attn is 0 for FC.
  torch::Tensor total, nll, attn;
};

class ScouterModelImpl : public torch::nn::Module {
 public:
  // in_chans: image channels (from the shards). Uses model, use_slot, num_classes, channel,
  // hidden_dim, slots_per_class, to_k_layer, loss_status, power of cfg.
  ScouterModelImpl(const Config& cfg, int64_t in_chans);
  // With a given backbone (tests, or backbones make_backbone does not know); cfg.model unused.
  ScouterModelImpl(const Config& cfg, std::shared_ptr<BackboneImpl> backbone_module);
  // forward_from_features(forward_backbone(images)).
  ModelOutput forward(const torch::Tensor& images);
  // The backbone's forward_features as the head receives them: under autocast and cast to
  // float32 when bf16 (set_bf16), so the two halves can be run and timed apart
  // (worker/train/step_profile.h).
  torch::Tensor forward_backbone(const torch::Tensor& images);
  // Everything after the backbone's forward_features: B x C x h x w features -> outputs.
  ModelOutput forward_from_features(const torch::Tensor& features);

  // bf16 true: the backbone runs under autocast (bfloat16 convolutions); its features are then
  // cast to float32, so conv1x1, the slot head, the FC head and the loss stay in float32 (the
  // slot attention's row normalisation divides by sums that bfloat16 would round coarsely).
  void set_bf16(bool bf16) { bf16_ = bf16; }
  bool bf16() const { return bf16_; }

  bool use_slot() const { return use_slot_; }
  int64_t num_classes() const { return num_classes_; }
  int64_t slots_per_class() const { return slots_per_class_; }

  std::shared_ptr<BackboneImpl> backbone;
  torch::nn::Conv2d conv1x1{nullptr};  // SCOUTER only
  XSlot slot{nullptr};                 // SCOUTER only

 private:
  // The position embedding of the last feature-map size (it depends only on h, w, d, device and
  // dtype; recomputing it was a dozen small kernels per step).
  torch::Tensor position_embedding(const torch::Tensor& like, int64_t h, int64_t w);

  bool use_slot_;
  bool bf16_ = false;
  int64_t num_classes_, slots_per_class_, hidden_dim_, channel_;
  torch::Tensor pos_cache_;
};
TORCH_MODULE(ScouterModel);

LossParts compute_loss(const ModelOutput& out, const torch::Tensor& target, double lambda_value);

// Per-class attention maps: B x num_classes x h x w (slots of a class summed), from out.attn.
torch::Tensor class_attention_maps(const ModelOutput& out, int64_t num_classes,
                                   int64_t slots_per_class);

}  // namespace scouter
