#include "common/communicator.h"

#include <fmt/format.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <thread>

#include "common/error.h"
#include "common/lifeline.h"
#include "common/mpi_env.h"
#include "common/stop_signal.h"
#include "common/text.h"

namespace scouter {
namespace {

constexpr int kTagArrive = 7001;
constexpr int64_t kChunk = int64_t{1} << 30;  // MPI counts are ints: move big buffers in pieces
constexpr size_t kStepsRemembered = 4096;
// After a stop signal, a wait that lasts this long names the missing ranks: well inside the 1 s
// Open MPI leaves between SIGTERM and SIGKILL, long enough that a normal stop (every rank
// signalled at once) rarely finds a rank still computing. The watchdog looks every kWatchMs.
constexpr int kStopReportMs = 300;
constexpr int kWatchMs = 20;
// Lifeline heartbeats come every second; a rank unheard for 3 s has stopped or cannot be reached.
constexpr auto kBeat = std::chrono::milliseconds(1000);
constexpr auto kSilentAfter = std::chrono::seconds(3);

using Clock = std::chrono::steady_clock;

// Waits politely: polls (MPI progresses only while polled) and yields the core, so a waiting
// rank neither delays the collective's rounds nor steals time from a computing thread on its
// core; only a wait longer than 20 ms (a straggler, a hang) falls back to short sleeps.
class Backoff {
 public:
  void pause() {
    if (++n_ < 64) return;
    if (Clock::now() - start_ < std::chrono::milliseconds(20)) {
      sched_yield();
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }

 private:
  int n_ = 0;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

Communicator::Communicator(MPI_Comm comm, double timeout_s) : timeout_s_(timeout_s) {
  MPI_CHECK(MPI_Comm_dup(comm, &comm_));
  MPI_CHECK(MPI_Comm_dup(comm, &arrive_comm_));
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
  // Every rank's host, so that a timeout names where the missing ranks ran (a lost node).
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_CHECK(MPI_Get_processor_name(name, &len));
  std::vector<char> all(static_cast<size_t>(size_) * MPI_MAX_PROCESSOR_NAME, '\0');
  MPI_CHECK(MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME,
                       MPI_CHAR, 0, comm_));
  for (int r = 0; rank_ == 0 && r < size_; ++r)
    hosts_.emplace_back(&all[static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME]);
  if (rank_ == 0) {
    last_seq_.assign(static_cast<size_t>(size_), 0);
    recv_buf_.assign(static_cast<size_t>(size_), 0);
    recv_req_.assign(static_cast<size_t>(size_), MPI_REQUEST_NULL);
    for (int r = 1; r < size_; ++r)
      MPI_CHECK(MPI_Irecv(&recv_buf_[static_cast<size_t>(r)], 1, MPI_INT64_T, r, kTagArrive,
                          arrive_comm_, &recv_req_[static_cast<size_t>(r)]));
  }
  lifelines_ = std::make_unique<Lifelines>(comm_, kBeat);
  if (rank_ == 0 && size_ > 1) {
    const std::vector<int>& unlinked = lifelines_->unlinked();
    heard_at_.assign(static_cast<size_t>(size_), Clock::now());
    heard_step_.assign(static_cast<size_t>(size_), 0);
    linked_.assign(static_cast<size_t>(size_), 1);
    for (int r : unlinked) linked_[static_cast<size_t>(r)] = 0;
    if (!unlinked.empty()) {
      std::vector<std::string> names;
      for (int r : unlinked) names.push_back(fmt::format("{} on {}", r, hosts_[static_cast<size_t>(r)]));
      spdlog::warn("no lifeline from rank{} {} (could not reach rank 0 over TCP): if such a rank's "
                   "process dies, the job ends only when a collective times out (collective_timeout "
                   "{:.0f} s) or the launcher ends it",
                   unlinked.size() == 1 ? "" : "s", join(names, ", "), timeout_s_);
    }
    gone_step_.assign(static_cast<size_t>(size_), -1);
    watchdog_ = std::thread([this] { watch_for_stop(); });
  }
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  stop_watchdog();
  if (finalized) return;
  // Unwinding from an error: peers may sit in another collective, so no final barrier here
  // (the caller ends the job with MPI_Abort).
  if (std::uncaught_exceptions() == 0) {
    try {
      if (!shut_down_) shutdown();
    } catch (const std::exception& e) {
      spdlog::warn("communicator shutdown: {}", e.what());
    }
  }
  MPI_Comm_free(&arrive_comm_);
  MPI_Comm_free(&comm_);
}

int64_t Communicator::enter(const std::string& what) {
  int64_t seq = ++seq_;
  if (rank_ == 0) {
    {
      std::lock_guard<std::mutex> lock(watch_mu_);
      last_seq_[0] = seq;
      step_of_seq_[seq] = step_.load();
      if (step_of_seq_.size() > kStepsRemembered) step_of_seq_.erase(step_of_seq_.begin());
    }
    poll_arrivals();
  } else if (size_ > 1) {
    auto value = std::make_unique<int64_t>(seq);
    MPI_Request req;
    MPI_CHECK(MPI_Isend(value.get(), 1, MPI_INT64_T, 0, kTagArrive, arrive_comm_, &req));
    sends_.emplace_back(req, std::move(value));
    reap_sends();
  }
  (void)what;
  return seq;
}

void Communicator::poll_arrivals() {
  for (int r = 1; r < size_; ++r) {
    auto& req = recv_req_[static_cast<size_t>(r)];
    while (req != MPI_REQUEST_NULL) {
      int flag = 0;
      MPI_CHECK(MPI_Test(&req, &flag, MPI_STATUS_IGNORE));
      if (!flag) break;
      {
        std::lock_guard<std::mutex> lock(watch_mu_);
        last_seq_[static_cast<size_t>(r)] = recv_buf_[static_cast<size_t>(r)];
      }
      MPI_CHECK(MPI_Irecv(&recv_buf_[static_cast<size_t>(r)], 1, MPI_INT64_T, r, kTagArrive,
                          arrive_comm_, &req));
    }
  }
}

void Communicator::reap_sends() {
  while (!sends_.empty()) {
    int flag = 0;
    MPI_CHECK(MPI_Test(&sends_.front().first, &flag, MPI_STATUS_IGNORE));
    if (!flag) break;
    sends_.pop_front();
  }
}

void Communicator::wait_request(MPI_Request& request, int64_t seq, const std::string& what) {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s_);
  // Rank 0 tells its watchdog what it waits for, until the wait ends (also by an exception).
  struct Watched {
    Communicator* c;
    Watched(Communicator* comm, int64_t seq, const std::string& what) : c(comm) {
      if (!c->watchdog_.joinable()) return;
      std::lock_guard<std::mutex> lock(c->watch_mu_);
      c->waiting_seq_ = seq;
      c->waiting_step_ = c->step_.load();
      c->waiting_what_ = what;
      c->waiting_since_ = Clock::now();
    }
    ~Watched() {
      if (!c->watchdog_.joinable()) return;
      std::lock_guard<std::mutex> lock(c->watch_mu_);
      c->waiting_seq_ = 0;
    }
  } watched(this, seq, what);
  Backoff backoff;
  while (true) {
    int flag = 0;
    MPI_CHECK(MPI_Test(&request, &flag, MPI_STATUS_IGNORE));
    if (flag) return;
    if (rank_ == 0) poll_arrivals();
    else reap_sends();
    if (lost_.load()) {
      abort(kExitLostRank, fmt::format("ending the job: '{}' at step {} cannot complete without the "
                                       "ranks that are gone (named above)",
                                       what, step_.load()));
    }
    if (Clock::now() > deadline) on_timeout(seq, what);
    backoff.pause();
  }
}

std::vector<Communicator::Missing> Communicator::missing_ranks(int64_t seq) {
  poll_arrivals();
  std::lock_guard<std::mutex> lock(watch_mu_);
  return missing_locked(seq);
}

std::vector<Communicator::Missing> Communicator::missing_locked(int64_t seq) const {
  std::vector<Missing> missing;
  const auto now = Clock::now();
  for (int r = 1; r < size_; ++r) {
    const size_t i = static_cast<size_t>(r);
    const int64_t last = last_seq_[i];
    const int64_t gone = gone_step_.empty() ? -1 : gone_step_[i];
    const std::string& host = hosts_[i];
    if (gone >= 0) {
      missing.push_back({fmt::format("{} on {} (gone at step {}: its process ended, its lifeline to "
                                     "rank 0 closed)", r, host, gone), false});
      continue;
    }
    const bool arrived = last >= seq;
    std::string silence;
    if (!linked_.empty() && linked_[i] && now - heard_at_[i] >= kSilentAfter) {
      const auto silent_s = std::chrono::duration_cast<std::chrono::seconds>(now - heard_at_[i]).count();
      silence = fmt::format("silent for {} s: stopped, or its node or link is down", silent_s);
    }
    if (arrived) {
      if (silence.empty()) continue;
      missing.push_back({fmt::format("{} on {} (last seen at step {}; {})", r, host, heard_step_[i], silence), true});
      continue;
    }
    auto it = step_of_seq_.find(last);
    std::string seen = it == step_of_seq_.end() || last == 0
                           ? "never arrived"
                           : fmt::format("last seen at step {}", it->second);
    missing.push_back({fmt::format("{} on {} ({}{}{})", r, host, seen, silence.empty() ? "" : "; ", silence), false});
  }
  return missing;
}

std::string Communicator::describe(const std::vector<Missing>& missing) {
  std::vector<std::string> t;
  for (const auto& m : missing) t.push_back(m.text);
  return fmt::format("rank{} {}", t.size() == 1 ? "" : "s", join(t, ", "));
}

// A launcher that loses a node (mpirun: its daemon there died) ends the job by signalling the
// other ranks, then kills them a moment later (Open MPI: 1 s), long before collective_timeout.
// Rank 0, stuck in a collective when the signal comes, names in that moment who is missing. This
// runs on its own thread: the lost peer's closed connection may already have put rank 0's main
// thread into Open MPI's abort ("peer process has unexpectedly disconnected"), where it waits to
// be killed and never returns to our code. The arrivals are those the main thread last polled.
void Communicator::watch_for_stop() {
  Clock::time_point signalled{};
  bool signal_reported = false, gone_reported = false;
  while (true) {
    Lifelines::News news = lifelines_->poll(kWatchMs);  // waits up to kWatchMs
    const std::vector<int>& gone = news.gone;
    std::lock_guard<std::mutex> lock(watch_mu_);
    if (watch_end_) return;
    for (int r : gone) gone_step_[static_cast<size_t>(r)] = step_.load();
    for (int r : news.heard) {
      heard_at_[static_cast<size_t>(r)] = Clock::now();
      heard_step_[static_cast<size_t>(r)] = step_.load();
    }
    // A gone rank means no collective can complete again. Say who at once, waiting or not (Open
    // MPI may hold the main thread in its own abort for the lost peer wherever it calls MPI);
    // the main thread ends the job at its next wait, if Open MPI has not already.
    if (!gone.empty() && !gone_reported) {
      std::vector<Missing> missing = missing_locked(waiting_seq_);
      if (waiting_seq_ != 0)
        spdlog::error("'{}' at step {} cannot complete: {}", waiting_what_, waiting_step_, describe(missing));
      else
        spdlog::error("the job cannot go on: {}", describe(missing));
      spdlog::default_logger()->flush();
      gone_reported = true;
      lost_.store(true);
    }
    int signal = stop_requested();
    if (signal == 0 || signal_reported) continue;
    auto now = Clock::now();
    if (signalled == Clock::time_point{}) signalled = now;
    if (waiting_seq_ == 0) continue;
    if (now - std::max(signalled, waiting_since_) < std::chrono::milliseconds(kStopReportMs)) continue;
    signal_reported = true;
    std::vector<Missing> missing = missing_locked(waiting_seq_);
    if (missing.empty() || gone_reported) continue;
    spdlog::warn("{} came while waiting for '{}' at step {}; after {} ms {} still missing "
                 "(if the job ends now, they were lost)",
                 signal_name(signal), waiting_what_, waiting_step_, kStopReportMs, describe(missing));
    spdlog::default_logger()->flush();
  }
}

void Communicator::stop_watchdog() {
  if (!watchdog_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_end_ = true;
  }
  watchdog_.join();  // within kWatchMs
}

void Communicator::on_timeout(int64_t seq, const std::string& what) {
  if (rank_ == 0) {
    std::vector<Missing> missing = missing_ranks(seq), absent, unreachable;
    for (auto& m : missing) (m.arrived ? unreachable : absent).push_back(m);
    std::vector<std::string> parts;
    if (!absent.empty()) parts.push_back(describe(absent) + " did not arrive");
    if (!unreachable.empty()) parts.push_back(describe(unreachable) + " arrived but cannot be reached");
    if (parts.empty())
      parts.push_back("every rank arrived, and no lifeline fell silent; the transport is stuck");
    abort(kExitLostRank, fmt::format("'{}' at step {} timed out after {:.0f} s (collective_timeout): {}",
                                     what, step_.load(), timeout_s_, join(parts, "; ")));
  }
  // Rank 0 knows who is missing; give it time to say so before ending the job from here.
  double grace = std::min(10.0, std::max(1.0, timeout_s_ / 2));
  spdlog::error("'{}' at step {} timed out after {:.0f} s (collective_timeout); waiting {:.0f} s "
                "for rank 0 to name the missing ranks",
                what, step_.load(), timeout_s_, grace);
  std::this_thread::sleep_for(std::chrono::duration<double>(grace));
  abort(kExitLostRank, fmt::format("'{}' at step {}: rank 0 did not report within {:.0f} s, so "
                                   "rank 0 is missing or stuck itself",
                                   what, step_.load(), grace));
}

void Communicator::abort(int exit_code, const std::string& message) {
  spdlog::error("{}", message);
  spdlog::default_logger()->flush();
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this only satisfies [[noreturn]]
}

void Communicator::barrier(const std::string& what) {
  int64_t seq = enter(what);
  MPI_Request req;
  MPI_CHECK(MPI_Ibarrier(comm_, &req));
  wait_request(req, seq, what);
}

void Communicator::broadcast(void* data, int64_t bytes, int root, const std::string& what) {
  auto* p = static_cast<char*>(data);
  for (int64_t off = 0; off < bytes || (bytes == 0 && off == 0); off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, bytes - off));
    int64_t seq = enter(what);
    MPI_Request req;
    MPI_CHECK(MPI_Ibcast(p + off, n, MPI_BYTE, root, comm_, &req));
    wait_request(req, seq, what);
    if (bytes == 0) break;
  }
}

