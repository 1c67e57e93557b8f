// .safetensors files (worker/model/safetensors.cpp). Expected: tensors, or UserError naming the
// file.
#include "fuzz_util.h"
#include "worker/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string path = fuzz::write_input("model.safetensors", data, size);
  fuzz::expect_clean_error([&] { read_safetensors(path); });
  return 0;
}
