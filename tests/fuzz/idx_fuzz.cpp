// IDX files (MNIST, Fashion-MNIST), plain or gzipped, as images (3 dims) and as labels (1 dim).
// Expected: an IdxArray or UserError.
#include "datasets/idx_file.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string path = fuzz::write_input("data-idx-ubyte", data, size);
  fuzz::expect_clean_error([&] { read_idx(path, 3); });
  fuzz::expect_clean_error([&] { read_idx(path, 1); });
  return 0;
}
