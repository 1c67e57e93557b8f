// Logging through spdlog with the rank in every line. Rank 0 logs at the chosen level;
// other ranks log warnings and errors only, so a job's output is readable at any scale.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace scouter {

// level: "trace", "debug", "info", "warn", "error". Safe to call again (e.g. once MPI is up).
void init_logging(int rank, const std::string& level = "info");

// The rank the logger was set up with (0 before init_logging).
int log_rank();

// True when stdout/stderr is an interactive terminal (progress bars) rather than a file.
bool stderr_is_terminal();

}  // namespace scouter
