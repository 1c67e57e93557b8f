// Test helpers for PyTorch reference fixtures: read an HDF5 dataset as a tensor, and compare
// tensors elementwise with |actual - expected| <= atol + rtol * |expected|.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/h5.h"

namespace scouter::testing {

inline torch::Tensor read_tensor(hid_t loc, const std::string& name) {
  auto info = h5::dataset_info(loc, name);
  std::vector<int64_t> shape(info.dims.begin(), info.dims.end());
  if (info.type_class == H5T_INTEGER) {
    auto v = h5::read<int64_t>(loc, name);
    return torch::from_blob(v.data(), shape, torch::kInt64).clone();
  }
  auto v = h5::read<float>(loc, name);
  return torch::from_blob(v.data(), shape, torch::kFloat32).clone();
}

// Fails with the worst element; an undefined `actual` (no gradient reached it) counts as zeros.
inline void expect_close(torch::Tensor actual, const torch::Tensor& expected,
                         const std::string& what, double atol, double rtol) {
  if (!actual.defined()) actual = torch::zeros_like(expected);
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  auto a = actual.detach().to(torch::kFloat64);
  auto e = expected.to(torch::kFloat64);
  auto ratio = (a - e).abs() / (atol + rtol * e.abs());
  const int64_t worst = ratio.flatten().argmax().item<int64_t>();
  EXPECT_LE(ratio.max().item<double>(), 1.0)
      << what << ": element " << worst << " is " << a.flatten()[worst].item<double>()
      << ", expected " << e.flatten()[worst].item<double>();
}

}  // namespace scouter::testing
