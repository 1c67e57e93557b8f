#include "worker/train/provenance.h"

#include <mpi.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#ifdef SCOUTER_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "common/log.h"
#include "common/text.h"
#include "common/version.h"
#include "datasets/shard_fingerprint.h"
#include "worker/run/checkpoint.h"
#include "worker/train/run_summary.h"

namespace fs = std::filesystem;

namespace scouter {
namespace {

std::string compiler() {
#if defined(__clang__)
  return str_format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return str_format("gcc {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

// MPI_Get_library_version's first line ("Open MPI v4.1.4, package: ..."); callable without
// MPI_Init.
std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  if (MPI_Get_library_version(text, &len) != MPI_SUCCESS) return "unknown";
  std::string s(text, static_cast<size_t>(std::max(0, len)));
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

#ifdef SCOUTER_HAVE_NCCL
// "12.4" from CUDA's 12040.
std::string cuda_version(int v) { return str_format("{}.{}", v / 1000, (v % 1000) / 10); }
#endif

std::string cuda_runtime() {
#ifdef SCOUTER_HAVE_NCCL
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) return cuda_version(v);
  return "unknown";
#else
  return "none";
#endif
}

std::string nccl() {
#ifdef SCOUTER_HAVE_NCCL
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch; older releases major*1000 + minor*100.
  return v >= 10000 ? str_format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
                    : str_format("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100);
#else
  return "none";
#endif
}

std::string cudnn() {
  if (!at::globalContext().hasCuDNN()) return "none";
  const long v = at::globalContext().versionCuDNN();
  // cuDNN 9 encodes major*10000 + minor*100 + patch; older releases major*1000 + minor*100.
  return v >= 10000 ? str_format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
                    : str_format("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100);
}

// "-dirty" is what `git describe --dirty` appends (CMakeLists.txt).
bool dirty(const std::string& describe) {
  const std::string tag = "-dirty";
  return describe.size() >= tag.size() &&
         describe.compare(describe.size() - tag.size(), tag.size(), tag) == 0;
}

// A file's SHA-256, or "none" for no file.
void weights_file(const std::string& path, const char* key, nlohmann::json& out) {
  out[key] = path.empty() ? "none" : path;
  out[std::string(key) + "_sha256"] = path.empty() ? "none" : sha256_file(path);
}

// use_pre's source: the checkpoint a folder resolves to, and the SHA-256 its .done marker
// records (hashing the file where the marker holds none).
void pre_checkpoint(const std::string& path_or_dir, nlohmann::json& out) {
  if (path_or_dir.empty()) {
    out["pre_checkpoint"] = "none";
    out["pre_checkpoint_sha256"] = "none";
    return;
  }
  std::string path = fs::is_directory(path_or_dir) ? latest_checkpoint(path_or_dir) : path_or_dir;
  out["pre_checkpoint"] = path.empty() ? path_or_dir : path;
  std::string digest = path.empty() ? "" : checkpoint_digest(path);
  out["pre_checkpoint_sha256"] = digest.empty() ? "unknown" : digest;
}

}  // namespace

nlohmann::json build_provenance() {
  return {{"scouter_version", SCOUTER_VERSION},
          {"scouter_commit", SCOUTER_GIT_VERSION},
          {"scouter_dirty", dirty(SCOUTER_GIT_VERSION)},
          {"compiler", compiler()},
          {"libtorch", TORCH_VERSION},
          {"cuda_runtime", cuda_runtime()},
          {"cudnn", cudnn()},
          {"nccl", nccl()},
          {"mpi", mpi_library()}};
}

nlohmann::json train_attempt(const Config& cfg, const Topology& topo,
                             const std::vector<std::pair<std::string, std::vector<std::string>>>& splits,
                             const std::string& pre, const std::string& resumed_from,
                             int64_t epochs_done) {
  nlohmann::json a = {{"command", "train"}, {"started", now_iso()}};
  a["resumed_from"] = resumed_from.empty() ? nlohmann::json(nullptr)
                                           : nlohmann::json(fs::path(resumed_from).filename().string());
  a["epochs_done"] = epochs_done;
  a.update(build_provenance());
  a["device"] = cfg.device;
  a["world_size"] = topo.world;
  std::map<std::string, int> per_host;
  for (const auto& h : topo.hosts) ++per_host[h];
  a["hosts"] = per_host;
  a["dataset"] = cfg.dataset;
  a["dataset_dir"] = cfg.dataset_dir;
  const auto t0 = std::chrono::steady_clock::now();
  DataFingerprint f = data_fingerprint(splits);
  log::info("data fingerprint {} of {} shard files ({} chunk checksums) in {:.2f} s",
            f.sha256.substr(0, 12), f.files, f.chunks,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  nlohmann::json split_names = nlohmann::json::array();
  for (const auto& s : splits) split_names.push_back(s.first);
  a["data_fingerprint"] = {{"sha256", f.sha256},
                           {"files", f.files},
                           {"chunks", f.chunks},
                           {"whole_files_hashed", f.whole_files_hashed},
                           {"splits", split_names}};
  if (resumed_from.empty()) {  // a resumed attempt loads its weights from the checkpoint
    weights_file(cfg.pretrained, "pretrained", a);
    pre_checkpoint(pre, a);
  }
  return a;
}

nlohmann::json import_attempt(const std::string& source, const Config& cfg) {
  nlohmann::json a = {{"command", "import"}, {"started", now_iso()}};
  a.update(build_provenance());
  a["dataset"] = cfg.dataset;
  a["imported_file"] = fs::absolute(source).lexically_normal().string();
  a["imported_sha256"] = sha256_file(source);
  return a;
}

void append_provenance(const std::string& dir, const nlohmann::json& attempt) {
  const std::string path = dir + "/" + kProvenanceFile;
  nlohmann::json doc = {{"format", "scouter-provenance"},
                        {"format_version", 1},
                        {"attempts", nlohmann::json::array()}};
  if (file_exists(path)) {
    auto old = nlohmann::json::parse(read_text_file(path), nullptr, false);
    if (old.is_object() && old.value("format", "") == "scouter-provenance" &&
        old.contains("attempts") && old["attempts"].is_array()) {
      doc["attempts"] = old["attempts"];
    } else {
      const std::string kept = path + ".unreadable";
      std::error_code ec;
      fs::rename(path, kept, ec);
      log::warn("{} is not a provenance record; kept as {}, and a new record starts here",
                path, kept);
    }
  }
  doc["attempts"].push_back(attempt);
  write_text_file_atomic(path, doc.dump(2) + "\n");
}

}  // namespace scouter
