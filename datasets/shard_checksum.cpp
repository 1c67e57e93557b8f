#include "datasets/shard_checksum.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/h5.h"
#include "datasets/shard_format.h"

namespace scouter {
namespace {

using RowRange = std::pair<hsize_t, hsize_t>;  // [first, end)

const char* kRewriteHint =
    "re-run `scouter prep` for this dataset with the same --out: it verifies every shard and "
    "rewrites the corrupt ones (ImageNet, CUB200, ConText: only those shards; MNIST, "
    "FashionMNIST: the whole dataset, seconds)";

// Rows per chunk along axis 0, or 0 for a dataset that is not chunked (and has no checksum).
hsize_t chunk_rows(hid_t ds) {
  h5::Handle dcpl(H5_CHECK(H5Dget_create_plist(ds)), H5Pclose);
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return 0;
  int rank = H5_CHECK(H5Pget_chunk(dcpl.get(), 0, nullptr));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5_CHECK(H5Pget_chunk(dcpl.get(), rank, dims.data()));
  return dims.empty() ? 0 : dims[0];
}

// The rows of every chunk of `ds` that fails its checksum, read one chunk at a time (as stored,
// without conversion) so that memory stays at one chunk and every bad chunk is found.
std::vector<RowRange> bad_chunks(hid_t ds) {
  const hsize_t step = chunk_rows(ds);
  if (step == 0) return {};
  h5::Handle type(H5_CHECK(H5Dget_type(ds)), H5Tclose);
  h5::Handle space(H5_CHECK(H5Dget_space(ds)), H5Sclose);
  int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  if (rank < 1) return {};
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr));
  size_t row_bytes = H5Tget_size(type.get());
  for (size_t d = 1; d < dims.size(); ++d) row_bytes *= static_cast<size_t>(dims[d]);
  std::vector<uint8_t> buf(static_cast<size_t>(step) * row_bytes);
  std::vector<RowRange> bad;
  for (hsize_t first = 0; first < dims[0]; first += step) {
    hsize_t count = std::min(step, dims[0] - first);
    try {
      h5::read_rows(ds, type.get(), first, count, buf.data());
    } catch (const Error& e) {
      if (!h5::is_checksum_error(e.what())) throw;
      bad.emplace_back(first, first + count);
    }
  }
  return bad;
}

UserError corrupt_chunks(const std::string& path, const std::string& shared_path,
                         const std::string& name, const std::vector<RowRange>& bad) {
  bool copy = !shared_path.empty() && shared_path != path;
  std::string file = copy ? fmt::format("shard '{}' (read from its node-local copy '{}')",
                                        shared_path, path)
                          : fmt::format("shard '{}'", path);
  std::string rows = fmt::format("rows {}..{}", bad[0].first, bad[0].second - 1);
  if (bad.size() > 1) rows += fmt::format(" and {} more chunk(s)", bad.size() - 1);
  std::string hint = kRewriteHint;
  if (copy)
    hint += "; if prep finds the shard intact, only the node-local copy was damaged and the next "
            "run copies it again";
  return UserError(fmt::format("{} is corrupt: dataset '{}', {}, fails its checksum (the bytes "
                               "changed after `scouter prep` wrote them: a disk, copy or "
                               "transfer fault)",
                               file, name, rows),
                   hint);
}

}  // namespace

void read_checked(hid_t file, const std::string& path, const std::string& name, hid_t mem_type,
                  void* out, const std::string& shared_path) {
  try {
    h5::read_raw(file, name, mem_type, out);
  } catch (const Error& e) {
    if (!h5::is_checksum_error(e.what())) throw;
    h5::Handle ds = h5::open_dataset(file, name);
    std::vector<RowRange> bad = bad_chunks(ds.get());
    if (bad.empty()) throw;  // no single chunk fails on its own: keep HDF5's own report
    throw corrupt_chunks(path, shared_path, name, bad);
  }
}

void verify_shard(hid_t file, const std::string& path) {
  for (const char* name : kChecksummedDatasets) {
    if (!h5::exists(file, name)) continue;
    h5::Handle ds = h5::open_dataset(file, name);
    std::vector<RowRange> bad = bad_chunks(ds.get());
    if (!bad.empty()) throw corrupt_chunks(path, {}, name, bad);
  }
}

void verify_shard(const std::string& path) {
  h5::Handle file = h5::open_file(path);
  verify_shard(file.get(), path);
}

void warn_unchecked_metadata(const std::string& path) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  spdlog::warn(
      "shard '{}' was written by an older scouter in HDF5's earliest file format, whose metadata "
      "carries no checksums: such shards are read in a probe process first (so damage is an "
      "error, not a crash), which costs a fork each; re-run `scouter prep` for this dataset "
      "(same --out) to rewrite its shards in the checked format (format version {}). Shown once "
      "per process",
      path, kShardFormatVersion);
}

void warn_unchecked_shard(const std::string& path, int64_t version) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  spdlog::warn(
      "shard '{}' has format_version {}: its images and labels carry no checksums, so corrupt "
      "bytes would reach training unnoticed; re-run `scouter prep` for this dataset (same --out) "
      "to rewrite its shards with checksums (format version {}). Shown once per process",
      path, version, kShardFormatVersion);
}

}  // namespace scouter
