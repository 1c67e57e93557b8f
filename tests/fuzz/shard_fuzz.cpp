// Shard opening: the input is the only shard of split "train" (train-00000-of-00001.h5) in a
// folder, opened as training and evaluation open it, then every sample read (which loads and
// checks the data). Expected: samples, or UserError naming the file.
#include "datasets/shard_reader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  scouter::fuzz::quiet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scouter;
  const std::string path = fuzz::write_input("shards/train-00000-of-00001.h5", data, size);
  fuzz::expect_clean_error([&] {
    auto set = ShardSet::open((fuzz::work_dir() / "shards").string(), "train");
    for (int64_t i = 0; i < set->size(); ++i) {
      set->image(i);
      set->box(i);
    }
  });
  return 0;
}
