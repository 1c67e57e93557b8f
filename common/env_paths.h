// Folders named through environment variables: `stage_dir = "${TMPDIR}/scouter"`. The config
// keys dataset_dir, output_dir and stage_dir (and a sweep's [sweep] dir) may hold $VAR, ${VAR}
// and ${VAR:-default} (the default when VAR is unset or empty); $$ is a literal $. Each process
// expands them in its own environment: a rank on its compute node, so every node stages into its
// own $TMPDIR. The text as written stays the run's config (config.toml, checkpoints, run.toml),
// so a requeued job on another node expands it again there and resumes the same run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/config.h"

namespace scouter {

// The keys that are expanded: dataset_dir, output_dir, stage_dir.
const std::vector<std::string>& env_path_keys();

// A variable's value, or nullptr when it is not set (getenv by default).
using EnvLookup = std::function<const char*(const std::string& name)>;

// `text` with its variables replaced. `what` names the text in errors ("run.toml:3: stage_dir").
// UserError for a variable that is unset or empty (without a default), a lone '$', or a ${...}
// that is not ${NAME} or ${NAME:-default}.
std::string expand_env(const std::string& text, const std::string& what,
                       const EnvLookup& lookup = {});

// Expands `keys` of cfg in place; a key whose text named variables keeps that text in
// cfg.as_written (to_toml writes it, with the expansion beside it). `origins` says where each
// key was set, for the errors.
void expand_env_paths(Config& cfg, const Origins& origins,
                      const std::vector<std::string>& keys = env_path_keys(),
                      const EnvLookup& lookup = {});

}  // namespace scouter
