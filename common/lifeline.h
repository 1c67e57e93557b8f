// Lifelines: every rank but 0 holds one TCP connection to rank 0, on which, after a short hello,
// it sends only a heartbeat byte every `beat` (from a thread of its own) and a goodbye when it ends
// in order. When a rank's process ends behind MPI's back -- killed, crashed, every process of its
// node killed -- its kernel closes that connection at once, so rank 0 learns which rank is gone
// within milliseconds, from its own thread, whatever MPI is doing (Open MPI may by then have put
// rank 0's main thread into its own abort for the lost peer, from which it never returns). A node
// that vanishes without closing its connections (power, a dead link) or a stopped process falls
// silent instead: its heartbeats stop, which tells rank 0 whom a stuck collective waits for even
// when that rank had already arrived in it.
#pragma once

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace scouter {

class Lifelines {
 public:
  // Collective over comm. Rank 0 listens on every IPv4 address of its host (loopback last), the
  // others connect to the first that answers with rank 0's nonce. Network trouble never throws:
  // a rank that cannot reach rank 0 goes on without a lifeline (rank 0 lists them: unlinked()).
  // beat: the heartbeat interval (the same on every rank).
  explicit Lifelines(MPI_Comm comm, std::chrono::milliseconds beat = std::chrono::milliseconds(1000));
  ~Lifelines();  // others: stop beating, say goodbye (an orderly end), then close
  Lifelines(const Lifelines&) = delete;
  Lifelines& operator=(const Lifelines&) = delete;

  struct News {
    std::vector<int> gone;   // the connection closed without a goodbye: the process ended
    std::vector<int> heard;  // sent something (a heartbeat, a goodbye)
  };
  // Rank 0: waits up to timeout_ms for news on any lifeline, and returns what came since the last
  // call. Other ranks: sleeps timeout_ms, returns nothing.
  News poll(int timeout_ms);
  // Rank 0: the ranks without a lifeline (could not connect).
  const std::vector<int>& unlinked() const { return unlinked_; }

 private:
  int rank_ = 0, size_ = 1;
  std::vector<int> fds_;  // rank 0: the connection of each rank (-1: none); others: [0] to rank 0
  std::vector<int> unlinked_;
  std::vector<char> said_goodbye_;  // rank 0: the rank's process is ending in order
  // Others: the heartbeat thread.
  std::thread beat_thread_;
  std::mutex beat_mu_;
  std::condition_variable beat_cv_;
  bool beat_end_ = false;
};

}  // namespace scouter
