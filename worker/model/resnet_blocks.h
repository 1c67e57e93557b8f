// timm's residual blocks with timm's module names (so state_dict keys match): BasicBlock
// (resnet18), Bottleneck (resnet50) and ResNestBottleneck with split attention (resnest*d,
// radix 2, cardinality 1). Each computes what timm's block computes, in eval and training mode.
#pragma once

#include <torch/torch.h>

#include <memory>

namespace scouter {

// In place, as timm's ReLU(inplace=True): BN and the residual add do not need their outputs.
inline torch::Tensor relu_inplace(torch::Tensor t) { return t.relu_(); }

// Conv2d without bias: every ResNet conv except split attention's fc1/fc2.
torch::nn::Conv2d conv_nobias(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                              int64_t padding, int64_t groups = 1);

// timm's ResNet init: kaiming_normal_(fan_out, relu) on every conv weight (split attention's
// fc1/fc2 too; their biases and a Linear `fc` keep PyTorch's default init), BN weight 1 and
// bias 0. `skip` (a module swapped in after timm's init) keeps its default init.
void timm_init(torch::nn::Module& root, const torch::nn::Module* skip = nullptr);

// One block of a stage (layer1..layer4). `downsample`, when not empty, maps the input to the
// shortcut (registered as `downsample`); otherwise the shortcut is the input itself.
class ResidualBlock : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // timm's zero_init_last: the last BN's weight is 0, so a fresh block starts as identity.
  virtual void zero_init_last() = 0;
};

enum class BlockKind { kBasic, kBottleneck, kResNest };

// Output channels per `planes`: 1 for BasicBlock, 4 for the bottlenecks.
int64_t block_expansion(BlockKind kind);

std::shared_ptr<ResidualBlock> make_block(BlockKind kind, int64_t inplanes, int64_t planes,
                                          int64_t stride, torch::nn::Sequential downsample);

// timm's SplitAttn (radix r, cardinality 1): a grouped 3x3 conv gives r splits of `channels`
// each; their sum is pooled, squeezed through fc1 (BN, ReLU) and fc2 into r attention vectors
// that are softmaxed across the splits; the output is the attention-weighted sum of the splits.
class SplitAttnImpl : public torch::nn::Module {
 public:
  SplitAttnImpl(int64_t channels, int64_t stride, int64_t radix);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t radix_;
  torch::nn::Conv2d conv_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
  torch::nn::BatchNorm2d bn0_{nullptr}, bn1_{nullptr};
};
TORCH_MODULE(SplitAttn);

}  // namespace scouter
