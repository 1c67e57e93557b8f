// What produced a run, recorded in RUN/provenance.json by rank 0 each time `scouter train` starts
// in the folder (a fresh start or a resume: one attempt each, appended) and by `scouter import`.
// `scouter report` reads it (launcher/report_provenance.h) and marks compared runs that differ.
//
// Format (JSON object, written atomically; docs/formats.md "Run folder"):
//   format          "scouter-provenance"
//   format_version  1
//   attempts        one object per start, oldest first:
//     command           "train" or "import"
//     started           ISO time of the start
//     resumed_from      train: the checkpoint the attempt resumed from (file name), or null
//     epochs_done       train: epochs the run held when this attempt started
//     scouter_version, scouter_commit (git describe of the build, "-dirty" when the tree had
//                       uncommitted changes), scouter_dirty (bool)
//     compiler          e.g. "gcc 12.2.0"
//     libtorch          LibTorch's version (torch/version.h)
//     cuda_runtime, cudnn, nccl   versions, or "none" where scouter was built without them
//     mpi               MPI_Get_library_version's first line (Open MPI, MPICH, ...)
//     device            the config's device
//     world_size        ranks
//     hosts             {hostname: ranks on it} (train)
//     dataset, dataset_dir
//     data_fingerprint  train: {sha256, files, chunks, whole_files_hashed, splits}
//                       (datasets/shard_fingerprint.h says what it covers)
//     pretrained, pretrained_sha256            the file and its SHA-256, or "none"
//     pre_checkpoint, pre_checkpoint_sha256    use_pre's source checkpoint and the SHA-256 its
//                                              .done marker records, or "none"
//                       (these four only in an attempt that loaded them: not in a resumed one,
//                       whose weights come from its checkpoint)
//     imported_file, imported_sha256           import: the checkpoint file and its SHA-256
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "common/config.h"
#include "common/mpi_env.h"

namespace scouter {

constexpr const char* kProvenanceFile = "provenance.json";

// The build's and libraries' fields of an attempt (scouter_*, compiler, libtorch, cuda_runtime,
// cudnn, nccl, mpi).
nlohmann::json build_provenance();

// A training attempt's record. splits: (split, its shared shard paths) the run reads;
// pre_checkpoint: use_pre's source (a checkpoint file or a run folder), "" without use_pre.
nlohmann::json train_attempt(const Config& cfg, const Topology& topo,
                             const std::vector<std::pair<std::string, std::vector<std::string>>>& splits,
                             const std::string& pre_checkpoint, const std::string& resumed_from,
                             int64_t epochs_done);

// `scouter import`'s record: the build, and the imported file with its SHA-256 (the training
// itself happened elsewhere: no hosts, data or weights).
nlohmann::json import_attempt(const std::string& source, const Config& cfg);

// Appends `attempt` to dir/provenance.json (creating it). A file that cannot be read as one is
// kept as provenance.json.unreadable, with a warning, and a new one started.
void append_provenance(const std::string& dir, const nlohmann::json& attempt);

}  // namespace scouter
