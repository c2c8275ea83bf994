// What the dashboard (GET /, dashboard/ in the source tree) needs from the
// running sink beyond its database: the page's files, compiled in, and the
// ingest traffic of the last minutes, which no table records.
//
// DashboardState samples the request counters every kStepMs on a thread of
// its own, from construction until destruction. Thread-safe: TrafficJson()
// may be called from any thread.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sink {

// One file of the page, compiled in from dashboard/ by dashboard/embed_assets.cmake.
struct DashboardAsset {
  std::string_view path;  // URL path: "/" for the page, "/assets/…" for the rest
  std::string_view content_type;
  std::string_view body;
};
const std::vector<DashboardAsset>& DashboardAssets();

// Cumulative counters at one instant.
struct TrafficCounters {
  int64_t at_ms = 0;     // sink clock
  uint64_t events = 0;   // events accepted (committed, distinct)
  uint64_t ok = 0;       // POST /events… answered 2xx
  uint64_t client = 0;   // … 4xx
  uint64_t refused = 0;  // … 503
  uint64_t other = 0;    // … anything else (500)
};

class DashboardState {
 public:
  // Sampling step and how many steps are kept: ten minutes of history.
  static constexpr int64_t kStepMs = 5000;
  static constexpr size_t kSteps = 120;

  // `read` returns the counters now; it is called on the sampling thread
  // (first at construction) and from TrafficJson().
  explicit DashboardState(std::function<TrafficCounters()> read);
  ~DashboardState();  // stops and joins the sampling thread
  DashboardState(const DashboardState&) = delete;
  DashboardState& operator=(const DashboardState&) = delete;

  // {"step_ms":N,"points":[{"t","ms","events","2xx","4xx","503","other"},…]}:
  // one point per step (start time t, length ms, counts within it), oldest
  // first; the last point is the step in progress, up to now.
  std::string TrafficJson() const;

 private:
  void Run();

  std::function<TrafficCounters()> read_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                     // guarded by mu_
  std::vector<TrafficCounters> samples_;  // guarded by mu_; at most kSteps + 1, oldest first
  std::thread thread_;
};

}  // namespace sink
