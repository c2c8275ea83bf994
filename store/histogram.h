// LatencyHistogram: counts of observed durations in fixed buckets, for the
// Prometheus histograms of /metrics (commit time, request time).
//
// Thread-safe: Observe() may be called from any thread at once (relaxed
// atomics); a copy is a snapshot, consistent per field but not across fields
// (a concurrent Observe() may be in `count` and not yet in `sum`), which
// Prometheus tolerates. Copyable so that it can sit in a stats struct that is
// returned by value (WriterStats).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sink {

class LatencyHistogram {
 public:
  // Upper bounds (inclusive, seconds) of the buckets: 0.5 ms to 10 s, about
  // three per decade, covering a group commit (ms) and a request that waited
  // for a slow disk or a report (seconds). Past the last: only +Inf.
  static constexpr std::array<double, 15> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram& o) { *this = o; }
  LatencyHistogram& operator=(const LatencyHistogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) {
      counts_[i].store(o.counts_[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    sum_us_.store(o.sum_us_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }

  void Observe(double seconds) {
    size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    const double us = seconds > 0 ? seconds * 1e6 + 0.5 : 0;
    sum_us_.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
  }

  // Observations in bucket i alone (i == kBounds.size(): above the last bound).
  uint64_t BucketCount(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t Count() const {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }
  double SumSeconds() const {
    return static_cast<double>(sum_us_.load(std::memory_order_relaxed)) * 1e-6;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};  // µs: an integer, so additions are exact
};

}  // namespace sink
