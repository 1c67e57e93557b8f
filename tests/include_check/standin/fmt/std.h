// Stand-in for the include check (tests/include_check/check_includes.cmake). Not a real header.
#error "<fmt/std.h> reached a translation unit that sees LibTorch: with PyTorch's LibTorch that is its bundled fmt, not the one spdlog was built for; format with common/format.h (docs/gpu.md)"
