// DETR's sine position embedding as SCOUTER uses it (the published sloter/utils/position_encode.py;
// docs/model.md, "What is computed"):
// d/2 features per axis, temperature 10000, normalised to 2*pi. No parameters.
#pragma once

#include <torch/torch.h>

namespace scouter {

// 1 x d x h x w (channels: d/2 for y, then d/2 for x; d a multiple of 4), float32 on
// `options`' device.
torch::Tensor sine_position_embedding(int64_t h, int64_t w, int64_t d,
                                      const torch::TensorOptions& options = {});

}  // namespace scouter
