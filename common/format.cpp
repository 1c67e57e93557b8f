#include "common/format.h"

#include <fmt/args.h>
#include <fmt/format.h>

#include "common/error.h"

namespace scouter {

std::string vformat_args(const char* fmt, const FormatArg* args, size_t count) {
  if (!fmt) throw Error("str_format: null format string");
  fmt::dynamic_format_arg_store<fmt::format_context> store;
  store.reserve(count, 0);
  for (size_t k = 0; k < count; ++k) {
    const FormatArg& a = args[k];
    switch (a.kind) {
      case FormatArg::Kind::int64: store.push_back(a.i); break;
      case FormatArg::Kind::uint64: store.push_back(a.u); break;
      case FormatArg::Kind::float32: store.push_back(a.f); break;
      case FormatArg::Kind::float64: store.push_back(a.d); break;
      case FormatArg::Kind::boolean: store.push_back(a.b); break;
      case FormatArg::Kind::character: store.push_back(a.c); break;
      case FormatArg::Kind::string:
        if (!a.s.data)
          throw Error(fmt::format("str_format(\"{}\"): argument {} is a null string pointer", fmt, k));
        store.push_back(fmt::string_view(a.s.data, a.s.size));  // not copied: the caller's
        break;
    }
  }
  try {
    return fmt::vformat(fmt::string_view(fmt), store);
  } catch (const fmt::format_error& e) {
    throw Error(fmt::format("bad format string \"{}\" ({} argument(s)): {}", fmt, count, e.what()));
  }
}

}  // namespace scouter
