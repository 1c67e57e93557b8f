// The ResNet assembly of timm/models/resnet.py (stem, four stages of blocks, classifier, then
// timm's init) for the variants SCOUTER uses.
#include "worker/model/resnet.h"

#include <array>
#include <map>

#include "common/error.h"
#include "worker/model/resnet_blocks.h"

namespace scouter {

namespace nn = torch::nn;

namespace {

struct ResNetSpec {
  BlockKind block;
  std::array<int64_t, 4> layers;
  bool deep_stem;  // 'd': three 3x3 stem convs of 32, 32, 64 channels ...
  bool avg_down;   // ... and average pooling before the 1x1 conv of downsampling shortcuts
};

bool find_spec(const std::string& name, ResNetSpec& spec) {
  static const std::map<std::string, ResNetSpec> kSpecs = {
      {"resnet18", {BlockKind::kBasic, {2, 2, 2, 2}, false, false}},
      {"resnet50", {BlockKind::kBottleneck, {3, 4, 6, 3}, false, false}},
      {"resnest26d", {BlockKind::kResNest, {2, 2, 2, 2}, true, true}},
      {"resnest50d", {BlockKind::kResNest, {3, 4, 6, 3}, true, true}}};
  auto it = kSpecs.find(name);
  if (it == kSpecs.end()) return false;
  spec = it->second;
  return true;
}

// timm's downsample_conv (1x1 conv carrying the stride, BN) or downsample_avg (2x2 average pool
// with ceil_mode and count_include_pad false, or Identity at stride 1, then 1x1 conv, BN).
nn::Sequential make_downsample(bool avg_down, int64_t in, int64_t out, int64_t stride) {
  if (!avg_down) return nn::Sequential(conv_nobias(in, out, 1, stride, 0), nn::BatchNorm2d(out));
  nn::Sequential seq;
  if (stride == 1) {
    seq->push_back(nn::Identity());  // keeps the conv at index 1, as timm's names have it
  } else {
    seq->push_back(nn::AvgPool2d(
        nn::AvgPool2dOptions(2).stride(stride).ceil_mode(true).count_include_pad(false)));
  }
  seq->push_back(conv_nobias(in, out, 1, 1, 0));
  seq->push_back(nn::BatchNorm2d(out));
  return seq;
}

class ResNetImpl : public BackboneImpl {
 public:
  ResNetImpl(const ResNetSpec& spec, int64_t in_chans, int64_t num_classes, bool published_stem) {
    // MNIST (1 channel, single-conv stem, or any stem with published_stem): the published stem
    // replacement, which keeps PyTorch's default init because the published code swaps it in
    // after timm's init.
    const bool mnist_stem = in_chans == 1 && (!spec.deep_stem || published_stem);
    SCOUTER_CHECK(!published_stem || in_chans == 1, "the published stem takes 1 input channel");
    constexpr int64_t kStem = 64;
    if (spec.deep_stem && !mnist_stem) {
      // timm's Sequential indices: 0 conv, 1 bn, 2 relu, 3 conv, 4 bn, 5 relu, 6 conv.
      deep_stem_ = register_module(
          "conv1", nn::Sequential(conv_nobias(in_chans, 32, 3, 2, 1), nn::BatchNorm2d(32),
                                  nn::ReLU(nn::ReLUOptions(true)), conv_nobias(32, 32, 3, 1, 1),
                                  nn::BatchNorm2d(32), nn::ReLU(nn::ReLUOptions(true)),
                                  conv_nobias(32, kStem, 3, 1, 1)));
    } else {
      stem_conv_ = register_module("conv1", mnist_stem ? conv_nobias(1, kStem, 3, 2, 1)
                                                       : conv_nobias(in_chans, kStem, 7, 2, 3));
    }
    bn1_ = register_module("bn1", nn::BatchNorm2d(kStem));

    const int64_t expansion = block_expansion(spec.block);
    int64_t inplanes = kStem;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const int64_t planes = int64_t{64} << i;
      const int64_t stride = i == 0 ? 1 : 2;
      nn::Sequential stage;
      for (int64_t b = 0; b < spec.layers[i]; ++b) {
        nn::Sequential downsample{nullptr};
        if (b == 0 && (stride != 1 || inplanes != planes * expansion))
          downsample = make_downsample(spec.avg_down, inplanes, planes * expansion, stride);
        stage->push_back(make_block(spec.block, inplanes, planes, b == 0 ? stride : 1, downsample));
        inplanes = planes * expansion;
      }
      layers_[i] = register_module("layer" + std::to_string(i + 1), stage);
    }
    init_head(inplanes, num_classes);
    timm_init(*this, mnist_stem ? stem_conv_.get() : nullptr);
    torch::NoGradGuard no_grad;
    for (auto& layer : layers_)
      for (auto& block : layer->children())
        std::dynamic_pointer_cast<ResidualBlock>(block)->zero_init_last();
  }

  torch::Tensor forward_features(const torch::Tensor& x) override {
    auto y = deep_stem_.is_empty() ? stem_conv_(x) : deep_stem_->forward(x);
    y = relu_inplace(bn1_(y));
    y = torch::max_pool2d(y, 3, 2, 1);
    for (auto& layer : layers_) y = layer->forward(y);
    return y;
  }

 private:
  nn::Conv2d stem_conv_{nullptr};
  nn::Sequential deep_stem_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  std::array<nn::Sequential, 4> layers_{nn::Sequential{nullptr}, nn::Sequential{nullptr},
                                        nn::Sequential{nullptr}, nn::Sequential{nullptr}};
};

}  // namespace

std::shared_ptr<BackboneImpl> make_resnet(const std::string& name, int64_t in_chans,
                                          int64_t num_classes, bool published_stem) {
  ResNetSpec spec;
  if (!find_spec(name, spec)) return nullptr;
  return std::make_shared<ResNetImpl>(spec, in_chans, num_classes, published_stem);
}

}  // namespace scouter
