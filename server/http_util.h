// Small pieces every HTTP route of the sink shares: JSON error answers and
// the Retry-After of a 503. Internal to ingest/.
#pragma once

#include <httplib.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "server/status_codes.h"
#include "store/histogram.h"

namespace sink {

inline constexpr const char* kJsonType = "application/json";
// Seconds a client should wait before resending after a 503.
inline constexpr const char* kRetryAfterSeconds = "1";

// Answers `code` with {"error": message}; a 503 also gets Retry-After.
void SetError(httplib::Response& res, int code, std::string_view message);
// Answers a failed Status: HttpStatusFor(s) (server/status_codes.h) with its message.
inline void AnswerError(httplib::Response& res, const Status& s) {
  SetError(res, HttpStatusFor(s), s.message());
}

// The token of an Authorization value "Bearer <token>", the scheme in any
// case (RFC 9110 §11.1); empty when the value is not one.
inline std::string_view BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i + 1 < kScheme.size(); ++i) {
    if ((authorization[i] | 0x20) != kScheme[i]) return {};  // a letter, in either case
  }
  if (authorization[kScheme.size() - 1] != ' ') return {};
  return authorization.substr(kScheme.size());
}

// A request whose body we did not read leaves bytes on the socket; close the
// connection after answering instead of parsing them as the next request.
inline void CloseAfter(httplib::Response& res) { res.set_header("Connection", "close"); }

// Request counters for /metrics, by route and answer.
struct HttpCounters {
  static constexpr std::array<int, 10> kCodes = {200, 400, 401, 404, 405, 413, 415, 500, 503, 0};
  std::array<std::atomic<uint64_t>, kCodes.size()> events_by_code{};
  std::atomic<uint64_t> body_bytes{0};
  // Handling time by route, for sessionsink_http_request_duration_seconds{route}.
  enum Route { kEvents, kReports, kDashboard, kRouteCount };
  static constexpr std::array<const char*, kRouteCount> kRouteNames = {"events", "reports",
                                                                       "dashboard"};
  std::array<LatencyHistogram, kRouteCount> request_seconds;
  std::atomic<uint64_t> unauthorized{0};  // 401s on every route
  // 403/421: cross-site posts and Host names not served (RefusedFromBrowser).
  std::atomic<uint64_t> browser_refused{0};
  // Events with a time beyond the sink's clock + limits::kMaxClockSkewMs.
  std::atomic<uint64_t> future_times{0};
  // 503s because the requests in flight spent --request-memory.
  std::atomic<uint64_t> memory_refused{0};

  void Count(int code) {
    for (size_t i = 0; i < kCodes.size(); ++i) {
      if (kCodes[i] == code || kCodes[i] == 0) {
        ++events_by_code[i];
        return;
      }
    }
  }
};

// Observes the time from construction to destruction into `h`.
class RequestTimer {
 public:
  explicit RequestTimer(LatencyHistogram& h) : h_(h), t0_(std::chrono::steady_clock::now()) {}
  ~RequestTimer() {
    h_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
  }
  RequestTimer(const RequestTimer&) = delete;
  RequestTimer& operator=(const RequestTimer&) = delete;

 private:
  LatencyHistogram& h_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace sink
