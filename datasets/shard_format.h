// The HDF5 shard layout: what `scouter prep` writes and the trainer reads. Any HDF5 tool
// (h5dump, h5py) can read a shard. One split (train or val) is stored as
//   <dir>/<split>-<index:05>-of-<count:05>.h5
// each file holding a contiguous range of the split's samples, in the split's order.
//
// Datasets in each file, all chunked with HDF5's Fletcher32 checksum on every chunk
//   /images  uint8 [n, C, H, W]  pixel values 0..255, planar (channel-first), chunked by whole
//                                samples (one, or as many as fit in about 64 KiB)
//   /labels  int64 [n]           class index in 0..num_classes-1; one chunk
//   /boxes   float32 [n, 4]      optional: x, y, w, h of the object box in stored-image pixels
//                                (-1 rows where a sample has no box); one chunk
// Why Fletcher32 per chunk: HDF5 verifies exactly the chunks a read touches, inside the read (no
// extra pass, and h5py checks it too), so a reader of a row range needs only those rows, and a
// failure names the rows; a stored SHA-256 per dataset would need whole-dataset reads. Cost:
// reading with verification takes about 0.4 s of one core per GB (docs/formats.md), and
// ShardSet reads each shard once per process (~0.1 s for a 200 MB ImageNet shard). A failed
// check is one error naming the file, the dataset and the rows (datasets/shard_checksum.h).
// Attributes, like all HDF5 metadata, are checked by HDF5's own metadata checksums (format
// version 3: HDF5 1.10's file format, common/h5.h "File format"); strings are fixed-length.
// Readers range-check them too.
// Attributes on the root group
//   format          string   "scouter-shard"
//   format_version  int64    kShardFormatVersion. Versions 1 and 2 are in HDF5's earliest file
//                            format, whose metadata carries no checksums, with variable-length
//                            strings (version 1: no Fletcher32 either; /labels and /boxes
//                            contiguous). They still load, with one warning per process;
//                            re-running `scouter prep` rewrites them. Readers refuse other
//                            versions.
//   dataset         string   dataset name (MNIST, FashionMNIST, CUB200, ConText, ImageNet)
//   split           string   "train" or "val"
//   shard_index     int64    index of this file in the split (0-based)
//   num_shards      int64    files in the split
//   first_index     int64    split-wide index of this file's first sample
//   total_count     int64    samples in the whole split
//   num_classes     int64    classes of the dataset
//   class_names     string[num_classes]
//   mean, std       float64[C]  per-channel normalisation on 0..1 pixels: the training split's
//                               statistics (MNIST, FashionMNIST) or the published ImageNet
//                               values (ImageNet, CUB200, ConText; docs/model.md)
//   flip_allowed    int64    1 if horizontal flips keep the label (not for digits or text)
//   source_files    string[] base names of the source files the split was converted from
//                            (image datasets: the layout's text files; images: /source_paths)
//   source_sha256   string[] SHA-256 of each source file, same order
//   created_by      string   "scouter <version> (<git commit>)"
// Image datasets' shards carry more (source paths, skipped images, restart keys, measured
// statistics): see datasets/image_shards.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

constexpr const char* kShardFormat = "scouter-shard";
// 3: HDF5 1.10's file format (metadata checksums), fixed-length strings. 2: the earliest file
// format, every dataset chunked with Fletcher32 checksums. 1: no checksums. 1 and 2 still read.
constexpr int64_t kShardFormatVersion = 3;
constexpr int64_t kOldestShardFormatVersion = 1;

struct ShardMeta {
  std::string dataset;
  std::string split;
  int64_t shard_index = 0;
  int64_t num_shards = 1;
  int64_t first_index = 0;
  int64_t count = 0;  // samples in this file (the /images rows); in a ShardSet's meta: total
  int64_t total_count = 0;
  int64_t channels = 0, height = 0, width = 0;
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  std::vector<double> mean, std;
  bool flip_allowed = false;
  bool has_boxes = false;
  std::vector<std::string> source_files, source_sha256;
  std::string created_by;
  int64_t format_version = kShardFormatVersion;  // as read; writers always write the current one
};

// "<dir>/<split>-00003-of-00010.h5"
std::string shard_path(const std::string& dir, const std::string& split, int64_t index,
                       int64_t count);

// True when `name` (no folder) is "<split>-<index>-of-<count>.h5"; fills index and count.
// Temporary files of an interrupted write ("...h5.tmp.<pid>.<n>") do not match.
bool parse_shard_name(const std::string& name, const std::string& split, int64_t* index,
                      int64_t* count);

}  // namespace scouter
