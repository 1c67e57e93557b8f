// str_format: fmt's format strings ("{}", "{:.4f}", "{:>8}", "{:05d}", ...) without fmt in the
// header. Translation units that see LibTorch must not include fmt or spdlog: PyTorch's pip
// LibTorch bundles its own fmt, which <torch/torch.h> pulls in ahead of the system one that
// spdlog was built for (docs/gpu.md). So each argument is packed into a small tagged value here
// and formatted by fmt inside format.cpp, which never sees LibTorch.
//
// Accepted argument types: the integer types, float, double, bool, char, const char*, char*,
// std::string and std::string_view. Anything else (enums, paths, tensors' sizes, ...) does not
// compile: convert it at the call site (static_cast<int64_t>(e), p.string(), join_ints(...)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace scouter {

struct FormatArg {
  enum class Kind : unsigned char { int64, uint64, float32, float64, boolean, character, string };
  struct Text {
    const char* data;  // nullptr: a null const char* (an error when formatted)
    size_t size;
  };
  Kind kind;
  union {
    int64_t i;
    uint64_t u;
    float f;
    double d;
    bool b;
    char c;
    Text s;
  };
};

namespace format_detail {
template <typename T>
inline constexpr bool kUnsupported = false;

template <typename T>
inline constexpr bool kCharLike =
    std::is_same_v<T, signed char> || std::is_same_v<T, unsigned char> ||
    std::is_same_v<T, wchar_t> || std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>;
}  // namespace format_detail

template <typename T>
FormatArg make_format_arg(const T& v) {
  using D = std::decay_t<T>;
  FormatArg a;
  if constexpr (std::is_same_v<D, bool>) {
    a.kind = FormatArg::Kind::boolean;
    a.b = v;
  } else if constexpr (std::is_same_v<D, char>) {
    a.kind = FormatArg::Kind::character;
    a.c = v;
  } else if constexpr (std::is_integral_v<D> && !format_detail::kCharLike<D>) {
    if constexpr (std::is_signed_v<D>) {
      a.kind = FormatArg::Kind::int64;
      a.i = static_cast<int64_t>(v);
    } else {
      a.kind = FormatArg::Kind::uint64;
      a.u = static_cast<uint64_t>(v);
    }
  } else if constexpr (std::is_same_v<D, float>) {
    a.kind = FormatArg::Kind::float32;  // kept apart: "{}" of a float is its shortest float text
    a.f = v;
  } else if constexpr (std::is_same_v<D, double>) {
    a.kind = FormatArg::Kind::float64;
    a.d = v;
  } else if constexpr (std::is_array_v<T> && std::is_same_v<D, char*>) {  // "literal", char buf[]
    a.kind = FormatArg::Kind::string;
    a.s.data = v;
    a.s.size = std::char_traits<char>::length(v);
  } else if constexpr (std::is_same_v<D, const char*> || std::is_same_v<D, char*>) {
    a.kind = FormatArg::Kind::string;
    a.s.data = v;
    a.s.size = v ? std::char_traits<char>::length(v) : 0;
  } else if constexpr (std::is_same_v<D, std::string> || std::is_same_v<D, std::string_view>) {
    a.kind = FormatArg::Kind::string;
    a.s.data = v.data();
    a.s.size = v.size();
  } else {
    static_assert(format_detail::kUnsupported<T>,
                  "str_format/log: unsupported argument type; convert it explicitly "
                  "(int64_t, double, std::string, ...)");
  }
  return a;
}

// Formats with fmt's rules. A malformed format string, or one that does not fit its arguments,
// throws scouter::Error naming the format string.
std::string vformat_args(const char* fmt, const FormatArg* args, size_t count);

template <typename... Args>
std::string str_format(const char* fmt, const Args&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return vformat_args(fmt, nullptr, 0);
  } else {
    const FormatArg packed[] = {make_format_arg(args)...};
    return vformat_args(fmt, packed, sizeof...(Args));
  }
}

// A format string built at run time.
template <typename... Args>
std::string str_format(const std::string& fmt, const Args&... args) {
  return str_format(fmt.c_str(), args...);
}

}  // namespace scouter
