// `scouter prep ImageNet|CUB200|ConText` (the image datasets of datasets/dataset_spec.h): every
// image of the dataset's layout (datasets/image_layouts.h) decoded to RGB, resized to img_size x
// img_size (PIL's bilinear, no crop), written as train and val shards (layout: shard_format.h
// plus image_shards.h) by a thread pool, and across MPI ranks when run under mpirun. Restartable; bad images (unreadable,
// or with a box wholly outside the image) are skipped, warned about and listed in
// <out>/bad_images.txt.
//
// Rules worth knowing:
// - Order: train samples are shuffled once (Fisher-Yates, SplitMix64 seeded with
//   mix_seed(seed, 1)) so that every shard, and every block of the data plan, mixes classes;
//   val keeps the listing's order.
// - Shard k of a split holds the good images among source images [k*shard_size, (k+1)*shard_size)
//   of that order. Ranks check a round-robin share of the shards for finished ones (restart key
//   and every chunk's checksum: a corrupt shard is converted again, and only it); the unfinished
//   ones are dealt largest first, each to the rank with the fewest images so far. --out must be
//   one folder all ranks see; another dataset's shards there are refused unless `overwrite`.
// - Restart key, per shard: SHA-256 over a settings line (converter version, dataset, split,
//   img_size, class names) and one line per source image: relative path, size in bytes,
//   modification time in ns, label, box. A shard whose key matches is not decoded again.
// - Normalisation: mean/std are the dataset table's (datasets/dataset_spec.h: the published
//   ImageNet values for all three, docs/model.md "Published settings"); measured_mean/
//   measured_std hold the train split's own statistics.
// - Bad images: counted over both splits; more than max_bad_fraction of all source images fails
//   the run (UserError) before any shard gets its final name (parts stay for a re-run).
#pragma once

#include <cstdint>
#include <string>

namespace scouter {

class Communicator;

struct ImagePrepOptions {
  std::string src, out;
  int64_t num_classes = 0;  // the first num_classes classes; 0: all
  int64_t img_size = 260;
  int64_t shard_size = 1000;
  double max_bad_fraction = 0.01;
  int64_t threads = 1;  // decode threads of this process (>= 1)
  uint64_t seed = 0;    // train order; Con-Text's split
  bool overwrite = false;  // replace another dataset's shards in `out` (else a UserError)
};

struct ImagePrepResult {
  int64_t train_count = 0, val_count = 0;  // stored samples
  int64_t source_count = 0, bad_count = 0;
  int64_t shards_total = 0, shards_converted = 0;  // converted by this run, all ranks
  int64_t images_decoded = 0;                      // by this run, all ranks
  double convert_seconds = 0;                      // wall time of the decode+write phase
  bool up_to_date = false;                         // nothing was written
};

// comm: the ranks that share the work, or nullptr for one process. Every rank returns the
// same result. Throws UserError for layout mistakes and too many bad images.
ImagePrepResult prep_image_dataset(const std::string& dataset, const ImagePrepOptions& opt,
                                   Communicator* comm);

}  // namespace scouter
