// Stand-in for the include check (tests/include_check/check_includes.cmake). Not a real header.
#error "<spdlog/tweakme.h> reached a translation unit that sees LibTorch: spdlog is built for the system fmt, and with PyTorch's LibTorch the fmt there is its bundled one; log with common/log.h (docs/gpu.md)"
