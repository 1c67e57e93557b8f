#include "datasets/image_shards.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/h5.h"
#include "common/text.h"
#include "datasets/shard_checksum.h"
#include "datasets/shard_writer.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

// String datasets: fixed-length, NUL-padded rows (h5py reads them as arrays of bytes), chunked
// with Fletcher32 like the other datasets. Not variable-length: those live in HDF5's global heap,
// whose blocks carry no checksum (common/h5.h, "File format"). Shards of format version 2 hold
// variable-length ones; read_strings reads both.
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values) {
  std::vector<char> packed;
  const size_t width = h5::pack_strings(values, &packed);
  h5::Handle type = h5::fixed_string_type(width);
  const auto n = static_cast<hsize_t>(values.size());
  // Chunks of about 64 KiB (at least one row), as for the images.
  const hsize_t rows = std::max<hsize_t>(1, std::min<hsize_t>(n, (64 << 10) / width));
  h5::write_raw(loc, name, type.get(), {n}, packed.data(), n > 0 ? std::vector<hsize_t>{rows}
                                                                  : std::vector<hsize_t>{});
}

std::vector<std::string> read_strings(hid_t loc, const std::string& name) {
  h5::Handle ds = h5::open_dataset(loc, name);
  h5::Handle space(H5_CHECK(H5Dget_space(ds.get())), H5Sclose);
  auto n = static_cast<size_t>(H5_CHECK(H5Sget_simple_extent_npoints(space.get())));
  h5::Handle ftype(H5_CHECK(H5Dget_type(ds.get())), H5Tclose);
  if (H5Tget_class(ftype.get()) != H5T_STRING)
    throw Error(fmt::format("/{} is not a string dataset", name));
  const size_t element = H5Tis_variable_str(ftype.get()) > 0 ? sizeof(char*) : H5Tget_size(ftype.get());
  constexpr size_t kMaxBytes = size_t{1} << 30;  // a shard's paths are a few MB
  if (element == 0 || n > kMaxBytes / element)
    throw Error(fmt::format("/{} claims {} strings of {} bytes, more than a shard holds", name, n,
                            element));
  if (H5Tis_variable_str(ftype.get()) <= 0) {
    std::vector<char> packed(n * element);
    if (n > 0) H5_CHECK(H5Dread(ds.get(), ftype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()));
    return h5::unpack_strings(packed, element);
  }
  h5::Handle type(H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  H5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE));
  H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  std::vector<char*> ptrs(n, nullptr);
  if (n > 0) H5_CHECK(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()));
  std::vector<std::string> out;
  for (char* p : ptrs) out.emplace_back(p ? p : "");
  if (n > 0) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  return out;
}

std::array<double, 3> read_triple(hid_t f, const std::string& name) {
  std::vector<double> v = h5::read_attr_doubles(f, name);
  if (v.size() != 3)
    throw Error(fmt::format("attribute '{}' has {} values, not 3", name, v.size()));
  return {v[0], v[1], v[2]};
}

// Reads what a finished shard says about itself; found = false when it is unreadable, its
// digest differs (an interrupted patch, another conversion, an older build), it is of an older
// format version (no checksums) or, with `verify`, a chunk fails its checksum.
ShardStatus read_status(const std::string& path, const ShardPlan& plan, bool is_final,
                        bool verify) {
  ShardStatus st;
  if (!file_exists(path) || !h5::is_hdf5(path)) return st;
  if (!h5::has_metadata_checksums(path)) {  // format version 1 or 2: converted again, unparsed
    static std::atomic<bool> said{false};   // once, not once per shard of a large dataset
    if (!said.exchange(true))
      spdlog::info("shards of an older format version such as '{}' are converted again", path);
    return st;
  }
  try {
    h5::Handle file = h5::open_file(path);
    hid_t f = file.get();
    if (!h5::has_attr(f, "source_digest") ||
        h5::read_attr_string(f, "source_digest") != plan.digest ||
        h5::read_attr_int(f, "source_first") != plan.source_first ||
        h5::read_attr_int(f, "source_count") != plan.source_count)
      return st;
    int64_t version = h5::read_attr_int(f, "format_version");
    if (version != kShardFormatVersion) return st;
    st.count = static_cast<int64_t>(h5::dataset_info(f, "images").dims.at(0));
    st.first_index = h5::read_attr_int(f, "first_index");
    int64_t bad_count = h5::read_attr_int(f, "bad_count");
    if (bad_count > 0) st.bad = read_strings(f, "bad_sources");
    if (static_cast<int64_t>(st.bad.size()) != bad_count ||
        st.count + bad_count != plan.source_count)
      return st;
    st.pixel_sum = read_triple(f, "pixel_sum");
    st.pixel_sumsq = read_triple(f, "pixel_sumsq");
    if (h5::has_attr(f, "split_digest")) st.split_digest = h5::read_attr_string(f, "split_digest");
    if (verify) verify_shard(f, path);
  } catch (const UserError& e) {  // a failed checksum, a truncated file
    spdlog::warn("{}; converting it again", e.what());
    return ShardStatus{};
  } catch (const Error& e) {
    spdlog::debug("'{}' is not reusable: {}", path, e.what());
    return ShardStatus{};
  }
  st.found = true;
  st.is_final = is_final;
  return st;
}

void remove_or_throw(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec)
    throw UserError(fmt::format("cannot remove '{}': {}", path, ec.message()),
                    "check that the output folder is writable");
}

// A copy of the file in memory (HDF5's core driver, no backing store): changes reach the disk
// only through h5::write_memory_file, in one piece.
h5::Handle open_in_memory(const std::string& path) {
  h5::open_file(path);  // a missing or truncated file: its one-line error
  return h5::open_memory_copy(path);
}

}  // namespace

std::string SplitAttrs::digest() const {
  std::vector<std::string> parts = {fmt::format("{}", total_count), join(source_files, "\x1f"),
                                    join(source_sha256, "\x1f"), join(class_descriptions, "\x1f")};
  for (double v : measured_mean) parts.push_back(fmt::format("{:.17g}", v));
  for (double v : measured_std) parts.push_back(fmt::format("{:.17g}", v));
  std::string text = join(parts, "\x1e");
  return sha256_bytes(text.data(), text.size());
}

ShardStatus find_finished(const ShardPlan& plan, bool verify) {
  ShardStatus st = read_status(plan.final_path(), plan, true, verify);
  return st.found ? st : read_status(plan.part_path(), plan, false, verify);
}

void write_part(const ShardPlan& plan, ShardMeta meta, const ShardContent& c) {
  if (c.count < 1)
    throw UserError(fmt::format("every one of the {} source images of {} shard {} (source images "
                                "{}..{}) is unreadable",
                                plan.source_count, plan.split, plan.index, plan.source_first,
                                plan.source_first + plan.source_count - 1),
                    "see bad_images.txt in the output folder; fix or remove those files");
  meta.split = plan.split;
  meta.shard_index = plan.index;
  meta.num_shards = plan.num_shards;
  meta.first_index = -1;  // split-wide: patched in by finalize_shard
  meta.total_count = -1;
  meta.count = c.count;
  auto extra = [&](hid_t f) {
    write_strings(f, "source_paths", c.source_paths);
    if (!c.bad.empty()) write_strings(f, "bad_sources", c.bad);
    h5::write_attr(f, "source_digest", plan.digest);
    h5::write_attr(f, "source_first", plan.source_first);
    h5::write_attr(f, "source_count", plan.source_count);
    h5::write_attr(f, "bad_count", static_cast<int64_t>(c.bad.size()));
    h5::write_attr(f, "pixel_sum", std::vector<double>(c.pixel_sum.begin(), c.pixel_sum.end()));
    h5::write_attr(f, "pixel_sumsq",
                   std::vector<double>(c.pixel_sumsq.begin(), c.pixel_sumsq.end()));
  };
  // A stale final file of this index must not sit beside the new part: with it the split would
  // look complete while this shard is being rewritten.
  std::error_code ec;
  fs::remove(plan.final_path(), ec);
  write_shard(plan.part_path(), meta, c.images.data(), c.labels.data(),
              c.boxes.empty() ? nullptr : c.boxes.data(), extra);
}

bool finalize_shard(const ShardPlan& plan, const ShardStatus& st, int64_t first_index,
                    const SplitAttrs& a) {
  SCOUTER_CHECK(st.found, "finalize_shard needs a finished shard");
  const std::string digest = a.digest();
  // A part beside a finished final is what an interrupted finalize left: the final is newer.
  if (st.is_final && file_exists(plan.part_path())) remove_or_throw(plan.part_path());
  if (st.is_final && st.first_index == first_index && st.split_digest == digest) return false;
  // Patched in memory and written in one piece under the final name: an interruption leaves the
  // part or the old final, never a half-patched file.
  try {
    h5::Handle file = open_in_memory(st.is_final ? plan.final_path() : plan.part_path());
    hid_t f = file.get();
    h5::write_attr(f, "first_index", first_index);
    h5::write_attr(f, "total_count", a.total_count);
    h5::write_attr(f, "source_files", a.source_files);
    h5::write_attr(f, "source_sha256", a.source_sha256);
    h5::write_attr(f, "class_descriptions", a.class_descriptions);
    h5::write_attr(f, "measured_mean", a.measured_mean);
    h5::write_attr(f, "measured_std", a.measured_std);
    h5::write_attr(f, "split_digest", digest);
    h5::write_memory_file(file, plan.final_path());
  } catch (const UserError&) {
    throw;
  } catch (const Error& e) {
    throw UserError(fmt::format("cannot update '{}': {}", plan.final_path(), e.what()),
                    "check free space and permissions of the output folder");
  }
  if (!st.is_final) remove_or_throw(plan.part_path());
  return true;
}

std::vector<std::string> read_source_paths(const std::string& path) {
  try {
    h5::probe_unchecked(path);  // an older scouter's file: its metadata read in a child first
    h5::Handle file = h5::open_file(path);
    return read_strings(file.get(), "source_paths");
  } catch (const UserError&) {
    throw;  // a missing or truncated file, named
  } catch (const Error& e) {
    throw UserError(fmt::format("cannot read /source_paths of '{}': {}", path, e.what()),
                    "only image shards written by `scouter prep` have it");
  }
}

int64_t remove_stale_files(const std::string& dir, const std::string& split, int64_t num_shards) {
  int64_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!starts_with(name, split + "-")) continue;
    bool temp = name.find(".h5.tmp.") != std::string::npos ||
                name.find(".h5.part.tmp.") != std::string::npos;
    std::string base = name;
    if (base.size() > 5 && base.compare(base.size() - 5, 5, ".part") == 0)
      base.resize(base.size() - 5);
    int64_t index = 0, count = 0;
    bool other_set = parse_shard_name(base, split, &index, &count) && count != num_shards;
    if (!temp && !other_set) continue;
    std::error_code rm_ec;
    fs::remove(entry.path(), rm_ec);
    if (rm_ec)
      throw UserError(fmt::format("cannot remove the stale file '{}': {}", entry.path().string(),
                                  rm_ec.message()),
                      "delete it by hand; an earlier conversion of this split left it");
    spdlog::info("removed {} {}", temp ? "the leftover temporary" : "the stale shard",
                 entry.path().string());
    ++removed;
  }
  return removed;
}

}  // namespace scouter
