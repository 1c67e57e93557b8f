#include "datasets/staging.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

constexpr int kTagStage = 7100;
constexpr int kTagFolder = 7101;
constexpr int64_t kChunk = int64_t{64} << 20;

// Identity of a shared file without reading it: a changed size or mtime means a new source.
struct SourceStamp {
  int64_t size = -1, mtime_ns = -1;
};

SourceStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    throw UserError(fmt::format("staging: cannot stat shard '{}'", path), "check dataset_dir");
  return {static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw Error("OpenSSL: cannot initialise SHA-256");
  }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx_.get(), p, n); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    std::string s;
    for (unsigned i = 0; i < len; ++i) s += fmt::format("{:02x}", md[i]);
    return s;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// "<sha256> <size> <mtime_ns>" of the source when the copy was made.
std::string record_line(const std::string& sha, const SourceStamp& s) {
  return fmt::format("{} {} {}\n", sha, s.size, s.mtime_ns);
}

// Copies this process already hashed or wrote: later epochs of the run skip the re-hash.
std::set<std::string>& known_good() {
  static std::set<std::string> paths;
  return paths;
}

bool verified(const std::string& local, const SourceStamp& source) {
  std::error_code ec;
  std::string key = fmt::format("{} {} {}", local, source.size, source.mtime_ns);
  if (!fs::exists(local, ec) || !fs::exists(local + ".sha256", ec)) return false;
  auto parts = split(read_text_file(local + ".sha256"), ' ');
  if (parts.size() != 3) return false;
  if (parse_int(parts[1]).value_or(-2) != source.size ||
      parse_int(split(parts[2], '\n')[0]).value_or(-2) != source.mtime_ns)
    return false;
  if (known_good().count(key)) return true;
  bool ok = sha256_file(local) == parts[0];
  if (ok) known_good().insert(key);
  return ok;
}

// The node leader's `mine`, on every rank of its node (sent over MPI: a stage_dir expanded from
// a per-rank variable would otherwise differ between the ranks of one node).
std::string node_leader_value(Communicator& comm, const Topology& topo, const std::string& mine) {
  const int leader = topo.node_leaders[static_cast<size_t>(topo.node)];
  if (topo.rank != leader) {
    int64_t n = 0;
    comm.recv(&n, sizeof n, leader, kTagFolder, "staging: the node's folder");
    std::string value(static_cast<size_t>(n), '\0');
    comm.recv(value.data(), n, leader, kTagFolder, "staging: the node's folder");
    return value;
  }
  const auto n = static_cast<int64_t>(mine.size());
  for (int r = 0; r < topo.world; ++r) {
    if (r == topo.rank || topo.hosts[static_cast<size_t>(r)] != topo.host) continue;
    comm.send(&n, sizeof n, r, kTagFolder, "staging: the node's folder");
    comm.send(mine.data(), n, r, kTagFolder, "staging: the node's folder");
  }
  return mine;
}

}  // namespace

std::string staging_folder(const std::string& stage_dir, const std::string& dataset_dir) {
  std::string abs = fs::absolute(dataset_dir).lexically_normal().string();
  return (fs::path(stage_dir) / ("shards-" + sha256_bytes(abs.data(), abs.size()).substr(0, 12))).string();
}

