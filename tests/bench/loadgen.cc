// sessionsink-loadgen: simulated media servers posting event batches.
//
// Each server is a thread with one keep-alive connection and one batch in
// flight, as Flussonic does; a 503 is waited out and the same batch resent.
// Prints key=value lines: events, seconds, events_per_s, requests, latency
// p50/p99/max (ms), errors, retries, and the rate of every million events.
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
  CLI11_PARSE(app, argc, argv);

  const std::optional<int64_t> duration_ms = sink::ParseDuration(duration_text, 1000);
  if (!duration_ms) {
    std::fprintf(stderr, "--duration: expected e.g. 10s\n");
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
  std::vector<std::thread> threads;
  for (int i = 0; i < servers; ++i) {
    threads.emplace_back([&, i] {
      sink::bench::WorkloadOptions wo;
      wo.server = "edge-" + std::to_string(i + 1);
      wo.open_sessions = std::max<int64_t>(1, open_sessions / servers);
      wo.updates_per_session = updates;
      wo.stall_probability = stall;
      wo.sessions_per_batch = sessions_per_batch;
      wo.seed = static_cast<uint64_t>(i + 1);
      sink::bench::Workload w(wo);
      httplib::Client cli(host, port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(120, 0);
      httplib::Headers headers;
      if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
      std::vector<double> lat;
      const double per_batch_s = rate > 0 ? static_cast<double>(batch) * servers / rate : 0;
      auto next = Clock::now();
      while (!sh.stop) {
        if (max_events && sh.events.load() >= max_events) break;
        if (per_batch_s > 0) {
          std::this_thread::sleep_until(next);
          next += std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(per_batch_s));
        }
        const std::string body = w.Batch(batch);
        for (;;) {
          const auto s = Clock::now();
          auto res = cli.Post(path.c_str(), headers, body, "application/json");
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
          ++sh.requests;
          if (res && res->status == 200) {
            lat.push_back(ms);
            const int64_t before = sh.events.fetch_add(batch);
            if ((before + batch) / 1000000 > before / 1000000) {
              std::lock_guard<std::mutex> lock(sh.mu);
              sh.million_marks_s.push_back(
                  std::chrono::duration<double>(Clock::now() - t0).count());
            }
            break;
          }
          // Like Flussonic: keep the batch, wait, send it again.
          if (res && res->status == 503) {
            ++sh.retries;
          } else {
            ++sh.errors;
          }
          if (sh.stop) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      std::lock_guard<std::mutex> lock(sh.mu);
      sh.latencies_ms.insert(sh.latencies_ms.end(), lat.begin(), lat.end());
    });
  }
  if (max_events == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(*duration_ms));
    sh.stop = true;
  }
  for (std::thread& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

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
  return sh.errors.load() > 0 ? 1 : 0;
}
