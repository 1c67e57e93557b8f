// What every libFuzzer harness of tests/fuzz/ shares: the input written to a file of a private
// temporary folder (for parsers that take a path), and the rule that the project's documented
// errors are answers while anything else is a finding. A harness calls expect_clean_error()
// around the parser: UserError (and the extra types it names, e.g. BadImage) return normally;
// any other exception prints its type and message and aborts, which libFuzzer reports as a crash
// and saves the input. Crashes, sanitizer reports, timeouts and memory over -rss_limit_mb are
// libFuzzer's own findings (docs/testing.md "Sanitizers and fuzzing").
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

#include <cxxabi.h>
#include <unistd.h>

#include "common/error.h"
#include "common/h5.h"
#include "common/log.h"

namespace scouter::fuzz {

// A folder of this process under $TMPDIR (or /tmp), removed at exit.
inline const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/scouter-fuzz-XXXXXX";
    if (!mkdtemp(templ.data())) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(work_dir(), ec); });
    return std::filesystem::path(templ);
  }();
  return dir;
}

// For LLVMFuzzerInitialize: no log lines and no HDF5 error stacks on stderr for every input (the
// errors still reach the harness as exceptions). An old-format HDF5 input is probed in a child
// (common/h5.h probe_unchecked) for 3 s at most, well inside libFuzzer's -timeout.
inline void quiet() {
  init_logging(0, "off");
  h5::silence_library_errors();
  ::setenv("SCOUTER_HDF5_PROBE_SECONDS", "3", 1);
}

// Writes the input to work_dir()/name (replacing it) and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::filesystem::path p = work_dir() / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
  return p.string();
}

inline std::string type_name(const std::type_info& t) {
  int status = 0;
  char* name = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string s = status == 0 && name ? name : t.name();
  std::free(name);
  return s;
}

[[noreturn]] inline void unexpected(const std::string& what) {
  std::fprintf(stderr, "fuzz: unexpected %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs f(); UserError and each of Allowed... are expected answers to bad bytes.
template <typename... Allowed, typename F>
void expect_clean_error(F&& f) {
  try {
    try {
      f();
    } catch (const UserError&) {
      return;
    }
  } catch (const std::exception& e) {
    if ((dynamic_cast<const Allowed*>(&e) || ...)) return;
    unexpected("exception " + type_name(typeid(e)) + ": " + e.what());
  } catch (...) {
    unexpected("exception of a non-std type");
  }
}

}  // namespace scouter::fuzz
