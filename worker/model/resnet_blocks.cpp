// timm's BasicBlock and Bottleneck (timm/models/resnet.py), ResNestBottleneck
// (timm/models/resnest.py) and SplitAttn (timm/layers/split_attn.py), rewritten for LibTorch.
#include "worker/model/resnet_blocks.h"

#include "common/error.h"

namespace scouter {

namespace nn = torch::nn;

torch::nn::Conv2d conv_nobias(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                              int64_t padding, int64_t groups) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                        .stride(stride)
                        .padding(padding)
                        .groups(groups)
                        .bias(false));
}

void timm_init(nn::Module& root, const nn::Module* skip) {
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

namespace {

// timm's make_divisible(v, divisor, min_value) with its 10% round-down limit.
int64_t make_divisible(double v, int64_t divisor, int64_t min_value) {
  int64_t r = std::max(min_value, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

// conv3x3-bn-relu-conv3x3-bn, plus shortcut, relu.
class BasicBlockImpl : public ResidualBlock {
 public:
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride, nn::Sequential downsample) {
    conv1_ = register_module("conv1", conv_nobias(in, planes, 3, stride, 1));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv_nobias(planes, planes, 3, 1, 1));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    if (!downsample.is_empty()) downsample_ = register_module("downsample", downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = relu_inplace(bn1_(conv1_(x)));
    y = bn2_(conv2_(y));
    y += downsample_.is_empty() ? x : downsample_->forward(x);
    return relu_inplace(y);
  }
  void zero_init_last() override { nn::init::zeros_(bn2_->weight); }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential downsample_{nullptr};
};

// 1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, plus shortcut, relu.
class BottleneckImpl : public ResidualBlock {
 public:
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride, nn::Sequential downsample) {
    conv1_ = register_module("conv1", conv_nobias(in, planes, 1, 1, 0));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv_nobias(planes, planes, 3, stride, 1));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    conv3_ = register_module("conv3", conv_nobias(planes, planes * 4, 1, 1, 0));
    bn3_ = register_module("bn3", nn::BatchNorm2d(planes * 4));
    if (!downsample.is_empty()) downsample_ = register_module("downsample", downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = relu_inplace(bn1_(conv1_(x)));
    y = relu_inplace(bn2_(conv2_(y)));
    y = bn3_(conv3_(y));
    y += downsample_.is_empty() ? x : downsample_->forward(x);
    return relu_inplace(y);
  }
  void zero_init_last() override { nn::init::zeros_(bn3_->weight); }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  nn::Sequential downsample_{nullptr};
};

// ResNeSt-d block (radix 2, cardinality 1, base width 64, avd, avd_first false): in a strided
// block the 3x3 split-attention conv keeps stride 1 and a 3x3 average pool (timm's avd_last,
// count_include_pad true) after it does the downsampling, before the 1x1 expansion.
class ResNestBottleneckImpl : public ResidualBlock {
 public:
  ResNestBottleneckImpl(int64_t in, int64_t planes, int64_t stride, nn::Sequential downsample)
      : avd_stride_(stride > 1 ? stride : 0) {
    conv1_ = register_module("conv1", conv_nobias(in, planes, 1, 1, 0));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", SplitAttn(planes, avd_stride_ > 0 ? 1 : stride, 2));
    conv3_ = register_module("conv3", conv_nobias(planes, planes * 4, 1, 1, 0));
    bn3_ = register_module("bn3", nn::BatchNorm2d(planes * 4));
    if (!downsample.is_empty()) downsample_ = register_module("downsample", downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = relu_inplace(bn1_(conv1_(x)));
    y = conv2_(y);
    if (avd_stride_ > 0) y = torch::avg_pool2d(y, 3, avd_stride_, 1);
    y = bn3_(conv3_(y));
    y += downsample_.is_empty() ? x : downsample_->forward(x);
    return relu_inplace(y);
  }
  void zero_init_last() override { nn::init::zeros_(bn3_->weight); }

 private:
  int64_t avd_stride_;
  nn::Conv2d conv1_{nullptr}, conv3_{nullptr};
  SplitAttn conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn3_{nullptr};
  nn::Sequential downsample_{nullptr};
};

}  // namespace

SplitAttnImpl::SplitAttnImpl(int64_t channels, int64_t stride, int64_t radix) : radix_(radix) {
  SCOUTER_CHECK(radix >= 2, "SplitAttn here supports radix >= 2 (ResNeSt), not plain SE");
  const int64_t mid = channels * radix;
  // timm: make_divisible(in_channels * radix * rd_ratio 0.25, min_value 32, divisor 8).
  const int64_t attn = make_divisible(static_cast<double>(channels * radix) * 0.25, 8, 32);
  conv_ = register_module("conv", conv_nobias(channels, mid, 3, stride, 1, radix));
  bn0_ = register_module("bn0", nn::BatchNorm2d(mid));
  fc1_ = register_module("fc1", nn::Conv2d(nn::Conv2dOptions(channels, attn, 1)));
  bn1_ = register_module("bn1", nn::BatchNorm2d(attn));
  fc2_ = register_module("fc2", nn::Conv2d(nn::Conv2dOptions(attn, mid, 1)));
}

torch::Tensor SplitAttnImpl::forward(const torch::Tensor& input) {
  auto x = relu_inplace(bn0_(conv_(input)));
  const int64_t b = x.size(0), c = x.size(1) / radix_, h = x.size(2), w = x.size(3);
  auto splits = x.view({b, radix_, c, h, w});
  auto gap = splits.sum(1).mean({2, 3}, /*keepdim=*/true);
  gap = relu_inplace(bn1_(fc1_(gap)));
  // fc2's outputs are radix-major (split r's c channels, then split r+1's): softmax across r.
  auto attn = torch::softmax(fc2_(gap).view({b, radix_, c}), 1).view({b, radix_, c, 1, 1});
  return (splits * attn).sum(1);
}

int64_t block_expansion(BlockKind kind) { return kind == BlockKind::kBasic ? 1 : 4; }

std::shared_ptr<ResidualBlock> make_block(BlockKind kind, int64_t inplanes, int64_t planes,
                                          int64_t stride, torch::nn::Sequential downsample) {
  switch (kind) {
    case BlockKind::kBasic:
      return std::make_shared<BasicBlockImpl>(inplanes, planes, stride, std::move(downsample));
    case BlockKind::kBottleneck:
      return std::make_shared<BottleneckImpl>(inplanes, planes, stride, std::move(downsample));
    case BlockKind::kResNest:
      return std::make_shared<ResNestBottleneckImpl>(inplanes, planes, stride,
                                                     std::move(downsample));
  }
  SCOUTER_CHECK(false, "unknown block kind");
  return nullptr;
}

}  // namespace scouter
