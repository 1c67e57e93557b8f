// Backbones whose parameter names equal timm's state_dict keys, so weights move both ways.
// A backbone maps B x in_chans x H x W images to a B x C x h x w feature map
// (forward_features); when built with num_classes > 0 it also owns timm's classifier `fc`
// (global average pool + Linear), which is the FC baseline's head.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

namespace scouter {

class BackboneImpl : public torch::nn::Module {
 public:
  virtual ~BackboneImpl() = default;
  virtual torch::Tensor forward_features(const torch::Tensor& x) = 0;
  // Global average pool and fc; only for backbones built with num_classes > 0.
  torch::Tensor forward_head(const torch::Tensor& features);
  int64_t feature_channels() const { return feature_channels_; }
  bool has_head() const { return !fc_.is_empty(); }

 protected:
  // Registers `fc` (Linear feature_channels -> num_classes) when num_classes > 0.
  void init_head(int64_t feature_channels, int64_t num_classes);

 private:
  int64_t feature_channels_ = 0;
  torch::nn::Linear fc_{nullptr};
};

// name: one of known_models() (common/config.h): timm's resnet18, resnet50, resnest26d,
// resnest50d (worker/model/resnet.h says how one input channel is handled), or "smallcnn" (a fast
// 28-px CPU backbone, 7 x 7 feature map at 28 px). num_classes 0: no classifier (SCOUTER runs).
// Unknown names throw UserError naming the key `model`.
// published_stem (config stem = "published"): the ResNet family gets the published MNIST stem,
// one Conv2d(1, 64, 3, stride 2, padding 1), whatever its timm stem (needs in_chans 1).
std::shared_ptr<BackboneImpl> make_backbone(const std::string& name, int64_t in_chans,
                                            int64_t num_classes, bool published_stem = false);

// Feature channels of a backbone by name (resnet18: 512, resnet50 and resnest*: 2048).
int64_t backbone_channels(const std::string& name);

// The published dfs_freeze: freezes (requires_grad = false) every backbone parameter except
// those under the first 4 - n of [layer4, layer3, layer2, layer1]. n = 0 freezes nothing.
// Returns the number of parameter tensors frozen.
int64_t freeze_backbone(torch::nn::Module& backbone, int64_t freeze_layers);

}  // namespace scouter
