#include "common/lifeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "common/mpi_env.h"

namespace scouter {
namespace {

constexpr int kMaxAddresses = 16;
constexpr int kConnectMs = 1000;   // per address of rank 0 tried
constexpr int kHandshakeMs = 2000;  // hello and its answer

struct Announcement {
  uint64_t nonce = 0;
  uint32_t port = 0;  // network order
  uint32_t count = 0;
  uint32_t address[kMaxAddresses] = {};  // IPv4, network order; loopback last
};

struct Hello {
  uint64_t nonce;
  int32_t rank;
  int32_t pad;
};

void set_timeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void set_blocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); }

// Every IPv4 address of this host that is up, loopback last (it reaches rank 0 only from its own
// host; a rank elsewhere finds nothing there, or another job that does not know our nonce).
std::vector<uint32_t> host_addresses() {
  std::vector<uint32_t> outside, loopback;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {htonl(INADDR_LOOPBACK)};
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET || !(a->ifa_flags & IFF_UP)) continue;
    uint32_t ip = reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr;
    ((a->ifa_flags & IFF_LOOPBACK) ? loopback : outside).push_back(ip);
  }
  freeifaddrs(list);
  outside.insert(outside.end(), loopback.begin(), loopback.end());
  if (outside.size() > kMaxAddresses) outside.resize(kMaxAddresses);
  return outside;
}

// A rank other than 0: the first of rank 0's addresses that connects and answers the hello with
// the nonce; -1 if none does.
int connect_to_root(const Announcement& a, int rank) {
  for (uint32_t i = 0; i < a.count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = static_cast<in_port_t>(a.port);
    to.sin_addr.s_addr = a.address[i];
    bool up = connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
    if (!up && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      up = ::poll(&p, 1, kConnectMs) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    if (up) {
      set_blocking(fd);
      set_timeouts(fd, kHandshakeMs);
      Hello hello{a.nonce, rank, 0};
      uint64_t answer = 0;
      if (send(fd, &hello, sizeof hello, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof hello) &&
          recv(fd, &answer, sizeof answer, MSG_WAITALL) == static_cast<ssize_t>(sizeof answer) &&
          answer == a.nonce)
        return fd;
    }
    close(fd);
  }
  return -1;
}

}  // namespace

Lifelines::Lifelines(MPI_Comm comm, std::chrono::milliseconds beat) {
  MPI_CHECK(MPI_Comm_rank(comm, &rank_));
  MPI_CHECK(MPI_Comm_size(comm, &size_));
  if (size_ == 1) return;
  Announcement a;
  int listen_fd = -1;
  if (rank_ == 0) {
    // One connection per rank: at thousands of ranks the default 1024 descriptors are too few.
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof any;
    if (listen_fd >= 0 && bind(listen_fd, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0 &&
        listen(listen_fd, std::min(size_, SOMAXCONN)) == 0 &&
        getsockname(listen_fd, reinterpret_cast<sockaddr*>(&any), &len) == 0) {
      std::vector<uint32_t> addresses = host_addresses();
      a.nonce = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
      a.port = any.sin_port;
      a.count = static_cast<uint32_t>(addresses.size());
      std::copy(addresses.begin(), addresses.end(), a.address);
    }
  }
  MPI_CHECK(MPI_Bcast(&a, sizeof a, MPI_BYTE, 0, comm));

  // Rank 0 answers hellos until every rank has said (in the gather) whether it got through.
  int linked = 1;
  std::vector<int> all(rank_ == 0 ? static_cast<size_t>(size_) : 0);
  if (rank_ == 0) {
    fds_.assign(static_cast<size_t>(size_), -1);
    said_goodbye_.assign(static_cast<size_t>(size_), 0);
  } else {
    int fd = a.count > 0 ? connect_to_root(a, rank_) : -1;
    fds_.assign(1, fd);
    linked = fd >= 0;
  }
  MPI_Request gathered;
  MPI_CHECK(MPI_Igather(&linked, 1, MPI_INT, all.data(), 1, MPI_INT, 0, comm, &gathered));
  while (true) {
    int done = 0;
    MPI_CHECK(MPI_Test(&gathered, &done, MPI_STATUS_IGNORE));
    if (done) break;
    if (rank_ != 0 || listen_fd < 0) {
      usleep(1000);
      continue;
    }
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 5) != 1) continue;
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    set_timeouts(fd, kHandshakeMs);
    Hello hello{};
    if (recv(fd, &hello, sizeof hello, MSG_WAITALL) == static_cast<ssize_t>(sizeof hello) &&
        hello.nonce == a.nonce && hello.rank > 0 && hello.rank < size_ &&
        fds_[static_cast<size_t>(hello.rank)] < 0 &&
        send(fd, &a.nonce, sizeof a.nonce, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof a.nonce)) {
      fds_[static_cast<size_t>(hello.rank)] = fd;
    } else {
      close(fd);
    }
  }
  if (listen_fd >= 0) close(listen_fd);
  for (int r = 1; rank_ == 0 && r < size_; ++r)
    if (!all[static_cast<size_t>(r)] || fds_[static_cast<size_t>(r)] < 0) unlinked_.push_back(r);
  if (rank_ != 0 && fds_[0] >= 0) {
    // Never blocks: a heartbeat that does not fit the socket's buffer (rank 0 unreachable for
    // minutes) is dropped; rank 0 notices the silence either way.
    beat_thread_ = std::thread([this, fd = fds_[0], beat] {
      std::unique_lock<std::mutex> lock(beat_mu_);
      while (!beat_cv_.wait_for(lock, beat, [this] { return beat_end_; })) {
        const char heartbeat = 'H';
        (void)send(fd, &heartbeat, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    });
  }
}

Lifelines::~Lifelines() {
  if (beat_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(beat_mu_);
      beat_end_ = true;
    }
    beat_cv_.notify_one();
    beat_thread_.join();
  }
  if (rank_ != 0 && !fds_.empty() && fds_[0] >= 0) {
    const char goodbye = 'B';
    (void)send(fds_[0], &goodbye, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  for (int fd : fds_)
    if (fd >= 0) close(fd);
}

Lifelines::News Lifelines::poll(int timeout_ms) {
  News news;
  std::vector<pollfd> watched;
  std::vector<int> rank_of;
  for (int r = 1; rank_ == 0 && r < size_; ++r) {
    if (fds_[static_cast<size_t>(r)] < 0) continue;
    watched.push_back({fds_[static_cast<size_t>(r)], POLLIN, 0});
    rank_of.push_back(r);
  }
  if (watched.empty()) {
    usleep(static_cast<useconds_t>(timeout_ms) * 1000);
    return news;
  }
  if (::poll(watched.data(), watched.size(), timeout_ms) <= 0) return news;
  for (size_t i = 0; i < watched.size(); ++i) {
    if (watched[i].revents == 0) continue;
    char bytes[256];  // heartbeats ('H') and a goodbye ('B'); a poll every few ms finds a few
    ssize_t n = recv(watched[i].fd, bytes, sizeof bytes, MSG_DONTWAIT);
    size_t r = static_cast<size_t>(rank_of[i]);
    if (n > 0) {
      news.heard.push_back(rank_of[i]);
      if (std::find(bytes, bytes + n, 'B') != bytes + n) said_goodbye_[r] = 1;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    close(watched[i].fd);
    fds_[r] = -1;
    if (!said_goodbye_[r]) news.gone.push_back(rank_of[i]);
  }
  return news;
}

}  // namespace scouter