void Communicator::allreduce(void* data, int64_t count, MPI_Datatype type, MPI_Op op,
                             const std::string& what) {
  Pending p = start_allreduce(data, count, type, op, what);
  wait(p);
}

void Communicator::gather(const void* send, int64_t bytes, void* recv, int root,
                          const std::string& what) {
  SCOUTER_CHECK(bytes <= std::numeric_limits<int>::max(), "gather of more than 2 GiB per rank");
  int64_t seq = enter(what);
  MPI_Request req;
  MPI_CHECK(MPI_Igather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes),
                        MPI_BYTE, root, comm_, &req));
  wait_request(req, seq, what);
}

void Communicator::send(const void* data, int64_t bytes, int dest, int tag, const std::string& what) {
  const auto* p = static_cast<const char*>(data);
  for (int64_t off = 0; off < bytes; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, bytes - off));
    MPI_Request req;
    MPI_CHECK(MPI_Isend(p + off, n, MPI_BYTE, dest, tag, comm_, &req));
    wait_request(req, seq_, what);
  }
}

void Communicator::recv(void* data, int64_t bytes, int source, int tag, const std::string& what) {
  auto* p = static_cast<char*>(data);
  for (int64_t off = 0; off < bytes; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, bytes - off));
    MPI_Request req;
    MPI_CHECK(MPI_Irecv(p + off, n, MPI_BYTE, source, tag, comm_, &req));
    wait_request(req, seq_, what);
  }
}

