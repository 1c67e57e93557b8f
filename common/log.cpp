#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "common/error.h"

namespace scouter {
namespace {
int g_rank = 0;

spdlog::level::level_enum to_spdlog(log::Level level) {
  switch (level) {
    case log::Level::trace: return spdlog::level::trace;
    case log::Level::debug: return spdlog::level::debug;
    case log::Level::info: return spdlog::level::info;
    case log::Level::warn: return spdlog::level::warn;
    case log::Level::error: return spdlog::level::err;
  }
  return spdlog::level::err;
}
}  // namespace

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

namespace log {

bool enabled(Level level) { return spdlog::default_logger_raw()->should_log(to_spdlog(level)); }

void write(Level level, const std::string& message) {
  spdlog::default_logger_raw()->log(to_spdlog(level), spdlog::string_view_t(message));
}

void write_format(Level level, const char* fmt, const FormatArg* args, size_t count) {
  std::string message;
  try {
    message = vformat_args(fmt, args, count);
  } catch (const Error& e) {
    write(Level::error, std::string("[log format error] ") + e.what());
    return;
  }
  write(level, message);
}

void flush() { spdlog::default_logger_raw()->flush(); }

}  // namespace log
}  // namespace scouter
