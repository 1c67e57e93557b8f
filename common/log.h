// Logging with the rank in every line. Rank 0 logs at the chosen level; other ranks log warnings
// and errors only, so a job's output is readable at any scale. The messages are fmt format
// strings (common/format.h); spdlog writes them, inside log.cpp only: this header includes neither
// spdlog nor fmt, so files that see LibTorch can log (docs/gpu.md).
#pragma once

#include <cstddef>
#include <string>

#include "common/format.h"

namespace scouter {

// level: "trace", "debug", "info", "warn", "error". Safe to call again (e.g. once MPI is up).
void init_logging(int rank, const std::string& level = "info");

// The rank the logger was set up with (0 before init_logging).
int log_rank();

// True when stdout/stderr is an interactive terminal (progress bars) rather than a file.
bool stderr_is_terminal();

namespace log {

enum class Level { trace, debug, info, warn, error };

// Whether a message at this level would be written (checked before formatting).
bool enabled(Level level);
// Writes one message as it is (no formatting).
void write(Level level, const std::string& message);
// Formats and writes; a format string that does not fit its arguments logs an error line
// instead of throwing (as spdlog does).
void write_format(Level level, const char* fmt, const FormatArg* args, size_t count);
void flush();

// log::info("epoch {} loss {:.4f}", epoch, loss). Without arguments the text is written as it
// is, braces included (as spdlog does).
template <typename... Args>
void at(Level level, const char* fmt, const Args&... args) {
  if (!enabled(level)) return;
  if constexpr (sizeof...(Args) == 0) {
    write(level, fmt);
  } else {
    const FormatArg packed[] = {make_format_arg(args)...};
    write_format(level, fmt, packed, sizeof...(Args));
  }
}
inline void at(Level level, const std::string& message) {
  if (enabled(level)) write(level, message);
}

template <typename... Args>
void trace(const char* fmt, const Args&... args) { at(Level::trace, fmt, args...); }
template <typename... Args>
void debug(const char* fmt, const Args&... args) { at(Level::debug, fmt, args...); }
template <typename... Args>
void info(const char* fmt, const Args&... args) { at(Level::info, fmt, args...); }
template <typename... Args>
void warn(const char* fmt, const Args&... args) { at(Level::warn, fmt, args...); }
template <typename... Args>
void error(const char* fmt, const Args&... args) { at(Level::error, fmt, args...); }

inline void trace(const std::string& message) { at(Level::trace, message); }
inline void debug(const std::string& message) { at(Level::debug, message); }
inline void info(const std::string& message) { at(Level::info, message); }
inline void warn(const std::string& message) { at(Level::warn, message); }
inline void error(const std::string& message) { at(Level::error, message); }

}  // namespace log
}  // namespace scouter
