// SCOUTER and its FC baseline (sloter/slot_model.py), for feature maps of any size.
#include "worker/model/scouter_model.h"

#include "common/error.h"
#include "worker/model/position_embedding.h"
#include "worker/model/precision.h"

namespace scouter {

namespace nn = torch::nn;

ScouterModelImpl::ScouterModelImpl(const Config& cfg, int64_t in_chans)
    : ScouterModelImpl(cfg,
                       make_backbone(cfg.model, in_chans, cfg.use_slot ? 0 : cfg.num_classes,
                                     cfg.stem == "published")) {}

ScouterModelImpl::ScouterModelImpl(const Config& cfg, std::shared_ptr<BackboneImpl> backbone_module)
    : use_slot_(cfg.use_slot),
      num_classes_(cfg.num_classes),
      slots_per_class_(cfg.slots_per_class),
      hidden_dim_(cfg.hidden_dim) {
  // Construction order as published (backbone, conv1x1, slot), so seeded draws line up.
  backbone = register_module("backbone", std::move(backbone_module));
  channel_ = backbone->feature_channels();
  if (!use_slot_) {
    SCOUTER_CHECK(backbone->has_head(), "the FC baseline needs a backbone with a classifier");
    return;  // the FC baseline ignores `channel`
  }
  SCOUTER_CHECK(!backbone->has_head(), "a SCOUTER backbone must be built without a classifier");
  if (hidden_dim_ % 4 != 0) {
    // DETR's embedding interleaves sin/cos over d/2 features per axis, so d/2 must be even.
    throw UserError("hidden_dim = " + std::to_string(hidden_dim_) + " is not a multiple of 4",
                    "the sine position embedding needs an even number (d/2) per axis: use 64");
  }
  if (cfg.channel > 0 && cfg.channel != channel_) {
    throw UserError(
        "channel = " + std::to_string(cfg.channel) + " does not match model '" + cfg.model +
            "', which has " + std::to_string(channel_) + " feature channels",
        "set channel = " + std::to_string(channel_) + " or 0 (derive it from the backbone)");
  }
  conv1x1 = register_module("conv1x1",
                            nn::Conv2d(nn::Conv2dOptions(channel_, hidden_dim_, 1).bias(true)));
  slot = register_module("slot", XSlot(cfg.num_classes, cfg.slots_per_class, cfg.hidden_dim,
                                       cfg.to_k_layer, cfg.loss_status, cfg.power));
}

ModelOutput ScouterModelImpl::forward(const torch::Tensor& images) {
  return forward_from_features(forward_backbone(images));
}

torch::Tensor ScouterModelImpl::forward_backbone(const torch::Tensor& images) {
  if (!bf16_) return backbone->forward_features(images);
  torch::Tensor features;
  {
    AutocastScope autocast(images.device().type(), true);
    features = backbone->forward_features(images);
  }
  return features.to(torch::kFloat);
}

torch::Tensor ScouterModelImpl::position_embedding(const torch::Tensor& like, int64_t h, int64_t w) {
  const bool hit = pos_cache_.defined() && pos_cache_.size(2) == h && pos_cache_.size(3) == w &&
                   pos_cache_.device() == like.device() && pos_cache_.scalar_type() == like.scalar_type();
  if (!hit) pos_cache_ = sine_position_embedding(h, w, hidden_dim_, like.options()).to(like.scalar_type());
  return pos_cache_;
}

ModelOutput ScouterModelImpl::forward_from_features(const torch::Tensor& features) {
  SCOUTER_CHECK(features.dim() == 4 && features.size(1) == channel_,
                "features must be B x " + std::to_string(channel_) + " x h x w");
  ModelOutput out;
  out.feat_h = features.size(2);
  out.feat_w = features.size(3);
  if (!use_slot_) {
    out.logits = backbone->forward_head(features);
    return out;
  }
  auto f = torch::relu(conv1x1(features));  // B x d x h x w
  auto pos = position_embedding(f, out.feat_h, out.feat_w);
  // B x d x h x w -> B x N x d (N = h*w, row-major over h, w as the published reshape).
  auto x = f.flatten(2).transpose(1, 2);
  auto x_pe = (f + pos).flatten(2).transpose(1, 2);
  XSlotOutput s = slot(x_pe, x);
  out.logits = s.logits;
  out.attn = s.attn;
  out.area = s.area;
  out.attn_loss = s.attn_loss;
  return out;
}

LossParts compute_loss(const ModelOutput& out, const torch::Tensor& target, double lambda_value) {
  LossParts parts;
  parts.nll = torch::nll_loss(torch::log_softmax(out.logits, 1), target);
  parts.attn = out.attn_loss.defined() ? out.attn_loss * lambda_value
                                       : torch::zeros({}, parts.nll.options());
  parts.total = parts.nll + parts.attn;
  return parts;
}

torch::Tensor class_attention_maps(const ModelOutput& out, int64_t num_classes,
                                   int64_t slots_per_class) {
  SCOUTER_CHECK(out.attn.defined(), "attention maps need a SCOUTER model's output");
  auto maps = per_class_sum(out.attn, num_classes, slots_per_class);
  return maps.reshape({maps.size(0), num_classes, out.feat_h, out.feat_w});
}

}  // namespace scouter
