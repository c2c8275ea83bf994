#include "tests/bench/workload.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

namespace sink::bench {

namespace {

// A uuid-shaped session id: random, with the serial in its last group so
// that ids never repeat.
std::string Uuid(uint64_t r, int64_t serial) {
  char id[64];
  std::snprintf(
      id, sizeof id, "%08llx-%04llx-4%03llx-8%03llx-%012llx",
      static_cast<unsigned long long>(r >> 32), static_cast<unsigned long long>((r >> 16) & 0xffff),
      static_cast<unsigned long long>(r & 0xfff), static_cast<unsigned long long>(serial & 0xfff),
      static_cast<unsigned long long>(serial));
  return id;
}

// One play event in Flussonic's format, ~330 bytes like a real one.
std::string PlayEventJson(const char* event, int64_t event_id, int64_t utc_ms,
                          const std::string& server, const std::string& id, int64_t opened_at,
                          uint64_t ip_c, uint64_t ip_d, int64_t bytes) {
  char buf[640];
  const int n = std::snprintf(
      buf, sizeof buf,
      R"({"event":"%s","event_id":%lld,"utc_ms":%lld,"server":"%s","id":"%s","type":"play",)"
      R"("media":"channel%llu","ip":"10.%llu.%llu.%llu","proto":"hls","bytes":%lld,)"
      R"("opened_at":%lld,"user_id":"user%llu","country":"us",)"
      R"("user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"})",
      event, static_cast<long long>(event_id), static_cast<long long>(utc_ms), server.c_str(),
      id.c_str(), static_cast<unsigned long long>(opened_at % 200),
      static_cast<unsigned long long>(opened_at % 250), static_cast<unsigned long long>(ip_c),
      static_cast<unsigned long long>(ip_d), static_cast<long long>(bytes),
      static_cast<long long>(opened_at), static_cast<unsigned long long>(opened_at % 50000));
  return std::string(buf, static_cast<size_t>(n));
}

using Due = std::pair<int64_t, size_t>;

int64_t NowWallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Workload::Workload(const WorkloadOptions& o) : o_(o), rng_(o.seed), clock_(o.start_ms) {
  open_.reserve(static_cast<size_t>(o.open_sessions));
  for (int64_t i = 0; i < o.open_sessions; ++i) open_.push_back(NewSession());
}

Workload::Session Workload::NewSession() {
  Session s;
  s.id = Uuid(rng_(), serial_++);
  s.opened_at = clock_;
  return s;
}

GenEvent Workload::Next() { return NextFor(static_cast<size_t>(rng_() % open_.size())); }

GenEvent Workload::NextFor(size_t k) {
  Session& s = open_[k];
  GenEvent e;
  const int total = 3 + o_.updates_per_session;
  if (s.step == 0) {
    e.phase = 0;
  } else if (s.step == 1) {
    e.phase = 1;
  } else if (s.step == 2) {
    e.phase = 2;
  } else if (s.step >= total) {
    e.phase = s.stalled ? 5 : 6;
  } else if (s.stalled) {
    e.phase = 5;
  } else if (std::uniform_real_distribution<double>(0, 1)(rng_) < o_.stall_probability) {
    e.phase = 4;
  } else {
    e.phase = 3;
  }
  static const char* kNames[] = {"play_opened",  "play_authorized", "play_started", "play_updated",
                                 "play_stalled", "play_recovered",  "play_closed"};
  e.name = kNames[e.phase];
  e.session_id = s.id;
  e.utc_ms = ++clock_;
  if (e.phase == 3) s.bytes += 100000 + static_cast<int64_t>(rng_() % 400000);
  e.bytes = s.bytes;
  if (e.phase == 4) s.stalled = true;
  if (e.phase == 5) s.stalled = false;
  e.json = PlayEventJson(e.name.c_str(), ++event_id_, e.utc_ms, o_.server, s.id, s.opened_at,
                         k % 250, k % 200, s.bytes);
  if (e.phase == 6) {
    s = NewSession();
  } else {
    ++s.step;
  }
  return e;
}

std::string Workload::Batch(int n, std::vector<GenEvent>* events) {
  std::string body = "[";
  const int runs = std::max(o_.sessions_per_batch, 1);
  size_t slot = 0;
  for (int i = 0; i < n; ++i) {
    // With sessions_per_batch, the batch is that many runs of consecutive
    // events of one session each (a session that closes is replaced in its
    // slot and the run goes on with the new one).
    if (o_.sessions_per_batch > 0 && i % ((n + runs - 1) / runs) == 0) {
      slot = static_cast<size_t>(rng_() % open_.size());
    }
    GenEvent e = o_.sessions_per_batch > 0 ? NextFor(slot) : Next();
    if (i) body += ',';
    body += e.json;
    if (events) events->push_back(std::move(e));
  }
  body += ']';
  return body;
}

Audience::Audience(const AudienceOptions& o) : o_(o), rng_(o.seed) {
  viewers_.resize(static_cast<size_t>(std::max<int64_t>(1, o.viewers)));
  for (Viewer& v : viewers_) NewViewer(&v, 0);
}

void Audience::NewViewer(Viewer* v, int64_t now_ms) {
  v->id = Uuid(rng_(), serial_++);
  v->opened_at = NowWallMs();
  v->leaves_at = now_ms + static_cast<int64_t>(std::exponential_distribution<double>(
                              1.0 / static_cast<double>(o_.mean_watch_ms))(rng_));
  v->bytes = 0;
  v->stalled = false;
}

void Audience::Append(std::string* body, const Viewer& v, const char* event, int64_t* count) {
  body->push_back(body->empty() ? '[' : ',');
  *body += PlayEventJson(event, ++event_id_, NowWallMs(), o_.server, v.id, v.opened_at,
                         static_cast<uint64_t>(v.opened_at / 250 % 250),
                         static_cast<uint64_t>(v.opened_at / 7 % 200), v.bytes);
  ++*count;
}

std::string Audience::WarmupBatch(int n, int64_t* count) {
  std::string body;
  *count = 0;
  static const char* kOpening[] = {"play_opened", "play_authorized", "play_started"};
  while (announced_ < viewers_.size() && *count + 3 <= n) {
    const Viewer& v = viewers_[announced_];
    for (const char* e : kOpening) Append(&body, v, e, count);
    // The first update falls anywhere in the interval after warm-up.
    due_.emplace_back(static_cast<int64_t>(rng_() % static_cast<uint64_t>(o_.update_interval_ms)),
                      announced_);
    std::push_heap(due_.begin(), due_.end(), std::greater<Due>());
    ++announced_;
  }
  if (!body.empty()) body.push_back(']');
  return body;
}

std::string Audience::DueBatch(int64_t now_ms, int n, int64_t* count) {
  std::string body;
  *count = 0;
  while (!due_.empty() && due_.front().first <= now_ms && *count + 4 <= n) {
    std::pop_heap(due_.begin(), due_.end(), std::greater<Due>());
    const auto [due, k] = due_.back();
    due_.pop_back();
    Viewer& v = viewers_[k];
    if (now_ms >= v.leaves_at) {
      Append(&body, v, "play_closed", count);
      NewViewer(&v, now_ms);
      for (const char* e : {"play_opened", "play_authorized", "play_started"}) {
        Append(&body, v, e, count);
      }
    } else if (v.stalled) {
      v.stalled = false;
      Append(&body, v, "play_recovered", count);
    } else if (std::uniform_real_distribution<double>(0, 1)(rng_) < o_.stall_probability) {
      v.stalled = true;
      Append(&body, v, "play_stalled", count);
    } else {
      v.bytes += 100000 + static_cast<int64_t>(rng_() % 400000);
      Append(&body, v, "play_updated", count);
    }
    // On schedule, not from when it was sent: a sink that falls behind
    // does not lower the load it is offered.
    due_.emplace_back(due + o_.update_interval_ms, k);
    std::push_heap(due_.begin(), due_.end(), std::greater<Due>());
  }
  if (!body.empty()) body.push_back(']');
  return body;
}

}  // namespace sink::bench
