# The include-isolation check (docs/gpu.md): no translation unit that sees LibTorch may include
# fmt, spdlog or toml++. With PyTorch's pip LibTorch, <torch/torch.h> brings its own bundled fmt,
# and every <fmt/...> of such a file resolves to that one, not to the fmt the system spdlog was
# built for; toml++ is private to common/ (and missing where PyTorch was installed by pip).
#
# How: each such file (its compile command in compile_commands.json names LibTorch's
# torch/csrc/api/include folder) is preprocessed again with its own command, plus -E
# -fdirectives-only and -I<STANDIN> ahead of every other folder. STANDIN holds fmt/, spdlog/ and toml++/ headers that
# are all #error, so any include of them fails, with the include chain in the compiler's message.
# A stand-in reached from LibTorch's own headers (a LibTorch that bundles fmt) is LibTorch's
# business and is allowed; reached from anything else, the check fails naming the file and the
# chain.
#
#   cmake -DCOMPILE_COMMANDS=build/compile_commands.json -DSTANDIN=tests/include_check/standin
#         -DTORCH_DIRS="dir|dir" -DWORK_DIR=/tmp/x [-DJOBS=2] [-DPROBE=file.cpp]
#         -P tests/include_check/check_includes.cmake
# TORCH_DIRS: LibTorch's include folders ('|'-separated; TORCH_INCLUDE_DIRS). PROBE: check only
# this file, with the compile command of the first LibTorch file (proves the check can fail).
cmake_minimum_required(VERSION 3.22)

foreach(var COMPILE_COMMANDS STANDIN TORCH_DIRS WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_includes.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT JOBS)
  set(JOBS 2)
endif()
set(marker "torch/csrc/api/include")
get_filename_component(STANDIN "${STANDIN}" ABSOLUTE)
string(REGEX REPLACE "([][+.*?()^$|\\])" "\\\\\\1" standin_re "${STANDIN}")
if(NOT EXISTS "${COMPILE_COMMANDS}")
  message(FATAL_ERROR "include check: ${COMPILE_COMMANDS} not found (configure the build first; "
                      "CMAKE_EXPORT_COMPILE_COMMANDS is on)")
endif()

# LibTorch's own headers: its include folders' ATen/, c10/, caffe2/, torch/ (and its fmt/ when it
# bundles one).
string(REPLACE "|" ";" torch_dirs "${TORCH_DIRS}")
set(torch_prefixes "")
foreach(d ${torch_dirs})
  foreach(sub ATen c10 caffe2 torch fmt kineto)
    list(APPEND torch_prefixes "${d}/${sub}/")
  endforeach()
endforeach()

file(READ "${COMPILE_COMMANDS}" json)
string(JSON count LENGTH "${json}")
math(EXPR last "${count} - 1")
set(tus "")
set(commands "")
set(dirs "")
foreach(i RANGE ${last})
  string(JSON file GET "${json}" ${i} file)
  string(JSON dir GET "${json}" ${i} directory)
  string(JSON cmd ERROR_VARIABLE no_command GET "${json}" ${i} command)
  if(no_command)  # generators that write "arguments" instead
    string(JSON n LENGTH "${json}" ${i} arguments)
    math(EXPR n_last "${n} - 1")
    set(cmd "")
    foreach(a RANGE ${n_last})
      string(JSON arg GET "${json}" ${i} arguments ${a})
      string(APPEND cmd " '${arg}'")
    endforeach()
  endif()
  string(FIND "${cmd}" "${marker}" at)
  if(at LESS 0)
    continue()
  endif()
  if(PROBE)
    if(file MATCHES "cmake_pch\\.hxx\\.cxx$")  # a precompiled header's own command: not a model
      continue()
    endif()
    get_filename_component(PROBE "${PROBE}" ABSOLUTE)
    string(REPLACE "${file}" "${PROBE}" cmd "${cmd}")
    set(file "${PROBE}")
  endif()
  # Preprocess only (directives only: #include, #if, #error, no macro expansion of the text; a
  # third of the time), into nothing, with the stand-ins first. The precompiled-header flags stay:
  # GCC uses the built .gch with -E too, or reads cmake_pch.hxx as text where there is none yet;
  # either way the file's own includes are all followed.
  string(REGEX REPLACE " -o +[^ ]+" " -o /dev/null" cmd "${cmd}")
  string(STRIP "${cmd}" cmd)
  string(FIND "${cmd}" " " space)  # after the compiler (REGEX REPLACE's ^ would match each word)
  string(SUBSTRING "${cmd}" 0 ${space} compiler)
  string(SUBSTRING "${cmd}" ${space} -1 rest)
  set(cmd "${compiler} -I${STANDIN} -E -fdirectives-only${rest}")
  list(APPEND tus "${file}")
  list(APPEND commands "${cmd}")
  list(APPEND dirs "${dir}")
  if(PROBE)
    break()
  endif()
