// MAT-files: the ImageNet devkit's meta.mat as `scouter prep` reads it (datasets/mat_file.cpp's
// parser and the struct walk of datasets/imagenet_files.cpp). Expected: a DevkitMeta or UserError.
#include "datasets/imagenet_files.h"
#include "datasets/mat_file.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string path = fuzz::write_input("meta.mat", data, size);
  fuzz::expect_clean_error([&] { read_devkit_meta(path); });
  // Any variable name: the same parser without the devkit's expectations.
  fuzz::expect_clean_error([&] { read_mat_variable(path, "x"); });
  return 0;
}
