#include "worker/run/tensor_batch.h"

namespace scouter {
namespace {

template <typename T>
torch::Tensor adopt(std::vector<T>&& v, std::vector<int64_t> shape, torch::ScalarType type) {
  auto* owned = new std::vector<T>(std::move(v));
  return torch::from_blob(
      owned->data(), shape, [owned](void*) { delete owned; }, torch::TensorOptions(type));
}

}  // namespace

TensorBatch to_tensors(Batch&& b) {
  TensorBatch t;
  t.images = adopt(std::move(b.images), {b.size, b.channels, b.height, b.width}, torch::kFloat);
  t.labels = adopt(std::move(b.labels), {b.size}, torch::kLong);
  t.indices = std::move(b.indices);
  return t;
}

}  // namespace scouter