endforeach()
list(LENGTH tus n_tus)
if(n_tus EQUAL 0)
  message(FATAL_ERROR "include check: no compile command in ${COMPILE_COMMANDS} names ${marker}: "
                      "is LibTorch's include folder spelled differently?")
endif()

# One small shell script per file, run JOBS at a time.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(list_text "")
math(EXPR tu_last "${n_tus} - 1")
foreach(k RANGE ${tu_last})
  list(GET commands ${k} cmd)
  list(GET dirs ${k} dir)
  file(WRITE "${WORK_DIR}/tu${k}.sh" "cd '${dir}' || exit 1\n${cmd} 2> '${WORK_DIR}/tu${k}.err'\n")
  string(APPEND list_text "${WORK_DIR}/tu${k}.sh\n")
endforeach()
file(WRITE "${WORK_DIR}/list" "${list_text}")
execute_process(COMMAND xargs -P ${JOBS} -n 1 sh INPUT_FILE "${WORK_DIR}/list"
                RESULT_VARIABLE xargs_rc)

# Read each file's messages: a stand-in's #error comes after the chain of files that included it
# ("In file included from A:5," then "from B:3:", innermost first).
set(report "")
set(n_bad 0)
set(n_torch_own 0)
foreach(k RANGE ${tu_last})
  list(GET tus ${k} tu)
  file(STRINGS "${WORK_DIR}/tu${k}.err" lines)
  set(chain "")
  set(first_hit "")
  set(other_error "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^In file included from (.*):[0-9]+[:,]$")
      set(chain "${CMAKE_MATCH_1}")
      set(chain_text "${CMAKE_MATCH_1}")
    elseif(line MATCHES "^ +from (.*):[0-9]+[:,]$")
      string(APPEND chain_text " <- ${CMAKE_MATCH_1}")
    elseif(line MATCHES "^${standin_re}/([^:]+):[0-9]+:[0-9]+: error: #error")
      set(header "${CMAKE_MATCH_1}")
      set(includer "${chain}")
      if(includer STREQUAL "")
        set(includer "${tu}")
        set(chain_text "${tu}")
      endif()
      set(own FALSE)
      foreach(p ${torch_prefixes})
        string(FIND "${includer}" "${p}" at)
        if(at EQUAL 0)
          set(own TRUE)
        endif()
      endforeach()
      if(own)
        math(EXPR n_torch_own "${n_torch_own} + 1")
      elseif(first_hit STREQUAL "")
        set(first_hit "<${header}> via ${chain_text}")
      endif()
      set(chain "")
      set(chain_text "")
    elseif(line MATCHES "error:" AND other_error STREQUAL "")
      set(other_error "${line}")
      set(chain "")
      set(chain_text "")
    elseif(NOT line MATCHES "^ ")
      set(chain "")
      set(chain_text "")
    endif()
  endforeach()
  if(NOT first_hit STREQUAL "")
    math(EXPR n_bad "${n_bad} + 1")
    string(APPEND report "  ${tu}\n    ${first_hit}\n")
  elseif(NOT other_error STREQUAL "")
    math(EXPR n_bad "${n_bad} + 1")
    string(APPEND report "  ${tu}\n    could not be preprocessed: ${other_error}\n")
  endif()
endforeach()

if(n_bad GREATER 0)
  message("${report}")
  message(FATAL_ERROR "include check FAILED: ${n_bad} of ${n_tus} translation unit(s) that see "
                      "LibTorch reach fmt, spdlog or toml++ (listed above with the first include "
                      "chain, innermost first). With PyTorch's LibTorch that fmt is its bundled "
                      "one; format with common/format.h, log with common/log.h, keep TOML in "
                      "common/ (docs/gpu.md).")
endif()
message(STATUS "include check passed: ${n_tus} translation unit(s) that see LibTorch include no "
               "fmt, spdlog or toml++ (${n_torch_own} include(s) of them by LibTorch's own headers "
               "allowed)")
