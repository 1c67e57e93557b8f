// smallcnn: a 5-conv backbone for fast CPU runs on 28-px images (7 x 7 feature map at 28 px),
// named like a ResNet (conv1, bn1, layer1..layer4, fc) so that freezing and pretrained loading
// treat it as they treat the ResNet family.
#pragma once

#include <memory>
#include <string>

#include "worker/model/backbone.h"

namespace scouter {

// A BackboneFactory (worker/model/backbone_spec.h); `name` and published_stem are unused.
std::shared_ptr<BackboneImpl> make_smallcnn(const std::string& name, int64_t in_chans,
                                            int64_t num_classes, bool published_stem);

}  // namespace scouter
