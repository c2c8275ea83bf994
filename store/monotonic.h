// Elapsed time for deadlines and timeouts: a steady clock that no clock
// change moves (not the sink's Clock of store/clock.h, which tells the
// time of day events are stamped with).
#pragma once

#include <chrono>
#include <cstdint>

namespace sink {

// Milliseconds on the steady clock (since an arbitrary start).
inline int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace sink
