// timm's ResNet family as SCOUTER backbones: resnet18, resnet50, resnest26d, resnest50d, with
// timm's architecture, state_dict names, parameter counts and initialisation.
#pragma once

#include <memory>
#include <string>

#include "worker/model/backbone.h"

namespace scouter {

// The backbone `name` (a BackboneFactory of worker/model/backbone_spec.h), or nullptr when `name`
// is not of this family.
// One input channel: resnet18 and resnet50 get the published MNIST stem (their single `conv1`
// becomes Conv2d(1, 64, 3, stride 2, padding 1, bias false), as the published code swaps it in);
// the deep-stem ResNeSt models keep timm's handling (the first stem conv `conv1.0` takes
// in_chans inputs), because swapping `conv1` would replace their whole three-conv stem --
// unless published_stem is set: then they get that single conv too, as the published code's
// MNIST models have it (`bone.conv1 = nn.Conv2d(1, 64, 3, stride=2, padding=1, bias=False)`).
std::shared_ptr<BackboneImpl> make_resnet(const std::string& name, int64_t in_chans,
                                          int64_t num_classes, bool published_stem = false);

}  // namespace scouter
