// A sweep: one TOML file describing a whole study (defaults, named runs that override them, lists
// that expand to a grid, seeds or repeats, dependencies of SCOUTER runs on their FC base run, and
// resources per run), expanded into concrete runs with deterministic names, so the same run
// always lands in the same folder. The file syntax is documented in docs/sweeps.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/sweep_resources.h"

namespace scouter {

// Limits, checked before the work is done (docs/sweeps.md "Limits"): the runs one sweep file expands
// to (grid sizes x seeds or repeats, summed over its named runs), the length of a named run's name
// in the file, and of an expanded run's name (a folder name).
constexpr int64_t kMaxSweepRuns = 10000;
constexpr size_t kMaxRunNameLength = 200;
constexpr size_t kMaxRunFolderName = 255;

struct SweepRun {
  std::string name;     // e.g. "pos_lambda_value0.1_seed2": run, grid point, seed
  std::string run;      // the named run it expands ("pos")
  std::string setting;  // name without the seed part: runs averaged together in reports
  std::string dir;      // <sweep dir>/<name>
  Config config;        // resolved (output_dir = dir; pre_checkpoint = its base's dir)
  Resources resources;
  int64_t node_cores = 0;  // cores of a node its ranks go to, from load_sweep's NodeCores (0: unknown)
  std::vector<std::string> depends_on;  // names of runs that must complete first
};

struct Sweep {
  std::string file, name, dir;
  int64_t array_throttle = 0;  // Slurm: at most this many array tasks at once (0: no limit)
  // After training, `scouter explain RUN --images N --pictures P` (0 images: no explain step).
  int64_t explain_images = 100;
  int64_t explain_pictures = 8;
  std::vector<SweepRun> runs;  // dependencies before dependents
  const SweepRun* find(const std::string& name) const;
};

// What `scouter sweep` changes in the file before expanding it (docs/sweeps.md, "Overrides"):
// the file's [smoke] table when smoke is true, then each "KEY=VALUE" of sets in order.
struct SweepOverrides {
  std::vector<std::string> sets;
  bool smoke = false;
};

// Reads and expands a sweep file. Every mistake is a UserError naming the file, line and key:
// unknown keys (with the nearest valid one), a list where a single value is required, a
// dependency on a run that does not exist, a dependency cycle, a use_pre run without an FC base,
// a file beyond the limits above (checked before any run is built; expansion is linear in the
// runs), and resources that cannot be met (node_cores: the node size of a run's partition to check
// against; none, or 0 from it, skips that check). The file's [sweep] dir may name environment
// variables (common/env_paths.h), expanded here; dir_override replaces it when not empty.
// check: the higher layers' checks of each run's config after validate (the names of datasets
// and models; the launcher passes them), with the same origins. overrides: applied to the file
// as parsed, before anything else is read from it.
Sweep load_sweep(const std::string& path, const std::string& dir_override = "",
                 const NodeCores& node_cores = {}, const ConfigCheck& check = {},
                 const SweepOverrides& overrides = {});

// The --dry-run listing: each run's name, folder, dependencies, resources and the keys that
// differ from the defaults.
std::string describe_sweep(const Sweep& sweep);

}  // namespace scouter
