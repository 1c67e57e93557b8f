// Test helpers for PyTorch reference fixtures: read an HDF5 dataset as a tensor, compare
// tensors elementwise with |actual - expected| <= atol + rtol * |expected|, and fill a model with
// the fixture generators' deterministic weights.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
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

// deterministic_value() of tests/tools/make_backbone_fixtures.py, operation for operation (in
// float64), so weights need not be stored in the fixtures.
inline torch::Tensor deterministic_value(const std::string& name, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  int64_t h = 0;
  for (unsigned char c : name) h += c;
  h %= 97;
  const auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  torch::Tensor b = torch::sin(torch::arange(n, torch::kFloat64) * 1.7 + 0.3 * static_cast<double>(h));
  torch::Tensor v;
  if (ends("running_var")) v = b * 0.25 + 0.75;
  else if (ends("running_mean") || ends(".bias")) v = b * 0.05;
  else if (shape.size() == 1) v = b * 0.1 + 1.0;
  else v = b * (1.5 / std::sqrt(static_cast<double>(n) / static_cast<double>(shape[0])));
  return v.to(torch::kFloat32).reshape(shape);
}

// Every parameter and float buffer from deterministic_value(); int64 buffers (BN's
// num_batches_tracked) to 0, as the generator does.
inline void fill_deterministic(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.named_parameters()) p.value().copy_(deterministic_value(p.key(), p.value().sizes().vec()));
  for (auto& b : m.named_buffers()) {
    if (b.value().scalar_type() == torch::kLong) b.value().zero_();
    else b.value().copy_(deterministic_value(b.key(), b.value().sizes().vec()));
  }
}

}  // namespace scouter::testing
