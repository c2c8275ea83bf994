// LogLimit: at most one log line per period for a recurring failure, with
// the number of occurrences the skipped lines would have told.
//
// Not thread-safe: one per thread and kind of failure.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

namespace sink {

class LogLimit {
 public:
  explicit LogLimit(std::chrono::milliseconds period = std::chrono::seconds(10))
      : period_(period) {}

  // True when a line may be logged now; `*skipped` gets the occurrences
  // since the last line that were not logged.
  bool Allow(uint64_t* skipped) {
    *skipped = 0;
    const auto now = std::chrono::steady_clock::now();
    if (logged_ && now < next_) {
      ++skipped_;
      return false;
    }
    logged_ = true;
    next_ = now + period_;
    *skipped = skipped_;
    skipped_ = 0;
    return true;
  }

 private:
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point next_{};
  bool logged_ = false;
  uint64_t skipped_ = 0;
};

// Backoff: when to try a failing operation again, doubling the pause from
// 10 ms up to 5 s; reset by a success.
// " (N more since the last line)", or "" when none was skipped.
inline std::string Skipped(uint64_t n) {
  return n == 0 ? std::string() : " (" + std::to_string(n) + " more since the last line)";
}

class Backoff {
 public:
  void Failed() {
    delay_ = delay_.count() == 0 ? std::chrono::milliseconds(10)
                                 : std::min(delay_ * 2, std::chrono::milliseconds(5000));
    next_ = std::chrono::steady_clock::now() + delay_;
  }
  void Succeeded() { delay_ = std::chrono::milliseconds(0); }
  bool failing() const { return delay_.count() != 0; }
  // True when no failure is pending, or its pause is over.
  bool Due() const { return !failing() || std::chrono::steady_clock::now() >= next_; }
  // How long until Due() (0 when it is).
  std::chrono::milliseconds Remaining() const {
    if (Due()) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(next_ -
                                                                 std::chrono::steady_clock::now()) +
           std::chrono::milliseconds(1);
  }

 private:
  std::chrono::milliseconds delay_{0};
  std::chrono::steady_clock::time_point next_{};
};

}  // namespace sink
