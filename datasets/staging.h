// Node-local staging of shard files (the launcher's data movement): each node receives, in a
// node-local folder such as $TMPDIR, only the shard files its ranks need, read once from the
// shared copy by a designated rank (file i: rank i mod world) and sent over MPI to the node
// leaders (local rank 0) that lack a verified copy. The receiver writes under a temporary name,
// checks the SHA-256 sent with the data, renames, and records the checksum and the source's
// size and mtime in `<file>.sha256`. A copy whose bytes still hash to its record and whose
// source is unchanged is verified and skipped; anything else is sent again.
// Collective over all ranks of the communicator.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/communicator.h"
#include "common/mpi_env.h"

namespace scouter {

struct StagingReport {
  std::string local_dir;   // where this node's copies are (its leader's folder)
  int64_t files_sent = 0;  // transferred this call, all nodes
  int64_t bytes_sent = 0;
  int64_t files_verified = 0;  // already present and verified, all nodes
  double seconds = 0;
};

// shared_paths: every shard file of the split (same list on every rank); node_needs: indices
// into shared_paths that any rank of this node needs (same on the ranks of a node);
// my_stage_dir: this rank's folder for them (its own expansion of stage_dir): the ranks of a
// node all use their node leader's, reported as local_dir. Returns, through local_paths, the
// node-local path of each needed file (empty for others).
StagingReport stage_files(Communicator& comm, const Topology& topo,
                          const std::vector<std::string>& shared_paths,
                          const std::vector<int64_t>& node_needs, const std::string& my_stage_dir,
                          std::vector<std::string>& local_paths);

// The folder under stage_dir for a dataset folder (a hash of its absolute path, so two
// datasets with the same shard names never mix).
std::string staging_folder(const std::string& stage_dir, const std::string& dataset_dir);

}  // namespace scouter
