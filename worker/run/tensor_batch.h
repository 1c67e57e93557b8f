// Turns a loader Batch into tensors without copying the pixels: the tensor owns the vectors.
#pragma once

#include <torch/torch.h>

#include "datasets/batch_loader.h"

namespace scouter {

struct TensorBatch {
  torch::Tensor images;  // B x C x H x W float32
  torch::Tensor labels;  // B int64
  std::vector<int64_t> indices;
};

TensorBatch to_tensors(Batch&& batch);

}  // namespace scouter
