// Checkpoint opening: the input is the newest checkpoint of a run folder, complete (its .done
// marker written by mark_complete), beside nothing else. What resume, evaluate and export do
// with it first: read its header, verify it, choose the newest verified one. Expected: an answer
// (verify_checkpoint's reason, "" from latest_verified_checkpoint), or UserError naming the file.
#include "common/h5.h"
#include "common/log.h"
#include "fuzz_util.h"
#include "worker/run/checkpoint.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  scouter::init_logging(0, "off");
  scouter::h5::silence_library_errors();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string run = (fuzz::work_dir() / "run").string();
  const std::string path = checkpoint_path(run, 1);
  fuzz::write_input("run/checkpoints/epoch-0001.h5", data, size);
  mark_complete(path);
  fuzz::expect_clean_error([&] { read_checkpoint_info(path); });
  fuzz::expect_clean_error([&] { verify_checkpoint(path); });
  fuzz::expect_clean_error([&] { latest_verified_checkpoint(run); });
  return 0;
}
