// ResNet-18 with timm's module names and init, and a small ResNet-named CNN for fast CPU runs.
#include "worker/backbone.h"

#include <array>
#include <functional>

#include "common/error.h"

namespace scouter {

namespace nn = torch::nn;

namespace {

// In place, as timm's ReLU(inplace=True): BN and the residual add do not need their outputs.
torch::Tensor relu_inplace(torch::Tensor t) { return t.relu_(); }

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

// timm's ResNet init: conv kaiming_normal_(fan_out, relu), BN weight 1 and bias 0.
void timm_init(nn::Module& root, const nn::Module* skip = nullptr) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (m.get() == skip) continue;
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

// timm's BasicBlock: conv3x3-bn-relu-conv3x3-bn, plus shortcut, relu.
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module("conv1", conv(in, out, 3, stride, 1));
    bn1_ = register_module("bn1", nn::BatchNorm2d(out));
    conv2_ = register_module("conv2", conv(out, out, 3, 1, 1));
    bn2_ = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      downsample_ = register_module(
          "downsample", nn::Sequential(conv(in, out, 1, stride, 0), nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = relu_inplace(bn1_(conv1_(x)));
    y = bn2_(conv2_(y));
    y += downsample_.is_empty() ? x : downsample_->forward(x);
    return relu_inplace(y);
  }
  // timm's zero_init_last: each residual branch starts as zero, so the block starts as identity.
  void zero_init_last() {
    torch::NoGradGuard no_grad;
    nn::init::zeros_(bn2_->weight);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

class ResNet18Impl : public BackboneImpl {
 public:
  ResNet18Impl(int64_t in_chans, int64_t num_classes) {
    // MNIST (1 channel): the published stem replacement, which keeps PyTorch's default init
    // because the published code swaps it in after timm has initialised the model.
    const bool mnist_stem = in_chans == 1;
    conv1_ =
        register_module("conv1", mnist_stem ? conv(1, 64, 3, 2, 1) : conv(in_chans, 64, 7, 2, 3));
    bn1_ = register_module("bn1", nn::BatchNorm2d(64));
    const std::array<int64_t, 4> widths = {64, 128, 256, 512};
    int64_t in = 64;
    for (size_t i = 0; i < widths.size(); ++i) {
      const int64_t stride = i == 0 ? 1 : 2;
      layers_[i] = register_module(
          "layer" + std::to_string(i + 1),
          nn::Sequential(BasicBlock(in, widths[i], stride), BasicBlock(widths[i], widths[i], 1)));
      in = widths[i];
    }
    init_head(512, num_classes);
    timm_init(*this, mnist_stem ? conv1_.get() : nullptr);
    for (auto& layer : layers_)
      for (auto& block : layer->children()) block->as<BasicBlockImpl>()->zero_init_last();
  }
  torch::Tensor forward_features(const torch::Tensor& x) override {
    auto y = relu_inplace(bn1_(conv1_(x)));
    y = torch::max_pool2d(y, 3, 2, 1);
    for (auto& layer : layers_) y = layer->forward(y);
    return y;
  }

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  std::array<nn::Sequential, 4> layers_{nn::Sequential{nullptr}, nn::Sequential{nullptr},
                                        nn::Sequential{nullptr}, nn::Sequential{nullptr}};
};

// smallcnn: widths of conv1 and layer1..layer4, and their strides (28 px -> 7 x 7).
constexpr std::array<int64_t, 5> kSmallWidths = {32, 32, 64, 64, 64};
constexpr std::array<int64_t, 5> kSmallStrides = {1, 2, 1, 2, 1};

class ConvBnReluImpl : public nn::Module {
 public:
  ConvBnReluImpl(int64_t in, int64_t out, int64_t stride) {
    conv_ = register_module("conv", conv(in, out, 3, stride, 1));
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
    conv1_ = register_module("conv1", conv(in_chans, kSmallWidths[0], 3, kSmallStrides[0], 1));
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
  throw UserError("unknown model '" + name + "'", "valid: resnet18, smallcnn");
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
                                            int64_t num_classes) {
  SCOUTER_CHECK(in_chans > 0 && num_classes >= 0, "bad backbone sizes");
  if (name == "resnet18") return std::make_shared<ResNet18Impl>(in_chans, num_classes);
  if (name == "smallcnn") return std::make_shared<SmallCnnImpl>(in_chans, num_classes);
  unknown_model(name);
}

int64_t backbone_channels(const std::string& name) {
  if (name == "resnet18") return 512;
  if (name == "smallcnn") return kSmallWidths.back();
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
