// Lifelines: every rank but 0 holds one TCP connection to rank 0 and sends nothing on it after a
// short hello. When a rank's process ends behind MPI's back -- killed, crashed, every process of
// its node killed -- its kernel closes that connection at once, so rank 0 learns which rank is
// gone within milliseconds, from its own thread, whatever MPI is doing (Open MPI may by then have
// put rank 0's main thread into its own abort for the lost peer, from which it never returns).
// A node that vanishes without closing its connections (power, a dead link) is not seen here; the
// collective timeouts name it.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

namespace scouter {

class Lifelines {
 public:
  // Collective over comm. Rank 0 listens on every IPv4 address of its host (loopback last), the
  // others connect to the first that answers with rank 0's nonce. Network trouble never throws:
  // a rank that cannot reach rank 0 goes on without a lifeline (rank 0 lists them: unlinked()).
  explicit Lifelines(MPI_Comm comm);
  ~Lifelines();  // others: say goodbye (an orderly end), then close
  Lifelines(const Lifelines&) = delete;
  Lifelines& operator=(const Lifelines&) = delete;

  // Rank 0: waits up to timeout_ms for a closed lifeline; the ranks whose connection closed since
  // the last call. Other ranks: sleeps timeout_ms, returns nothing.
  std::vector<int> poll(int timeout_ms);
  // Rank 0: the ranks without a lifeline (could not connect).
  const std::vector<int>& unlinked() const { return unlinked_; }

 private:
  int rank_ = 0, size_ = 1;
  std::vector<int> fds_;  // rank 0: the connection of each rank (-1: none); others: [0] to rank 0
  std::vector<int> unlinked_;
  std::vector<char> said_goodbye_;  // rank 0: the rank's process is ending in order
};

}  // namespace scouter
