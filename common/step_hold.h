// Test hook: hold a rank at a training step the test chooses, so a test interrupts a run where it
// means to instead of at a time guessed from one machine's speed (docs/testing.md, "Fault hooks").
// SCOUTER_FAULT_HOLD=RANK:STEP[.MICRO]:FILE[,...]: rank RANK, just before it starts global
// step STEP (with .MICRO, its micro-batch MICRO of accum_steps, counted from 0: inside the step),
// writes FILE.held and waits until FILE exists or a stop signal comes. Unset or empty: nothing
// happens, at no cost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scouter {

struct StepHold {
  int rank = 0;
  // The step as the trainer counts it (TrainState::global_step before the step, the number in
  // "at step N" of timeout and lifeline messages): from 0 over the whole run, continued by a
  // resumed run, so a resumed run that starts past STEP never holds.
  int64_t step = 0;
  int64_t micro = 0;  // the micro-batch of that step (accum_steps > 1), 0: the step's start
  std::string file;  // the release file; the hold writes FILE.held
};

// How a hold ended.
struct HoldRelease {
  bool held = false;  // a hold matched this rank and step
  int signal = 0;     // the stop signal that released it (common/stop_signal.h), 0: FILE appeared
};

class StepHolds {
 public:
  static constexpr const char* kVariable = "SCOUTER_FAULT_HOLD";

  StepHolds() = default;
  // The variable's text; a malformed item, or a rank outside [0, world), is one UserError naming
  // the variable, the item and the valid form.
  static StepHolds parse(const std::string& value, int world);
  static StepHolds from_env(int world);

  bool empty() const { return holds_.empty(); }
  const std::vector<StepHold>& holds() const { return holds_; }

  // Called by the trainer before every micro-batch (with accum_steps = 1: every step). For each
  // hold of (rank, global_step, micro_batch), in the variable's order: writes FILE.held atomically
  // ("host=H\npid=P\nrank=R\nepoch=E\nstep_in_epoch=K\nstep=S\nmicro=M\n"; epoch counted from 1
  // as the logs count it, K the steps of that epoch already done), logs a warning, then polls
  // every poll_ms until FILE exists or a stop
  // request (SIGTERM, SIGUSR1, ...) is pending. A stop request releases the hold, so a signalled
  // job stops after exactly this step (the trainer's stop check ends it), and no job sits
  // held until the scheduler's SIGKILL. Everything else goes on meanwhile: the lifeline's
  // heartbeats, and the other ranks' collective_timeout, which still ends a hold kept too long.
  HoldRelease before_step(int rank, int64_t global_step, int64_t epoch, int64_t step_in_epoch,
                          int64_t micro_batch = 0, int poll_ms = 20) const;

 private:
  std::vector<StepHold> holds_;
};

}  // namespace scouter
