// RefusalLog: the rate-limited log lines of refusals. Internal to ingest/.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "store/log_fields.h"

namespace sink {

// Logs why events are refused with 503 (database full or failing, queue
// full, commit too slow): a refusal line at most every 10 s, with the count
// of refusals since the previous line, and one line at the first commit
// after a logged refusal. Under a partial overload (refusals and commits
// interleaved) that is at most two lines per 10 s.
struct RefusalLog {
  static constexpr auto kEvery = std::chrono::seconds(10);
  std::mutex mu;
  bool failing = false;  // a refusal was logged and no recovery since; guarded by mu
  uint64_t since_log = 0;
  std::chrono::steady_clock::time_point last_log;  // zero: never

  bool Due(std::chrono::steady_clock::time_point now) const {
    return last_log.time_since_epoch().count() == 0 || now - last_log >= kEvery;
  }
  void Refused(std::string_view why) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu);
    ++since_log;
    if (!Due(now)) return;
    LogFields f{{"status", 503}, {"count", since_log}};
    spdlog::warn("refusing events with 503 ({} request{} since the last line): {}", since_log,
                 since_log == 1 ? "" : "s", why);
    failing = true;
    since_log = 0;
    last_log = now;
  }
  void Committed() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu);
    if (!failing) return;
    spdlog::info("events are committed again ({} more request{} refused before this)", since_log,
                 since_log == 1 ? "" : "s");
    failing = false;
    since_log = 0;
    last_log = now;
  }
};

// Logs requests refused with 401: at most one line every 10 s, naming the
// peer and the path of the latest and how many since the previous line. The
// token a client sent is never logged.
struct UnauthorizedLog {
  static constexpr auto kEvery = std::chrono::seconds(10);
  std::mutex mu;
  uint64_t since_log = 0;                          // guarded by mu
  std::chrono::steady_clock::time_point last_log;  // zero: never; guarded by mu

  void Refused(std::string_view peer, std::string_view path, std::string_view why, int code = 401) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu);
    ++since_log;
    if (last_log.time_since_epoch().count() != 0 && now - last_log < kEvery) return;
    LogFields f{{"client", peer}, {"route", path}, {"status", code}, {"count", since_log}};
    spdlog::warn("refused with {} ({} request{} since the last line): {} from {} on {}", code,
                 since_log, since_log == 1 ? "" : "s", why, peer, path);
    since_log = 0;
    last_log = now;
  }
};

// A warning about accepted input (times from a skewed clock): at most one
// line every 10 s, with the count of requests since the previous line.
struct WarningLog {
  static constexpr auto kEvery = std::chrono::seconds(10);
  std::mutex mu;
  uint64_t since_log = 0;                          // guarded by mu
  std::chrono::steady_clock::time_point last_log;  // zero: never; guarded by mu

  void Warn(std::string_view peer, std::string_view what) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu);
    ++since_log;
    if (last_log.time_since_epoch().count() != 0 && now - last_log < kEvery) return;
    LogFields f{{"client", peer}, {"count", since_log}};
    spdlog::warn("{} ({} request{} since the last line; the latest from {})", what, since_log,
                 since_log == 1 ? "" : "s", peer);
    since_log = 0;
    last_log = now;
  }
};

}  // namespace sink
