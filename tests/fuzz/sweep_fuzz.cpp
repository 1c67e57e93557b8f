// Sweep files: parsed and expanded into runs, then listed as --dry-run lists them.
// Expected: a Sweep or UserError.
#include "common/sweep.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  scouter::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string path = fuzz::write_input("sweep.toml", data, size);
  // dir_override: nothing the file says can point the (unwritten) run folders elsewhere.
  fuzz::expect_clean_error([&] {
    const Sweep sweep = load_sweep(path, (fuzz::work_dir() / "runs").string());
    describe_sweep(sweep);
  });
  return 0;
}
