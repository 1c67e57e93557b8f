// scouter: preprocessing, training and explanation of SCOUTER models (see README.md).
#include <unistd.h>

#include <cstring>

#include "launcher/cli.h"

namespace {

// OpenMP threads that wait at a barrier spin for up to GOMP_SPINCOUNT iterations (libgomp's
// default 300000, about a millisecond) before they sleep. With every core busy (our loader
// thread, another job on the node) the spinning threads take the cores from the thread that
// everyone waits for: on a 2-core VM the FC quickstart fell from ~670 to ~70 img/s next to three
// busy processes (docs/speed.md, "Sharing the cores"). A bounded spin keeps most of the wake-up
// speed when the cores are free and gives them up quickly when they are not.
//
// libgomp reads the variable once, in its initialiser, before main(); and setenv() before libc's
// own initialiser is lost (libc then sets environ from the stack again). So this runs from
// .preinit_array, which the dynamic loader calls after relocation but before any library's
// initialiser, and, when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, executes this
// same program again with GOMP_SPINCOUNT added to its environment: the second start loads the
// libraries again (tens of milliseconds), none of their initialisers has run yet. If that fails,
// the program simply goes on with libgomp's default.
constexpr char kSpinCount[] = "GOMP_SPINCOUNT=10000";
constexpr int kMaxEnv = 4096;

bool has_variable(char** envp, const char* name) {
  const size_t n = std::strlen(name);
  for (char** e = envp; e && *e; ++e)
    if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') return true;
  return false;
}

void bound_openmp_spinning(int, char** argv, char** envp) {
  if (has_variable(envp, "OMP_WAIT_POLICY") || has_variable(envp, "GOMP_SPINCOUNT")) return;
  static char* env[kMaxEnv + 2];
  int n = 0;
  for (char** e = envp; e && *e; ++e) {
    if (n == kMaxEnv) return;
    env[n++] = *e;
  }
  env[n++] = const_cast<char*>(kSpinCount);
  env[n] = nullptr;
  ::execve("/proc/self/exe", argv, env);  // returns only on failure: carry on as we are
}

__attribute__((section(".preinit_array"), used)) void (*const preinit_openmp)(int, char**, char**) =
    bound_openmp_spinning;

}  // namespace

int main(int argc, char** argv) { return scouter::run_cli(argc, argv); }
