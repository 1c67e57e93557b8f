#include "common/step_hold.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/stop_signal.h"
#include "common/text.h"

namespace scouter {
namespace {

[[noreturn]] void refuse(const std::string& value, const std::string& item, const std::string& why) {
  const std::string where = item == value ? std::string() : fmt::format(" (in '{}')", item);
  throw UserError(fmt::format("{}='{}': {}{}", StepHolds::kVariable, value, why, where),
                  fmt::format("the test hook's form is RANK:STEP[.MICRO]:FILE[,...], e.g. "
                              "{}=1:40:/tmp/release holds rank 1 before global step 40 until "
                              "/tmp/release exists (docs/testing.md); unset it for a normal run",
                              StepHolds::kVariable));
}

std::string this_host() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "host";
  return host;
}

}  // namespace

StepHolds StepHolds::parse(const std::string& value, int world) {
  StepHolds holds;
  if (value.empty()) return holds;
  for (const std::string& item : split(value, ',')) {
    const size_t a = item.find(':');
    const size_t b = a == std::string::npos ? a : item.find(':', a + 1);
    if (b == std::string::npos) refuse(value, item, "not RANK:STEP:FILE");
    const auto rank = parse_int(item.substr(0, a));
    const std::string step_text = item.substr(a + 1, b - a - 1);
    const size_t dot = step_text.find('.');
    const auto step = parse_int(step_text.substr(0, dot));
    const auto micro = dot == std::string::npos ? std::optional<int64_t>(0)
                                                : parse_int(step_text.substr(dot + 1));
    StepHold h;
    h.file = item.substr(b + 1);
    if (!rank || *rank < 0) refuse(value, item, "RANK is not a whole number >= 0");
    if (*rank >= world)
      refuse(value, item, fmt::format("rank {} does not exist in this run of {} rank{}", *rank,
                                      world, world == 1 ? "" : "s"));
    if (!step || *step < 0) refuse(value, item, "STEP is not a whole number >= 0");
    if (!micro || *micro < 0) refuse(value, item, "MICRO (after STEP's dot) is not a whole number >= 0");
    if (h.file.empty()) refuse(value, item, "FILE is empty");
    h.rank = static_cast<int>(*rank);
    h.step = *step;
    h.micro = *micro;
    holds.holds_.push_back(std::move(h));
  }
  return holds;
}

StepHolds StepHolds::from_env(int world) {
  const char* v = std::getenv(kVariable);
  return parse(v == nullptr ? std::string() : std::string(v), world);
}

HoldRelease StepHolds::before_step(int rank, int64_t global_step, int64_t epoch,
                                   int64_t step_in_epoch, int64_t micro_batch, int poll_ms) const {
  HoldRelease release;
  for (const StepHold& h : holds_) {
    if (h.rank != rank || h.step != global_step || h.micro != micro_batch) continue;
    release.held = true;
    write_text_file_atomic(h.file + ".held",
                           fmt::format("host={}\npid={}\nrank={}\nepoch={}\nstep_in_epoch={}\nstep={}\nmicro={}\n",
                                       this_host(), ::getpid(), rank, epoch, step_in_epoch,
                                       global_step, micro_batch));
    log::warn("{}: held before step {}{} (epoch {}, its step {}) until {} exists or a stop signal "
              "comes", kVariable, global_step,
              micro_batch == 0 ? std::string() : fmt::format(", micro-batch {}", micro_batch), epoch,
              step_in_epoch + 1, h.file);
    while (!file_exists(h.file) && stop_requested() == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    release.signal = file_exists(h.file) ? 0 : stop_requested();
    log::warn("{}: released before step {} by {}", kVariable, global_step,
              release.signal != 0 ? std::string(signal_name(release.signal)) : h.file);
  }
  return release;
}

}  // namespace scouter
