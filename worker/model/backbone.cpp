// The backbone interface and factory, the published freeze rule, and a small ResNet-named CNN
// for fast CPU runs (the timm ResNet family is in worker/model/resnet.cpp).
#include "worker/model/backbone.h"

#include <array>

#include "common/config.h"
#include "common/error.h"
#include "common/text.h"
#include "worker/model/resnet.h"
#include "worker/model/resnet_blocks.h"

namespace scouter {

namespace nn = torch::nn;

namespace {

// smallcnn: widths of conv1 and layer1..layer4, and their strides (28 px -> 7 x 7).
constexpr std::array<int64_t, 5> kSmallWidths = {32, 32, 64, 64, 64};
constexpr std::array<int64_t, 5> kSmallStrides = {1, 2, 1, 2, 1};

class ConvBnReluImpl : public nn::Module {
 public:
  ConvBnReluImpl(int64_t in, int64_t out, int64_t stride) {
    conv_ = register_module("conv", conv_nobias(in, out, 3, stride, 1));
    bn_ = register_module("bn", nn::BatchNorm2d(out));
  }
  torch::Tensor forward(const torch::Tensor& x) { return relu_inplace(bn_(conv_(x))); }

 private:
  nn::Conv2d conv_{nullptr};
  nn::BatchNorm2d bn_{nullptr};
};
TORCH_MODULE(ConvBnRelu);

// Plain (non-residual) blocks, so no zero-init of the last BN: that would zero the signal.
class SmallCnnImpl : public BackboneImpl {
 public:
  SmallCnnImpl(int64_t in_chans, int64_t num_classes) {
    conv1_ =
        register_module("conv1", conv_nobias(in_chans, kSmallWidths[0], 3, kSmallStrides[0], 1));
    bn1_ = register_module("bn1", nn::BatchNorm2d(kSmallWidths[0]));
    for (size_t i = 0; i < layers_.size(); ++i) {
      layers_[i] = register_module(
          "layer" + std::to_string(i + 1),
          nn::Sequential(ConvBnRelu(kSmallWidths[i], kSmallWidths[i + 1], kSmallStrides[i + 1])));
    }
    init_head(kSmallWidths.back(), num_classes);
    timm_init(*this);
  }
  torch::Tensor forward_features(const torch::Tensor& x) override {
    auto y = relu_inplace(bn1_(conv1_(x)));
    for (auto& layer : layers_) y = layer->forward(y);
    return y;
  }

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  std::array<nn::Sequential, 4> layers_{nn::Sequential{nullptr}, nn::Sequential{nullptr},
                                        nn::Sequential{nullptr}, nn::Sequential{nullptr}};
};

[[noreturn]] void unknown_model(const std::string& name) {
  throw UserError("unknown model '" + name + "'", "valid: " + join(known_models(), ", "));
}

}  // namespace

torch::Tensor BackboneImpl::forward_head(const torch::Tensor& features) {
  SCOUTER_CHECK(has_head(), "forward_head on a backbone built without a classifier");
  return fc_(features.mean({2, 3}));
}

void BackboneImpl::init_head(int64_t feature_channels, int64_t num_classes) {
  feature_channels_ = feature_channels;
  if (num_classes > 0) fc_ = register_module("fc", nn::Linear(feature_channels, num_classes));
}

std::shared_ptr<BackboneImpl> make_backbone(const std::string& name, int64_t in_chans,
                                            int64_t num_classes, bool published_stem) {
  SCOUTER_CHECK(in_chans > 0 && num_classes >= 0, "bad backbone sizes");
  if (name == "smallcnn") return std::make_shared<SmallCnnImpl>(in_chans, num_classes);
  if (auto resnet = make_resnet(name, in_chans, num_classes, published_stem)) return resnet;
  unknown_model(name);
}

int64_t backbone_channels(const std::string& name) {
  if (name == "smallcnn") return kSmallWidths.back();
  if (int64_t c = resnet_channels(name)) return c;
  unknown_model(name);
}

// Published dfs_freeze (sloter/slot_model.py): n = 0 returns at once, so nothing is frozen. Else
// every top-level child whose name contains none of the first 4 - n of [layer4, layer3, layer2,
// layer1] is frozen whole (stem conv1/bn1, the excluded layers, and `fc` when present, even
// though the FC baseline's fc is freshly initialised); its recursion into frozen children changes
// nothing more. Parameters registered on the backbone itself (none here) are left alone.
int64_t freeze_backbone(nn::Module& backbone, int64_t freeze_layers) {
  SCOUTER_CHECK(freeze_layers >= 0 && freeze_layers <= 4, "freeze_layers must be 0..4");
  if (freeze_layers == 0) return 0;
  const std::array<std::string, 4> order = {"layer4", "layer3", "layer2", "layer1"};
  int64_t frozen = 0;
  for (const auto& child : backbone.named_children()) {
    bool trainable = false;
    for (int64_t i = 0; i < 4 - freeze_layers; ++i)
      trainable = trainable || child.key().find(order[i]) != std::string::npos;
    if (trainable) continue;
    for (auto& p : child.value()->parameters()) {
      p.set_requires_grad(false);
      ++frozen;
    }
  }
  return frozen;
}

}  // namespace scouter
