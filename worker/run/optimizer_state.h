// The key of a parameter in LibTorch's optimizer state map: 1.13 (Debian) keys by the
// TensorImpl address printed as text, 2.x (PyTorch's bundled LibTorch) by the address itself.
// Both builds compile this.
#pragma once

#include <torch/torch.h>

#include <sstream>
#include <string>
#include <type_traits>

namespace scouter {

using OptimizerStateMap =
    std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;

template <typename Key = typename OptimizerStateMap::key_type>
Key optimizer_state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;  // what c10::guts::to_string prints
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace scouter
