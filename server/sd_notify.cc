#include "server/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace sink {

SystemdNotifier::SystemdNotifier() {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  if (sock != nullptr && (sock[0] == '/' || sock[0] == '@') &&
      std::strlen(sock) < sizeof(sockaddr_un::sun_path)) {
    path_ = sock;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  if (usec != nullptr) {
    const bool ours = pid == nullptr || std::strtoll(pid, nullptr, 10) == ::getpid();
    const unsigned long long v = std::strtoull(usec, nullptr, 10);
    if (ours && v > 0) watchdog_us_ = v;
  }
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool SystemdNotifier::Notify(const std::string& state) const {
  if (fd_ < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  return ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&addr),
                  len) == static_cast<ssize_t>(state.size());
}

uint64_t SystemdNotifier::MonotonicUs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace sink