StagingReport stage_files(Communicator& comm, const Topology& topo,
                          const std::vector<std::string>& shared_paths,
                          const std::vector<int64_t>& node_needs, const std::string& my_stage_dir,
                          std::vector<std::string>& local_paths) {
  auto t0 = std::chrono::steady_clock::now();
  const std::string stage_dir = node_leader_value(comm, topo, my_stage_dir);
  StagingReport report;
  report.local_dir = stage_dir;
  const auto nfiles = static_cast<int64_t>(shared_paths.size());
  local_paths.assign(shared_paths.size(), {});
  for (int64_t f : node_needs)
    local_paths[static_cast<size_t>(f)] = (fs::path(stage_dir) / fs::path(shared_paths[static_cast<size_t>(f)]).filename()).string();

  // Each node leader marks the files its node needs and lacks (1) or holds verified (2).
  std::vector<int32_t> want(static_cast<size_t>(topo.nodes * nfiles), 0);
  if (topo.is_node_leader()) {
    ensure_dir(stage_dir);
    for (int64_t f : node_needs) {
      bool ok = verified(local_paths[static_cast<size_t>(f)], stamp_of(shared_paths[static_cast<size_t>(f)]));
      want[static_cast<size_t>(topo.node * nfiles + f)] = ok ? 2 : 1;
    }
  }
  comm.allreduce(want.data(), static_cast<int64_t>(want.size()), MPI_INT32_T, MPI_SUM, "staging plan");

  // Every rank walks the same files in the same order: the owner sends, the needing leaders
  // receive; nobody else takes part.
  std::vector<char> buf(static_cast<size_t>(kChunk));
  for (int64_t f = 0; f < nfiles; ++f) {
    const int owner = static_cast<int>(f % topo.world);
    const std::string& src = shared_paths[static_cast<size_t>(f)];
    for (int node = 0; node < topo.nodes; ++node) {
      int32_t w = want[static_cast<size_t>(node * nfiles + f)];
      if (w == 2) ++report.files_verified;
      if (w != 1) continue;
      const int leader = topo.node_leaders[static_cast<size_t>(node)];
      const int tag = kTagStage;
      ++report.files_sent;
      if (topo.rank == owner && topo.rank == leader) {
        // The leader reads the shared copy itself: a checked local copy, no message.
        const std::string& dst = local_paths[static_cast<size_t>(f)];
        AtomicOutput out(dst);
        std::ifstream in(src, std::ios::binary);
        std::ofstream o(out.temp_path(), std::ios::binary);
        Sha256 h;
        while (in) {
          in.read(buf.data(), kChunk);
          h.update(buf.data(), static_cast<size_t>(in.gcount()));
          o.write(buf.data(), in.gcount());
        }
        o.close();
        if (!o) throw UserError(fmt::format("staging: cannot write '{}'", out.temp_path()), "check stage_dir's free space");
        std::string sha = h.hex();
        if (sha256_file(out.temp_path()) != sha) throw Error(fmt::format("staging: copy of '{}' does not verify", src));
        out.commit();
        write_text_file_atomic(dst + ".sha256", record_line(sha, stamp_of(src)));
        report.bytes_sent += static_cast<int64_t>(fs::file_size(dst));
      } else if (topo.rank == owner) {
        std::ifstream in(src, std::ios::binary);
        if (!in) throw UserError(fmt::format("staging: cannot read shard '{}'", src), "check dataset_dir");
        SourceStamp st = stamp_of(src);
        int64_t header[3] = {st.size, st.mtime_ns, 0};
        comm.send(header, sizeof header, leader, tag, "staging: " + src);
        Sha256 h;
        int64_t left = st.size;
        while (left > 0) {
          int64_t n = std::min(left, kChunk);
          in.read(buf.data(), n);
          if (in.gcount() != n) throw UserError(fmt::format("staging: '{}' changed while being read", src), "do not modify shards during a run");
          h.update(buf.data(), static_cast<size_t>(n));
          comm.send(buf.data(), n, leader, tag, "staging: " + src);
          left -= n;
        }
        std::string sha = h.hex();
        comm.send(sha.data(), 64, leader, tag, "staging: " + src);
        report.bytes_sent += st.size;
      } else if (topo.rank == leader) {
        const std::string& dst = local_paths[static_cast<size_t>(f)];
        int64_t header[3];
        comm.recv(header, sizeof header, owner, tag, "staging: " + src);
        AtomicOutput out(dst);
        std::ofstream o(out.temp_path(), std::ios::binary);
        Sha256 h;
        for (int64_t left = header[0]; left > 0;) {
          int64_t n = std::min(left, kChunk);
          comm.recv(buf.data(), n, owner, tag, "staging: " + src);
          h.update(buf.data(), static_cast<size_t>(n));
          o.write(buf.data(), n);
          left -= n;
        }
        std::string sha(64, '\0');
        comm.recv(sha.data(), 64, owner, tag, "staging: " + src);
        o.close();
        if (!o) throw UserError(fmt::format("staging: cannot write '{}'", out.temp_path()), "check stage_dir's free space");
        if (h.hex() != sha)
          throw Error(fmt::format("staging: '{}' arrived corrupted from rank {} (SHA-256 mismatch)", src, owner));
        out.commit();
        write_text_file_atomic(dst + ".sha256", record_line(sha, SourceStamp{header[0], header[1]}));
      }
    }
  }
  int64_t bytes = report.bytes_sent;
  comm.allreduce(&bytes, 1, MPI_INT64_T, MPI_SUM, "staging totals");
  comm.barrier("staging done");
  report.bytes_sent = bytes;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace scouter
