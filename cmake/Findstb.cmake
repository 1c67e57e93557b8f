# Findstb: the stb headers with a compiled stb library next to them (Debian: libstb-dev, which
# installs <stb/stb_image_write.h> and libstb). Defines stb_FOUND and the target stb::stb.
# Its cache variables are stb_SYSTEM_INCLUDE_DIR and stb_SYSTEM_LIBRARY; STB_INCLUDE_DIR is the
# header-only fallback of cmake/header_deps.cmake, not this module's.
find_path(stb_SYSTEM_INCLUDE_DIR NAMES stb/stb_image_write.h)
find_library(stb_SYSTEM_LIBRARY NAMES stb)
mark_as_advanced(stb_SYSTEM_INCLUDE_DIR stb_SYSTEM_LIBRARY)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(stb REQUIRED_VARS stb_SYSTEM_LIBRARY stb_SYSTEM_INCLUDE_DIR)
if(stb_FOUND AND NOT TARGET stb::stb)
  add_library(stb::stb UNKNOWN IMPORTED)
  set_target_properties(stb::stb PROPERTIES
    IMPORTED_LOCATION "${stb_SYSTEM_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${stb_SYSTEM_INCLUDE_DIR}")
endif()
