#include "datasets/shard_damage.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "common/files.h"
#include "common/h5.h"
#include "test_util.h"

namespace scouter::testing {

void flip_chunk_bytes(const std::string& path, const std::string& name, int64_t row,
                      int64_t count) {
  haddr_t addr = 0;
  hsize_t size = 0;
  {
    h5::Handle file = h5::open_file(path);
    h5::Handle ds = h5::open_dataset(file.get(), name);
    h5::Handle dcpl(H5_CHECK(H5Dget_create_plist(ds.get())), H5Pclose);
    if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED)
      throw std::runtime_error("flip_chunk_bytes: '" + name + "' is not chunked");
    int rank = H5_CHECK(H5Pget_chunk(dcpl.get(), 0, nullptr));
    std::vector<hsize_t> chunk(static_cast<size_t>(rank)), offset(static_cast<size_t>(rank), 0);
    H5_CHECK(H5Pget_chunk(dcpl.get(), rank, chunk.data()));
    offset[0] = static_cast<hsize_t>(row) / chunk[0] * chunk[0];
    unsigned filter_mask = 0;
    H5_CHECK(H5Dget_chunk_info_by_coord(ds.get(), offset.data(), &filter_mask, &addr, &size));
  }
  std::string bytes = read_text_file(path);
  auto n = std::min<size_t>(static_cast<size_t>(count), static_cast<size_t>(size));
  size_t start = static_cast<size_t>(addr) + (static_cast<size_t>(size) - n) / 2;
  if (start + n > bytes.size()) throw std::runtime_error("flip_chunk_bytes: chunk outside file");
  for (size_t k = start; k < start + n; ++k) bytes[k] = static_cast<char>(~bytes[k]);
  write_bytes(path, bytes);
}

}  // namespace scouter::testing
