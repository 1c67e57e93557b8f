// Stand-in for the include check (tests/include_check/check_includes.cmake). Not a real header.
#error "<toml++/toml.h> reached a translation unit that sees LibTorch: toml++ is private to common/ (header-only, or missing where PyTorch was installed by pip); read TOML through common/ (docs/gpu.md)"
