// RequestBudget: one memory budget shared by every POST /events… request in
// flight, from the first byte read to the last commit of its steps. One
// request is bounded by --max-body-bytes and 250,000 items; this bounds them
// all together (--request-memory), so that concurrent maximal batches cannot
// take gigabytes: a request that does not fit is refused with 503 at once,
// never made to wait. Thread-safe. Internal to ingest/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>

namespace sink {

class RequestBudget {
 public:
  explicit RequestBudget(uint64_t bytes) : cap_(bytes) {}

  // What a request with `body_bytes` of decoded body costs, estimated: its
  // parsed events take about 32 times their JSON text for small events (the
  // fields, the copy of each event's text, the steps), while the 250,000
  // item limit caps what the per-item part can add to a large body. Never
  // more than half the budget, so that one maximal batch leaves room for
  // everyone else's small requests.
  uint64_t Cost(uint64_t body_bytes) const {
    const uint64_t est = std::min(body_bytes * 32, body_bytes * 3 + (uint64_t{512} << 20));
    return std::min(est, cap_ / 2);
  }

  // Takes `n` more bytes for a request already holding `held`; false (and
  // nothing taken) when they do not fit, unless nothing else is in flight.
  // A large request (more than an eighth of the budget) must leave a quarter
  // of it free: a few big batches never crowd out the small requests.
  bool Take(uint64_t held, uint64_t n) {
    const uint64_t limit = held + n > cap_ / 8 ? cap_ - cap_ / 4 : cap_;
    std::lock_guard<std::mutex> lock(mu_);
    if (used_ + n > limit && used_ != held) return false;
    used_ += n;
    return true;
  }
  // Returns `n` bytes; true when nothing is in flight any more.
  bool Give(uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    used_ -= std::min(used_, n);
    return used_ == 0;
  }
  uint64_t used() const {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }
  uint64_t cap() const { return cap_; }

 private:
  const uint64_t cap_;
  mutable std::mutex mu_;
  uint64_t used_ = 0;  // guarded by mu_
};

}  // namespace sink
