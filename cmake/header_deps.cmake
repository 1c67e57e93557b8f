# toml++ and stb, found one of two ways each:
#   1. installed: toml++'s CMake package (find_package(tomlplusplus); Debian: libtomlplusplus-dev)
#      and stb's compiled library with its headers (cmake/Findstb.cmake; Debian: libstb-dev);
#   2. failing that, header-only from a folder: -DTOMLPLUSPLUS_INCLUDE_DIR=<folder holding
#      toml++/toml.hpp or toml++/toml.h> (compiled with TOML_HEADER_ONLY=1) and
#      -DSTB_INCLUDE_DIR=<folder holding stb/stb_image_write.h or stb_image_write.h>
#      (datasets/stb_impl.cpp then compiles the implementation). E.g. the usr/include of Debian's
#      .deb files unpacked with `dpkg -x` (docs/gpu.md). Never a download.
# Results: the INTERFACE targets scouter_tomlplusplus and scouter_stb, and SCOUTER_STB_HEADER_ONLY.
# A relative folder is taken relative to the source tree.

function(scouter_header_only_dir var what)
  # ARGN: paths relative to the folder, any one of which must exist.
  set(dir "${${var}}")
  if(NOT dir)
    message(FATAL_ERROR "${what} not found: ${_scouter_hint_${var}} Set -D${var}=<folder holding "
                        "${ARGV2}> to use its headers instead (e.g. the usr/include folder of the "
                        "Debian package unpacked with `dpkg -x`; see docs/gpu.md).")
  endif()
  get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
  foreach(f ${ARGN})
    if(EXISTS "${dir}/${f}")
      set(${var}_RESOLVED "${dir}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  string(REPLACE ";" " or " wanted "${ARGN}")
  message(FATAL_ERROR "${var}=${${var}} (${dir}) holds no ${wanted}: point ${var} at the folder "
                      "that holds ${ARGV2} (see docs/gpu.md).")
endfunction()

# toml++
add_library(scouter_tomlplusplus INTERFACE)
find_package(tomlplusplus QUIET)
if(tomlplusplus_FOUND)
  message(STATUS "toml++: CMake package (${tomlplusplus_DIR})")
  target_link_libraries(scouter_tomlplusplus INTERFACE tomlplusplus::tomlplusplus)
else()
  set(TOMLPLUSPLUS_INCLUDE_DIR "" CACHE PATH
      "folder holding toml++/toml.hpp (or toml++/toml.h), used header-only when no tomlplusplus CMake package is found")
  set(_scouter_hint_TOMLPLUSPLUS_INCLUDE_DIR
      "no tomlplusplus CMake package (Debian: apt-get install libtomlplusplus-dev), and TOMLPLUSPLUS_INCLUDE_DIR is not set.")
  scouter_header_only_dir(TOMLPLUSPLUS_INCLUDE_DIR "toml++" toml++/toml.hpp toml++/toml.h)
  message(STATUS "toml++: header-only from ${TOMLPLUSPLUS_INCLUDE_DIR_RESOLVED}")
  target_include_directories(scouter_tomlplusplus SYSTEM INTERFACE ${TOMLPLUSPLUS_INCLUDE_DIR_RESOLVED})
  target_compile_definitions(scouter_tomlplusplus INTERFACE TOML_HEADER_ONLY=1)
endif()

# stb
add_library(scouter_stb INTERFACE)
find_package(stb QUIET)
if(stb_FOUND)
  message(STATUS "stb: ${stb_SYSTEM_LIBRARY} with ${stb_SYSTEM_INCLUDE_DIR}")
  target_link_libraries(scouter_stb INTERFACE stb::stb)
  set(SCOUTER_STB_HEADER_ONLY OFF)
else()
  set(STB_INCLUDE_DIR "" CACHE PATH
      "folder holding stb/stb_image_write.h (or stb_image_write.h), used header-only when no stb library is found")
  set(_scouter_hint_STB_INCLUDE_DIR
      "no stb headers with a compiled libstb (Debian: apt-get install libstb-dev), and STB_INCLUDE_DIR is not set.")
  scouter_header_only_dir(STB_INCLUDE_DIR "stb" stb/stb_image_write.h stb_image_write.h)
  message(STATUS "stb: header-only from ${STB_INCLUDE_DIR_RESOLVED}")
  target_include_directories(scouter_stb SYSTEM INTERFACE ${STB_INCLUDE_DIR_RESOLVED})
  set(SCOUTER_STB_HEADER_ONLY ON)
endif()
