// Deliberately bad, and part of no build: a LibTorch-side file whose header includes fmt. The
// CTest include_check_catches_fmt runs the include check on this file alone (with a LibTorch
// file's compile command) and passes only if the check fails, naming this file and the chain.
#include "bad_header.h"

int bad_tu_answer() { return 42; }
