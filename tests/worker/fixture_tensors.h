// Test helpers for PyTorch reference fixtures: read an HDF5 dataset as a tensor, compare
// tensors elementwise with |actual - expected| <= atol + rtol * |expected|, and fill a model with
// the fixture generators' deterministic weights (tests/tools/fixture_values.py for the
// conformance fixtures; the older sine formula for the pretrained-weights fixtures).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <iostream>
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
  if (info.type_size == 8) {  // float64 references stay float64
    auto v = h5::read<double>(loc, name);
    return torch::from_blob(v.data(), shape, torch::kFloat64).clone();
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
  auto diff = (a - e).abs();
  // 0/0 (an exact match where the tolerance is 0, e.g. an all-zero reference) is no error.
  auto ratio = torch::where(diff == 0, torch::zeros_like(diff), diff / (atol + rtol * e.abs()));
  const int64_t worst = ratio.flatten().argmax().item<int64_t>();
  EXPECT_LE(ratio.max().item<double>(), 1.0)
      << what << ": element " << worst << " is " << a.flatten()[worst].item<double>()
      << ", expected " << e.flatten()[worst].item<double>();
}

// Elementwise |actual - expected| <= atol_of_max * max|expected| + rtol * |expected|; prints the
// worst error relative to max|expected| (what the generators' guards measure) and returns the
// largest ratio of error to tolerance (> 1: the comparison fails), so tests can also assert that
// a planted error is caught.
inline double conformance_ratio(const torch::Tensor& actual, const torch::Tensor& expected,
                                double atol_of_max, double rtol) {
  auto a = actual.detach().to(torch::kFloat64);
  auto e = expected.to(torch::kFloat64);
  const double scale = e.abs().max().item<double>();
  auto diff = (a - e).abs();
  return torch::where(diff == 0, torch::zeros_like(diff), diff / (atol_of_max * scale + rtol * e.abs()))
      .max()
      .item<double>();
}

inline void expect_conformant(const torch::Tensor& actual, const torch::Tensor& expected,
                              const std::string& what, double atol_of_max, double rtol) {
  const double scale = expected.abs().max().item<double>();
  const double err = (actual.detach().to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
  std::cout << "[ conform  ] " << what << " (" << actual.scalar_type() << "): max |error| " << err
            << " = " << err / scale << " of max |ref|\n";
  expect_close(actual, expected, what, atol_of_max * scale, rtol);
}

// A planted error for tests that prove a tolerance is tight enough: every element of `weight`
// times 1 + 1e-3 or 1 - 1e-3, alternating (not one common factor, which a following training-mode
// BatchNorm would cancel; not one element, which can meet only zero activations).
inline void plant_error(torch::Tensor weight) {
  torch::NoGradGuard no_grad;
  auto flat = weight.view(-1);
  auto sign = 1 - 2 * (torch::arange(flat.numel(), flat.options()).remainder(2));
  flat.mul_(1 + 1e-3 * sign);
}

// conformance_value() of tests/tools/fixture_values.py: splitmix64 of (h << 32) + i, exact integer
// arithmetic, then the same float64 operations, so both sides hold bit-identical float32 weights.
inline torch::Tensor conformance_value(const std::string& name, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  uint64_t h = 0;
  for (unsigned char c : name) h += c;
  h %= 1000003;
  std::vector<double> u(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = (h << 32) + static_cast<uint64_t>(i);
    z *= 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    u[static_cast<size_t>(i)] = static_cast<double>(z >> 40) / static_cast<double>(1 << 23) - 1.0;
  }
  const auto ends = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  torch::Tensor b = torch::from_blob(u.data(), {n}, torch::kFloat64).clone();
  torch::Tensor v;
  if (ends("running_var")) v = 0.75 + 0.25 * b;
  else if (ends("running_mean") || ends(".bias")) v = 0.05 * b;
  else if (shape.size() == 1) v = 1.0 + 0.1 * b;
  else v = b * std::sqrt(3.0 / (static_cast<double>(n) / static_cast<double>(shape[0])));
  return v.to(torch::kFloat32).reshape(shape);
}

// Every parameter and float buffer from conformance_value(); int64 buffers to 0.
inline void fill_conformance(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.named_parameters()) p.value().copy_(conformance_value(p.key(), p.value().sizes().vec()));
  for (auto& b : m.named_buffers()) {
    if (b.value().scalar_type() == torch::kLong) b.value().zero_();
    else b.value().copy_(conformance_value(b.key(), b.value().sizes().vec()));
  }
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
