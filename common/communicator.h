// Collectives that never hang silently. Every operation is non-blocking underneath and waited on
// with a deadline (the config's collective_timeout). Each rank tells rank 0 which collective it
// has entered (one integer per collective, on a duplicate communicator), so when a wait expires
// rank 0 names the ranks that never arrived (and their hosts), with the step and the operation, and aborts the
// job; the other ranks give rank 0 a grace period to do so, then abort naming rank 0.
// A launcher that loses a node ends the job long before the timeout (mpirun: SIGTERM, then SIGKILL);
// rank 0 names the missing ranks in that moment from a watchdog thread, because its main thread
// may by then be inside Open MPI's own abort for the lost peer and never return to our code.
// Faster still, a rank whose process ends (killed, crashed, its node's processes killed) is seen
// by rank 0 at once through its lifeline (common/lifeline.h), and rank 0 ends the job naming it.
// A rank whose lifeline's heartbeats stopped (its node or link is down, or it is stopped) is
// named as silent when a wait times out, even when it had arrived in that collective.
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace scouter {

class Lifelines;

class Communicator {
 public:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    int64_t seq = -1;
    std::string what;
    bool done() const { return request == MPI_REQUEST_NULL; }
  };

  // comm is duplicated (the caller keeps its own). timeout_s: deadline of every wait.
  Communicator(MPI_Comm comm, double timeout_s);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return comm_; }
  double timeout_s() const { return timeout_s_; }
  // The training step named in timeout messages.
  void set_step(int64_t step) { step_.store(step); }
  int64_t step() const { return step_.load(); }

  // Blocking with a deadline.
  void barrier(const std::string& what);
  void broadcast(void* data, int64_t bytes, int root, const std::string& what);
  void allreduce(void* data, int64_t count, MPI_Datatype type, MPI_Op op, const std::string& what);
  // Every rank sends `bytes` bytes; root receives size() * bytes, rank order.
  void gather(const void* send, int64_t bytes, void* recv, int root, const std::string& what);
  void send(const void* data, int64_t bytes, int dest, int tag, const std::string& what);
  void recv(void* data, int64_t bytes, int source, int tag, const std::string& what);

  // Non-blocking allreduce (gradient buckets). count must fit an int.
  Pending start_allreduce(void* data, int64_t count, MPI_Datatype type, MPI_Op op,
                          std::string what);
  // Progresses MPI; true when p is complete.
  bool test(Pending& p);
  void wait(Pending& p);

  // Ends the arrival bookkeeping cleanly (a final barrier); call before MPI_Finalize.
  void shutdown();

  [[noreturn]] void abort(int exit_code, const std::string& message);

 private:
  int64_t enter(const std::string& what);  // next collective: number it, tell rank 0
  void wait_request(MPI_Request& request, int64_t seq, const std::string& what);
  void poll_arrivals();
  void reap_sends();
  [[noreturn]] void on_timeout(int64_t seq, const std::string& what);
  // Rank 0: each rank that collective seq waits for: not arrived ("1 on node2 (last seen at step
  // 91)"), gone (its lifeline closed), or arrived but silent (no heartbeat for kSilentAfter: its
  // node or link is down, or it is stopped). missing_locked: watch_mu_ held, arrivals as last polled.
  struct Missing {
    std::string text;
    bool arrived = false;  // it entered the collective, then fell silent
  };
  static std::string describe(const std::vector<Missing>& missing);  // "ranks 1 on node2 (...), ..."
  std::vector<Missing> missing_ranks(int64_t seq);
  std::vector<Missing> missing_locked(int64_t seq) const;
  void watch_for_stop();  // rank 0's watchdog thread
  void stop_watchdog();

  MPI_Comm comm_ = MPI_COMM_NULL, arrive_comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_s_;
  std::atomic<int64_t> step_{0};
  int64_t seq_ = 0;
  bool shut_down_ = false;
  // Rank 0: the last collective each rank announced, and the step of each recent collective
  // (both under watch_mu_, read by the watchdog).
  std::vector<int64_t> last_seq_, recv_buf_;
  std::vector<std::string> hosts_;  // by rank
  std::vector<MPI_Request> recv_req_;
  std::map<int64_t, int64_t> step_of_seq_;
  // Rank 0's watchdog: what the main thread waits for (waiting_seq_ 0: not in a wait), since when.
  std::mutex watch_mu_;
  bool watch_end_ = false;
  std::unique_ptr<Lifelines> lifelines_;
  std::vector<int64_t> gone_step_;  // rank 0: step at which a rank's lifeline closed (-1: alive)
  // Rank 0: when each rank's lifeline last carried something, and rank 0's step then; whether it
  // has a lifeline at all.
  std::vector<Clock::time_point> heard_at_;
  std::vector<int64_t> heard_step_;
  std::vector<char> linked_;
  std::atomic<bool> lost_{false};   // rank 0: a rank is gone; the main thread ends the job
  int64_t waiting_seq_ = 0, waiting_step_ = 0;
  std::string waiting_what_;
  Clock::time_point waiting_since_{};
  std::thread watchdog_;
  // Others: announcements in flight.
  std::deque<std::pair<MPI_Request, std::unique_ptr<int64_t>>> sends_;
};

}  // namespace scouter
