// Checkpoint opening: the newest checkpoint of a run folder and its completion marker, as resume,
// evaluate and export find them. The input is the marker's bytes, a NUL, then the checkpoint's
// bytes (no NUL: the checkpoint alone, with no marker), so both files can be damaged, as on a
// disk; the seeds hold what save_checkpoint and mark_complete write. What the commands do with
// it first: read its header, verify it, choose the newest verified one. Expected: an answer
// (verify_checkpoint's reason, "" from latest_verified_checkpoint), or UserError naming the file.
#include <algorithm>
#include <filesystem>

#include "fuzz_util.h"
#include "worker/run/checkpoint.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  scouter::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string run = (fuzz::work_dir() / "run").string();
  const std::string path = checkpoint_path(run, 1);
  const uint8_t* nul = std::find(data, data + size, uint8_t{0});
  std::filesystem::remove(path + ".done");
  if (nul == data + size) {
    fuzz::write_input("run/checkpoints/epoch-0001.h5", data, size);
  } else {
    fuzz::write_input("run/checkpoints/epoch-0001.h5.done", data, nul - data);
    fuzz::write_input("run/checkpoints/epoch-0001.h5", nul + 1, data + size - nul - 1);
  }
  fuzz::expect_clean_error([&] { read_checkpoint_info(path); });
  fuzz::expect_clean_error([&] { verify_checkpoint(path); });
  fuzz::expect_clean_error([&] { latest_verified_checkpoint(run); });
  return 0;
}
