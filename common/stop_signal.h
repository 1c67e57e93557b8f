// SIGTERM and SIGUSR1 (what Slurm sends before a time limit or a preemption), SIGINT (Ctrl-C)
// and SIGHUP (a closed terminal) turned into a request to stop: the trainer checks it after every
// step (agreeing across ranks), finishes the step, writes a checkpoint and exits with
// kExitRequeue. `scouter train` installs the handlers first thing, so a signal that arrives while
// the run is still starting ends the same way once the first step is done.
#pragma once

namespace scouter {

// Installs the handlers (idempotent). A second signal of the same kind keeps the request.
void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_requested();
// Forgets a request (tests, and a new run in the same process).
void clear_stop_request();
const char* signal_name(int signal);

}  // namespace scouter