Communicator::Pending Communicator::start_allreduce(void* data, int64_t count, MPI_Datatype type,
                                                    MPI_Op op, std::string what) {
  SCOUTER_CHECK(count <= std::numeric_limits<int>::max(), "allreduce of more than 2^31 elements");
  Pending p;
  p.seq = enter(what);
  p.what = std::move(what);
  MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), type, op, comm_, &p.request));
  return p;
}

bool Communicator::test(Pending& p) {
  if (p.done()) return true;
  int flag = 0;
  MPI_CHECK(MPI_Test(&p.request, &flag, MPI_STATUS_IGNORE));
  return flag != 0;
}

void Communicator::wait(Pending& p) {
  if (p.done()) return;
  wait_request(p.request, p.seq, p.what);
}

void Communicator::shutdown() {
  if (shut_down_) return;
  barrier("shutdown");
  shut_down_ = true;
  if (rank_ == 0) {
    // Every rank has announced the final barrier, so its messages are on their way: take them.
    auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s_);
    Backoff backoff;
    while (true) {
      poll_arrivals();
      std::unique_lock<std::mutex> lock(watch_mu_);
      bool all = std::all_of(last_seq_.begin(), last_seq_.end(), [&](int64_t s) { return s == seq_; });
      lock.unlock();
      if (all || Clock::now() > deadline) break;
      backoff.pause();
    }
    for (auto& req : recv_req_) {
      if (req == MPI_REQUEST_NULL) continue;
      MPI_Cancel(&req);
      MPI_Request_free(&req);
    }
  } else {
    auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s_);
    Backoff backoff;
    while (!sends_.empty() && Clock::now() < deadline) {
      reap_sends();
      backoff.pause();
    }
  }
}

}  // namespace scouter
