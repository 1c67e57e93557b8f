// SIGTERM and SIGUSR1, what Slurm sends before a time limit or a preemption, turned into a
// request to stop: the trainer checks it after every step (agreeing across ranks), finishes the
// step, writes a checkpoint and exits with kExitRequeue.
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
