// stb_image_write's implementation, compiled only when stb comes header-only
// (-DSTB_INCLUDE_DIR, cmake/header_deps.cmake); otherwise the installed libstb provides it.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif
