// make_toy_data DIR [N_TRAIN N_VAL SHARD_SIZE]: writes the tests' generated 4-class dataset
// (tests/worker/toy_data.h) as shards, for test scripts that drive the scouter binary.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "worker/toy_data.h"

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {  // "--help" is not a folder to fill
    std::fprintf(stderr, "usage: make_toy_data DIR [N_TRAIN N_VAL SHARD_SIZE]\n");
    return 2;
  }
  long train = argc > 2 ? std::atol(argv[2]) : 1024, val = argc > 3 ? std::atol(argv[3]) : 128;
  long shard = argc > 4 ? std::atol(argv[4]) : 256;
  scouter::testing::write_toy_shards(argv[1], train, val, 1, shard);
  return 0;
}
