#include "common/error.h"

#include <fmt/format.h>

namespace scouter {

void throw_internal(const char* expr, const char* file, int line, const std::string& msg) {
  throw Error(fmt::format("{} ({}:{}: check failed: {})", msg, file, line, expr));
}

}  // namespace scouter
