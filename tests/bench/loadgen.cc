// sessionsink-loadgen: simulated media servers posting event batches.
//
// Each server is a thread with one keep-alive connection and one batch in
// flight, as Flussonic does; a 503 is waited out and the same batch resent.
// Prints key=value lines: events, seconds, events_per_s, requests, latency
// p50/p99/max (ms), errors, retries, and the rate of every million events.
//
// With --viewers, the load is an audience in real time instead (Audience in
// workload.h): a warm-up announces every viewer as fast as the sink takes
// it, then for --duration each viewer updates every --update-interval and
// leaves after an exponential watch time, replaced by a new viewer. Only the
// steady part is measured; it also prints offered_events_per_s and
// behind_ms (how late the last events went out: the sink kept up when it is
// small).
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "store/timeutil.h"
#include "tests/bench/workload.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::atomic<int64_t> events{0}, requests{0}, errors{0}, retries{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> warm{0};  // servers done warming up
  std::atomic<int64_t> warmup_events{0}, behind_ms{0};
  std::mutex mu;
  std::vector<double> latencies_ms;     // guarded by mu
  std::vector<double> million_marks_s;  // guarded by mu: when each million was reached
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sessionsink-loadgen: posts realistic Flussonic event batches as M media servers"};
  std::string url = "http://127.0.0.1:8080/events", token, duration_text = "10s";
  int servers = 8, batch = 100, updates = 20, sessions_per_batch = 0;
  int64_t open_sessions = 100000, max_events = 0, rate = 0;
  double stall = 0.02;
  int64_t viewers = 0;
  std::string interval_text = "30s", watch_text = "20m";
  app.add_option("--url", url, "Where to post.")->capture_default_str();
  app.add_option("--servers", servers, "Simulated media servers (connections).")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--batch", batch, "Events per POST.")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--open-sessions", open_sessions, "Concurrently open sessions (all servers).")
      ->capture_default_str();
  app.add_option("--sessions-per-batch", sessions_per_batch,
                 "0: each event of a batch goes to a random open session (the hard case); N: "
                 "a batch holds N sessions with a run of consecutive events each (the easy case)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--updates", updates, "updated events per session before it closes.")
      ->capture_default_str();
  app.add_option("--stall-probability", stall, "Chance an update is a stall.")
      ->capture_default_str();
  app.add_option("--duration", duration_text, "How long to run (10s, 2m); ignored with --events.")
      ->capture_default_str();
  app.add_option("--events", max_events, "Stop after this many events (0: use --duration).");
  app.add_option("--rate", rate, "Target events/s over all servers (0: as fast as possible).");
  app.add_option("--token", token, "Bearer token for the sink.");
  app.add_option("--viewers", viewers,
                 "An audience of this many concurrent viewers in real time (all servers) "
                 "instead of events as fast as possible.");
  app.add_option("--update-interval", interval_text, "With --viewers: time between updates.")
      ->capture_default_str();
  app.add_option("--mean-watch", watch_text, "With --viewers: mean watch time (exponential).")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::optional<int64_t> duration_ms = sink::ParseDuration(duration_text, 1000);
  const std::optional<int64_t> interval_ms = sink::ParseDuration(interval_text, 1000);
  const std::optional<int64_t> watch_ms = sink::ParseDuration(watch_text, 1000);
  if (!duration_ms || !interval_ms || !watch_ms || *interval_ms <= 0 || *watch_ms <= 0) {
    std::fprintf(stderr, "--duration, --update-interval, --mean-watch: expected e.g. 10s\n");
    return 2;
  }
  // http://host:port/path
  const std::string rest = url.substr(url.find("://") + 3);
  const std::string hostport = rest.substr(0, rest.find('/'));
  const std::string path = rest.substr(hostport.size());
  const std::string host = hostport.substr(0, hostport.rfind(':'));
  const int port = std::stoi(hostport.substr(hostport.rfind(':') + 1));

  Shared sh;
  const auto t0 = Clock::now();
  Clock::time_point steady0 = t0;  // written before the servers' warm-up count is complete
  std::vector<std::thread> threads;
  for (int i = 0; i < servers; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client cli(host, port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(120, 0);
      httplib::Headers headers;
      if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
      std::vector<double> lat;
      // Posts one batch until it is taken; false when stopping first, or
      // when the sink has not answered at all for 100 tries in a row (it is
      // gone: the run stops, with errors).
      int unanswered = 0;
      auto post = [&](const std::string& body, int64_t n, bool measure) {
        for (;;) {
          const auto s = Clock::now();
          auto res = cli.Post(path.c_str(), headers, body, "application/json");
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
          ++sh.requests;
          if (res && res->status == 200) {
            unanswered = 0;
            if (!measure) return true;
            lat.push_back(ms);
            const int64_t before = sh.events.fetch_add(n);
            if ((before + n) / 1000000 > before / 1000000) {
              std::lock_guard<std::mutex> lock(sh.mu);
              sh.million_marks_s.push_back(
                  std::chrono::duration<double>(Clock::now() - t0).count());
            }
            return true;
          }
          // Like Flussonic: keep the batch, wait, send it again.
          if (res && res->status == 503) {
            ++sh.retries;
          } else {
            ++sh.errors;
          }
          unanswered = res ? 0 : unanswered + 1;
          if (unanswered >= 100) {
            std::fprintf(stderr, "sessionsink-loadgen: no answer from %s 100 times in a row\n",
                         url.c_str());
            sh.stop = true;
          }
          if (sh.stop) return false;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      };
      if (viewers > 0) {
        sink::bench::AudienceOptions ao;
        ao.server = "edge-" + std::to_string(i + 1);
        ao.viewers = std::max<int64_t>(1, viewers / servers);
        ao.update_interval_ms = *interval_ms;
        ao.mean_watch_ms = *watch_ms;
        ao.stall_probability = stall;
        ao.seed = static_cast<uint64_t>(i + 1);
        sink::bench::Audience a(ao);
        int64_t n = 0;
        for (std::string body = a.WarmupBatch(batch, &n); !body.empty() && !sh.stop;
             body = a.WarmupBatch(batch, &n)) {
          if (post(body, n, false)) sh.warmup_events += n;
        }
        if (++sh.warm == servers) {
          std::lock_guard<std::mutex> lock(sh.mu);
          steady0 = Clock::now();
        }
        while (sh.warm < servers && !sh.stop) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        Clock::time_point start;
        {
          std::lock_guard<std::mutex> lock(sh.mu);
          start = steady0;
        }
        auto ms_since = [&] {
          return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)
              .count();
        };
        // Events go out once the oldest due one has waited 50 ms, up to
        // `batch` a request, as a media server flushes its queue.
        while (!sh.stop) {
          const int64_t now = ms_since();
          const int64_t oldest = a.OldestDueMs();
          if (oldest < 0 || now - oldest < 50) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
          }
          const std::string body = a.DueBatch(now, batch, &n);
          if (!body.empty()) post(body, n, true);
        }
        const int64_t oldest = a.OldestDueMs();
        if (oldest >= 0) {
          const int64_t behind = std::max<int64_t>(0, ms_since() - oldest);
          int64_t cur = sh.behind_ms.load();
          while (behind > cur && !sh.behind_ms.compare_exchange_weak(cur, behind)) {
          }
        }
      } else {
        sink::bench::WorkloadOptions wo;
        wo.server = "edge-" + std::to_string(i + 1);
        wo.open_sessions = std::max<int64_t>(1, open_sessions / servers);
        wo.updates_per_session = updates;
        wo.stall_probability = stall;
        wo.sessions_per_batch = sessions_per_batch;
        wo.seed = static_cast<uint64_t>(i + 1);
        sink::bench::Workload w(wo);
        const double per_batch_s = rate > 0 ? static_cast<double>(batch) * servers / rate : 0;
        auto next = Clock::now();
        while (!sh.stop) {
          if (max_events && sh.events.load() >= max_events) break;
          if (per_batch_s > 0) {
            std::this_thread::sleep_until(next);
            next += std::chrono::duration_cast<Clock::duration>(
                std::chrono::duration<double>(per_batch_s));
          }
          post(w.Batch(batch), batch, true);
        }
      }
      std::lock_guard<std::mutex> lock(sh.mu);
      sh.latencies_ms.insert(sh.latencies_ms.end(), lat.begin(), lat.end());
    });
  }
  if (viewers > 0) {  // the duration counts from the end of the warm-up
    while (sh.warm < servers) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (max_events == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(*duration_ms));
    sh.stop = true;
  }
  for (std::thread& t : threads) t.join();
  const double warmup_s = viewers > 0 ? std::chrono::duration<double>(steady0 - t0).count() : 0.0;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count() - warmup_s;

  std::vector<double>& l = sh.latencies_ms;
  std::sort(l.begin(), l.end());
  auto pct = [&l](double p) {
    if (l.empty()) return 0.0;
    return l[std::min(l.size() - 1, static_cast<size_t>(p * static_cast<double>(l.size())))];
  };
  std::printf("events=%lld\nseconds=%.3f\nevents_per_s=%.0f\nrequests=%lld\n",
              static_cast<long long>(sh.events.load()), secs,
              static_cast<double>(sh.events.load()) / secs,
              static_cast<long long>(sh.requests.load()));
  std::printf("p50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\nerrors=%lld\nretries=%lld\n", pct(0.50),
              pct(0.99), l.empty() ? 0.0 : l.back(), static_cast<long long>(sh.errors.load()),
              static_cast<long long>(sh.retries.load()));
  // events/s of each million (the soak's first vs last).
  double prev = 0;
  std::string per_million;
  for (double m : sh.million_marks_s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.0f", per_million.empty() ? "" : ",", 1e6 / (m - prev));
    per_million += buf;
    prev = m;
  }
  std::printf("per_million_events_per_s=%s\n", per_million.c_str());
  if (viewers > 0) {
    std::printf("viewers=%lld\nwarmup_events=%lld\nwarmup_seconds=%.1f\n",
                static_cast<long long>(viewers), static_cast<long long>(sh.warmup_events.load()),
                warmup_s);
    // Closed form, not a generated audience: viewers × (1/interval + 4/watch).
    std::printf("offered_events_per_s=%.0f\nbehind_ms=%lld\n",
                static_cast<double>(viewers) * (1000.0 / static_cast<double>(*interval_ms) +
                                                4000.0 / static_cast<double>(*watch_ms)),
                static_cast<long long>(sh.behind_ms.load()));
  }
  return sh.errors.load() > 0 ? 1 : 0;
}
