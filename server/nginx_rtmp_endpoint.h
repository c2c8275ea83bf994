// NginxRtmpEndpoint: the HTTP side of nginx-rtmp's notify callbacks.
//
//   POST /events/nginx-rtmp/<instance>[/token/<SECRET>][?token=SECRET]
//   GET  /events/nginx-rtmp/<instance>[/token/<SECRET>]?<the callback>
//
// nginx never resends a callback and drops the client (publisher or viewer)
// on any answer but 2xx, on a timeout and on a refused connection. So this
// endpoint answers 200 as soon as the callback is committed, and also when
// the sink cannot store it (writer queue full, database failing, commit
// slower than kAnswerWithinMs): then it counts the callback in
// sessionsink_unrecorded_callbacks_total and logs, at most every 10 s. The
// only other answers are for requests that are not nginx's callbacks:
// 401 (a --token is set and the request does not carry it), 413 (larger
// than any callback), 400 (no `call` field: kept in `rejected`), 404 (an
// instance name that is not [A-Za-z0-9._-]{1,64}).
//
// Thread-safety: Handle*() run on the HTTP worker threads at once; Restore()
// runs once before serving.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "ingest/platforms/nginx_rtmp.h"
#include "server/access.h"
#include "server/config.h"
#include "store/clock.h"
#include "store/status.h"
#include "store/writer.h"

namespace httplib {
struct Request;
struct Response;
class ContentReader;
}  // namespace httplib

namespace sink {

class NginxRtmpEndpoint {
 public:
  // The route, for cpp-httplib: instance, then the optional path token.
  static constexpr const char* kPattern = R"(/events/nginx-rtmp/([^/]+)(?:/token/([^/]+))?)";
  // nginx gives up on a callback after 10 s (netcall_timeout) and drops the
  // client; answer well before.
  static constexpr int64_t kAnswerWithinMs = 5000;
  // nginx's callbacks are a few hundred bytes (names and arguments are cut
  // at 255 bytes each); anything larger is not one.
  static constexpr size_t kMaxCallbackBytes = 64 * 1024;

  // `access`: the tokens to check (they can change at a reload); null: the
  // --token of `cfg`.
  NginxRtmpEndpoint(const ServeConfig& cfg, Writer* writer, const Clock* clock,
                    const AccessHolder* access = nullptr);
  ~NginxRtmpEndpoint();

  // Rebuilds the map of connections from the nginx-rtmp events of the last
  // --session-timeout in the database (a read-only connection).
  Status Restore();

  // Answer the request; return the HTTP status (for the request counters).
  int HandlePost(const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& read);
  int HandleGet(const httplib::Request& req, httplib::Response& res);

  // Prometheus lines: sessionsink_unrecorded_callbacks_total{cause}, and
  // the connections the map remembers.
  void AppendMetrics(std::string* out) const;

 private:
  int Handle(const httplib::Request& req, httplib::Response& res, std::string_view form);
  bool Authorized(const httplib::Request& req, bool get) const;
  // Answers 200 for a callback the sink could not store, counts and logs it.
  int Unrecorded(int cause, std::string_view why, const std::vector<Event>& events,
                 httplib::Response& res);

  const ServeConfig cfg_;
  AccessHolder own_access_;  // when none was given
  const AccessHolder* access_;
  Writer* writer_;
  const Clock* clock_;
  NginxRtmp adapter_;
  // By cause: the writer refused it (queue full, shutting down), the
  // commit failed, the commit did not come within kAnswerWithinMs (it may
  // still land).
  static constexpr int kRefused = 0, kFailed = 1, kTimeout = 2, kCauses = 3;
  std::atomic<uint64_t> unrecorded_[kCauses] = {};
  std::mutex log_mu_;
  int64_t last_log_ms_ = 0;  // guarded by log_mu_
  uint64_t since_log_ = 0;   // guarded by log_mu_
};

}  // namespace sink
