// Progress of a long loop: a bar with rate and ETA on a terminal, plain periodic log lines
// otherwise (batch jobs). Disabled instances (ranks other than 0) cost nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace scouter {

class Progress {
 public:
  // total: units to do (images, files). unit: what the rate counts ("img", "file").
  // plain_interval_s: seconds between plain lines when not on a terminal.
  Progress(std::string label, int64_t total, std::string unit, bool enabled,
           double plain_interval_s = 30.0);
  // A clock: seconds since any fixed point.
  using Clock = std::function<double()>;
  // As above with the clock and the output kind given (tests: a clock they advance; terminal
  // true draws the bar, false the plain lines, whatever stderr is).
  Progress(std::string label, int64_t total, std::string unit, bool enabled,
           double plain_interval_s, bool terminal, Clock now);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Adds n units done; status is appended to the line (e.g. "loss 0.312").
  void advance(int64_t n, const std::string& status = {});
  // True when the next advance() will draw a line: a caller whose status costs something (a read
  // from the GPU) computes it only then.
  bool due() const;
  // Ends the bar (newline on a terminal, a last plain line otherwise).
  void finish(const std::string& status = {});

  double elapsed_s() const;
  int64_t done() const { return done_; }

 private:
  void draw(bool final_line);
  double since_last_draw() const { return now_() - last_draw_; }

  std::string label_;
  int64_t total_;
  std::string unit_;
  bool enabled_;
  bool terminal_;
  double plain_interval_s_;
  int64_t done_ = 0;
  std::string status_;
  bool finished_ = false;
  Clock now_;
  double start_;
  double last_draw_;
};

// "1:02:03" or "02:03".
std::string format_duration(double seconds);

}  // namespace scouter
