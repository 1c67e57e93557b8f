// The backbone interface and factory, and the published freeze rule, both over the backbone
// table (worker/model/backbone_spec.h); the families are in resnet.cpp and smallcnn.cpp.
#include "worker/model/backbone.h"

#include "common/error.h"

namespace scouter {

namespace nn = torch::nn;

torch::Tensor BackboneImpl::forward_head(const torch::Tensor& features) {
  SCOUTER_CHECK(has_head(), "forward_head on a backbone built without a classifier");
  return fc_(features.mean({2, 3}));
}

void BackboneImpl::init_head(int64_t feature_channels, int64_t num_classes) {
  feature_channels_ = feature_channels;
  if (num_classes > 0) fc_ = register_module("fc", nn::Linear(feature_channels, num_classes));
}

const BackboneSpec& BackboneImpl::spec() const {
  SCOUTER_CHECK(spec_ != nullptr, "a backbone built without make_backbone has no table row");
  return *spec_;
}

std::shared_ptr<BackboneImpl> make_backbone(const std::string& name, int64_t in_chans,
                                            int64_t num_classes, bool published_stem) {
  SCOUTER_CHECK(in_chans > 0 && num_classes >= 0, "bad backbone sizes");
  const BackboneSpec& spec = backbone_spec(name);
  SCOUTER_CHECK(!published_stem || spec.mnist_stem != MnistStem::kNone,
                "model '" + name + "' has no published MNIST stem");
  std::shared_ptr<BackboneImpl> backbone = spec.make(name, in_chans, num_classes, published_stem);
  backbone->set_spec(&spec);
  return backbone;
}

int64_t backbone_channels(const std::string& name) { return backbone_spec(name).feature_channels; }

// Published dfs_freeze (sloter/slot_model.py): n = 0 returns at once, so nothing is frozen. Else
// every top-level child that is not one of the last 4 - n stages (layer4, layer3, ... for the
// ResNet family; the published code matches their names) is frozen whole: the stem (conv1/bn1),
// the first n stages, and `fc` when present, even though the FC baseline's fc is freshly
// initialised; its recursion into frozen children changes nothing more. Parameters registered on
// the backbone itself (none here) are left alone.
int64_t freeze_backbone(BackboneImpl& backbone, int64_t freeze_layers) {
  SCOUTER_CHECK(freeze_layers >= 0, "freeze_layers must be >= 0");
  if (freeze_layers == 0) return 0;
  const std::vector<std::string>& stages = backbone.spec().stages;
  const auto first_trainable = std::min(static_cast<size_t>(freeze_layers), stages.size());
  int64_t frozen = 0;
  for (const auto& child : backbone.named_children()) {
    if (std::find(stages.begin() + static_cast<std::ptrdiff_t>(first_trainable), stages.end(),
                  child.key()) != stages.end())
      continue;
    for (auto& p : child.value()->parameters()) {
      p.set_requires_grad(false);
      ++frozen;
    }
  }
  return frozen;
}

}  // namespace scouter
