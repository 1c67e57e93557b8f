// Errors the project throws. A UserError is something the user can fix (bad key, bad file):
// it carries one line saying what and where, plus a hint saying what is valid. Everything
// else is an Error with the failing expression and file:line. main() catches both, logs one line
// and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace scouter {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UserError : public Error {
 public:
  UserError(const std::string& what, std::string hint = {})
      : Error(what), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

// Process exit codes, documented in the README.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;     // internal error or failed run
constexpr int kExitUsage = 2;       // bad command line, config, or input file
constexpr int kExitRequeue = 3;     // stopped by SIGTERM/SIGUSR1 after writing a checkpoint:
                                    // resubmit with --resume true (job scripts requeue on it)
constexpr int kExitLostRank = 4;    // a collective timed out: a rank died or hangs
constexpr int kExitDiverged = 5;    // the loss or the gradients stopped being finite (NaN/inf):
                                    // training stopped at once, the last finite checkpoint kept

[[noreturn]] void throw_internal(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace scouter

// Internal invariant: throws scouter::Error naming the expression and location. Never for
// validating user input (use UserError with a hint for that).
#define SCOUTER_CHECK(cond, msg)                                        \
  do {                                                                  \
    if (!(cond)) ::scouter::throw_internal(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
