// Backbones whose parameter names equal timm's state_dict keys, so weights move both ways.
// A backbone maps B x in_chans x H x W images to a B x C x h x w feature map
// (forward_features); when built with num_classes > 0 it also owns timm's classifier `fc`
// (global average pool + Linear), which is the FC baseline's head. Which backbones exist, and the
// names of their parts, is the table of worker/model/backbone_spec.h.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "worker/model/backbone_spec.h"

namespace scouter {

class BackboneImpl : public torch::nn::Module {
 public:
  virtual ~BackboneImpl() = default;
  virtual torch::Tensor forward_features(const torch::Tensor& x) = 0;
  // Global average pool and fc; only for backbones built with num_classes > 0.
  torch::Tensor forward_head(const torch::Tensor& features);
  int64_t feature_channels() const { return feature_channels_; }
  bool has_head() const { return !fc_.is_empty(); }
  // The table row it was built from (make_backbone sets it); Error when built otherwise.
  const BackboneSpec& spec() const;
  void set_spec(const BackboneSpec* spec) { spec_ = spec; }

 protected:
  // Registers `fc` (Linear feature_channels -> num_classes) when num_classes > 0.
  void init_head(int64_t feature_channels, int64_t num_classes);

 private:
  int64_t feature_channels_ = 0;
  torch::nn::Linear fc_{nullptr};
  const BackboneSpec* spec_ = nullptr;
};

// The backbone of the table row `name` (backbone_spec.h: timm's resnet18, resnet50, resnest26d,
// resnest50d, worker/model/resnet.h says how one input channel is handled; smallcnn, a fast 28-px
// CPU backbone, worker/model/smallcnn.h). num_classes 0: no classifier (SCOUTER runs). Unknown
// names throw UserError naming the key `model`. published_stem (config stem = "published"): the
// published MNIST stem, one Conv2d(1, 64, 3, stride 2, padding 1), whatever the row's own stem
// (needs in_chans 1 and a row whose mnist_stem is not kNone).
std::shared_ptr<BackboneImpl> make_backbone(const std::string& name, int64_t in_chans,
                                            int64_t num_classes, bool published_stem = false);

// Feature channels of a backbone by name (the table's: resnet18 512, resnet50 and resnest* 2048).
int64_t backbone_channels(const std::string& name);

// The published dfs_freeze, by the row's stage names: freezes (requires_grad = false) every
// top-level module of the backbone except the stages after the first n (BackboneSpec::stages).
// n = 0 freezes nothing. Returns the number of parameter tensors frozen.
int64_t freeze_backbone(BackboneImpl& backbone, int64_t freeze_layers);

}  // namespace scouter
