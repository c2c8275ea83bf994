// systemd's notification protocol (sd_notify(3)), for Type=notify units:
// one datagram of "KEY=VALUE" lines to the AF_UNIX socket named by
// $NOTIFY_SOCKET (a path, or an abstract name starting with '@'). Written
// here rather than linked from libsystemd: it is these few lines, needs no
// library at run time, and behaves the same in a container without systemd.
// Without $NOTIFY_SOCKET every call does nothing.
#pragma once

#include <cstdint>
#include <string>

namespace sink {

class SystemdNotifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID once.
  SystemdNotifier();
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // Sends `state` ("READY=1\nSTATUS=..."); false when it could not be sent.
  bool Notify(const std::string& state) const;
  // The interval at which WATCHDOG=1 is due (half of WatchdogSec=), in
  // microseconds; 0 when the watchdog is off for this process.
  uint64_t watchdog_interval_us() const { return watchdog_us_ / 2; }

  // Monotonic clock in microseconds (what RELOADING=1's MONOTONIC_USEC wants).
  static uint64_t MonotonicUs();

 private:
  int fd_ = -1;
  std::string path_;
  uint64_t watchdog_us_ = 0;
};

}  // namespace sink
