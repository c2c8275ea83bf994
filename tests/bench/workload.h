// Workload: realistic Flussonic event streams for the benchmarks.
//
// One Workload is one simulated media server. It keeps a population of open
// play sessions; each event goes to a random open session and is the next
// step of its lifecycle: opened, authorized, started, then updated (bytes
// growing), sometimes stalled and recovered, and finally closed, when a new
// session takes its place. Event bodies are ~300 bytes, like Flussonic's.
// Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace sink::bench {

struct WorkloadOptions {
  std::string server = "edge-1";
  int64_t open_sessions = 10000;  // population of this server
  int updates_per_session = 20;   // updated events before the close
  double stall_probability = 0.02;
  int64_t start_ms = 1767225600000;  // event clock (ms), advances 1 ms per event
  uint64_t seed = 1;
  // 0: every event goes to a random open session (the hard case: a batch
  // touches as many sessions as it has events). N > 0: a batch holds N
  // random sessions, each with a run of consecutive events (the easy case).
  int sessions_per_batch = 0;
};

// One generated event, with the fields the storage ceiling writes.
struct GenEvent {
  std::string json;
  std::string name, session_id;
  int64_t utc_ms = 0;
  int64_t bytes = 0;
  int phase = 0;  // 0 opened 1 authorized 2 started 3 updated 4 stalled 5 recovered 6 closed
};

class Workload {
 public:
  explicit Workload(const WorkloadOptions& o);
  GenEvent Next();
  // The next event of the session in slot `k` (of the open population).
  GenEvent NextFor(size_t k);
  // A JSON array of `n` events, the body of one POST.
  std::string Batch(int n, std::vector<GenEvent>* events = nullptr);

 private:
  struct Session {
    std::string id;
    int step = 0;  // events emitted so far
    int64_t bytes = 0;
    bool stalled = false;
    int64_t opened_at = 0;
  };
  Session NewSession();

  WorkloadOptions o_;
  std::mt19937_64 rng_;
  std::vector<Session> open_;
  int64_t clock_;
  int64_t serial_ = 0;
  int64_t event_id_ = 0;
};

// Audience: one media server's viewers watching in real time, the load a
// sink sees in production. Each open viewer sends `play_updated` every
// `update_interval_ms` (nginx-rtmp's and Flussonic's usual 30 s); watch
// times are exponential with mean `mean_watch_ms`; a viewer who leaves sends
// `play_closed` and is replaced at once by a new one (`play_opened`,
// `play_authorized`, `play_started`), so the count stays steady; a share of
// the updates are stalls (`play_stalled`, then `play_recovered` at the next
// update). Event times are the wall clock. Not thread-safe: one per thread.
struct AudienceOptions {
  std::string server = "edge-1";
  int64_t viewers = 10000;
  int64_t update_interval_ms = 30000;
  int64_t mean_watch_ms = 20 * 60 * 1000;
  double stall_probability = 0.02;
  uint64_t seed = 1;
};

class Audience {
 public:
  explicit Audience(const AudienceOptions& o);
  // Warm-up: the opening events of viewers not yet announced, up to `n`
  // events as one batch body; "" once every viewer has been announced.
  // Their updates are then spread over the next update interval.
  std::string WarmupBatch(int n, int64_t* count);
  // The events due by `now_ms` (ms on the steady clock this Audience was
  // built on), up to `n`, as one batch body; "" when none is due.
  std::string DueBatch(int64_t now_ms, int n, int64_t* count);
  // When the earliest event not yet sent was due (-1: none).
  int64_t OldestDueMs() const { return due_.empty() ? -1 : due_.front().first; }

 private:
  struct Viewer {
    std::string id;
    int64_t opened_at = 0;  // wall clock ms
    int64_t leaves_at = 0;  // steady ms
    int64_t bytes = 0;
    bool stalled = false;
  };
  void NewViewer(Viewer* v, int64_t now_ms);
  void Append(std::string* body, const Viewer& v, const char* event, int64_t* count);

  AudienceOptions o_;
  std::mt19937_64 rng_;
  std::vector<Viewer> viewers_;
  // (due steady ms, viewer index), earliest first.
  std::vector<std::pair<int64_t, size_t>> due_;
  size_t announced_ = 0;
  int64_t serial_ = 0;
  int64_t event_id_ = 0;
};

}  // namespace sink::bench
