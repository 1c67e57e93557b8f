#include "worker/model/smallcnn.h"

#include <array>

#include "worker/model/resnet_blocks.h"

namespace scouter {

namespace nn = torch::nn;

namespace {

// Widths of conv1 and layer1..layer4, and their strides (28 px -> 7 x 7).
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

}  // namespace

std::shared_ptr<BackboneImpl> make_smallcnn(const std::string& /*name*/, int64_t in_chans,
                                            int64_t num_classes, bool /*published_stem*/) {
  return std::make_shared<SmallCnnImpl>(in_chans, num_classes);
}

}  // namespace scouter
