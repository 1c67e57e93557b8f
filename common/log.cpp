#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include "common/error.h"

namespace scouter {
namespace {
int g_rank = 0;
}

void init_logging(int rank, const std::string& level) {
  g_rank = rank;
  auto lvl = spdlog::level::from_str(level);
  if (spdlog::level::to_string_view(lvl) != level && level != "warn" && level != "err") {
    throw UserError("unknown log level '" + level + "'",
                    "valid: trace, debug, info, warn, error");
  }
  auto logger = spdlog::get("scouter");
  if (!logger) {
    logger = spdlog::stderr_color_mt("scouter");
    spdlog::set_default_logger(logger);
  }
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(rank) + "] [%^%l%$] %v");
  logger->set_level(rank == 0 ? lvl : std::max(lvl, spdlog::level::warn));
  logger->flush_on(spdlog::level::info);
}

int log_rank() { return g_rank; }

bool stderr_is_terminal() { return isatty(STDERR_FILENO) != 0; }

}  // namespace scouter
