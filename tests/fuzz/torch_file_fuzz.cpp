// Files written by Python's torch.save (zip + pickle), read by worker/model/torch_file.cpp's
// restricted unpickler as `scouter import` and pretrained weights read them. Expected: tensors,
// or UserError naming the file.
#include "fuzz_util.h"
#include "worker/model/torch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string path = fuzz::write_input("model.pth", data, size);
  fuzz::expect_clean_error([&] { read_torch_checkpoint(path); });
  return 0;
}
