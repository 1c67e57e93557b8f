// `scouter prep MNIST|FashionMNIST`: converts the four IDX files of MNIST or Fashion-MNIST
// (gzipped or plain) into train and val shards, with per-channel mean/std of the training split
// and the source files' SHA-256. A re-run whose existing shards carry the same source checksums
// and pass their own checksums is skipped; a corrupt shard makes it convert the dataset again.
// Another dataset's shards in out_dir are refused (UserError) unless `overwrite`, which removes
// them (datasets/prep_folder.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

struct PrepResult {
  std::vector<std::string> train_paths, val_paths;
  int64_t train_count = 0, val_count = 0;
  bool skipped = false;  // the shards were already complete for these sources
};

// src_dir holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, each optionally with ".gz". val = the t10k files.
PrepResult prep_idx_dataset(const std::string& dataset, const std::string& src_dir,
                            const std::string& out_dir, int64_t shard_size,
                            bool overwrite = false);

// Class names of the IDX datasets.
std::vector<std::string> idx_class_names(const std::string& dataset);

}  // namespace scouter
