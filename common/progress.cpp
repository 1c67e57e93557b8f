#include "common/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "common/log.h"

namespace scouter {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "--:--";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{:02d}:{:02d}", s / 60, s % 60);
}

namespace {
double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled,
                   double plain_interval_s)
    : Progress(std::move(label), total, std::move(unit), enabled, plain_interval_s,
               stderr_is_terminal(), steady_seconds) {}

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled,
                   double plain_interval_s, bool terminal, Clock now)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(enabled),
      terminal_(terminal),
      plain_interval_s_(plain_interval_s),
      now_(std::move(now)),
      start_(now_()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (enabled_ && !finished_ && terminal_ && done_ > 0) std::fputs("\n", stderr);
}

double Progress::elapsed_s() const { return now_() - start_; }

void Progress::advance(int64_t n, const std::string& status) {
  done_ += n;
  if (!enabled_) return;
  if (!status.empty()) status_ = status;
  if (due()) {
    last_draw_ = now_();
    draw(false);
  }
}

bool Progress::due() const {
  if (!enabled_) return false;
  return since_last_draw() >= (terminal_ ? 0.1 : plain_interval_s_);
}

void Progress::finish(const std::string& status) {
  if (!enabled_ || finished_) return;
  finished_ = true;
  if (!status.empty()) status_ = status;
  draw(true);
}

void Progress::draw(bool final_line) {
  double t = elapsed_s();
  double rate = t > 0 ? done_ / t : 0.0;
  double eta = (rate > 0 && total_ > 0) ? (total_ - done_) / rate : -1;
  double frac = total_ > 0 ? std::min(1.0, static_cast<double>(done_) / total_) : 0.0;
  std::string tail = fmt::format("{}/{} {:.1f} {}/s {} ETA {}{}{}", done_, total_, rate, unit_,
                                 format_duration(t), final_line ? "00:00" : format_duration(eta),
                                 status_.empty() ? "" : " ", status_);
  if (terminal_) {
    constexpr int kWidth = 28;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::fprintf(stderr, "\r\033[2K%s [%s] %3.0f%% %s%s", label_.c_str(), bar.c_str(),
                 frac * 100, tail.c_str(), final_line ? "\n" : "");
    std::fflush(stderr);
  } else {
    spdlog::info("{} {:.0f}% {}", label_, frac * 100, tail);
  }
}

}  // namespace scouter
