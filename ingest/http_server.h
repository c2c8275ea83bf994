// HttpServer: the HTTP face of the sink (cpp-httplib).
//
//   POST /events    a batch of events → 200 {"accepted","duplicates","rejected","errors"}
//                   after COMMIT; 400 unreadable (kept in `rejected`), 401, 413, 415,
//                   503 + Retry-After when the writer cannot take or commit it.
//   POST|GET /events/nginx-rtmp/<instance>   nginx-rtmp callbacks (ingest/nginx_rtmp_endpoint.h)
//   GET  /healthz   200 while the process runs.
//   GET  /readyz    200 when the database is writable and we are not draining;
//                   the body also reports the Kafka backlog.
//   GET  /metrics   Prometheus text.
//   GET  /reports[/NAME?from=&to=&media=&user=&server=&now=&bucket=&limit=&format=json|csv]
//                   the reports of query/ (with --token, the token is required)
//
// The server binds at Start() (so port 0 resolves immediately) and serves on
// its own thread. Thread-safety: Start/Stop from the owner; handlers run on
// the worker pool and share only the Writer (thread-safe) and atomics.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "fanout/kafka_relay.h"
#include "ingest/config.h"
#include "store/status.h"
#include "store/writer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
class ContentReader;
}  // namespace httplib

namespace sink {

class GuardedServer;
class NginxRtmpEndpoint;
struct HttpCounters;
struct RefusalLog;

class HttpServer {
 public:
  // `relay` may be null (no Kafka fan-out); it is only read for /metrics and /readyz.
  HttpServer(const ServeConfig& cfg, Writer* writer, const Relay* relay, const Clock* clock);
  ~HttpServer();

  // Binds and starts serving. Fails when the address cannot be bound.
  Status Start();
  // The bound port (useful with port 0). REQUIRES: Start() succeeded.
  int port() const { return port_; }
  // Stops accepting, finishes in-flight requests and joins the thread.
  void Stop();

 private:
  // Where a POST /events… body comes from: which parser reads it.
  enum class Source { kFlussonic, kGameLift, kZego, kStreampixel };
  void Routes();
  void HandleEvents(Source source, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& read);
  // /events/streampixel: an allowed Origin, or the token rules.
  bool BrowserAuthorized(const httplib::Request& req, httplib::Response& res) const;
  // With --token: true when the request carries it; else answers 401 and returns false.
  bool Authorized(const httplib::Request& req, httplib::Response& res) const;

  const ServeConfig cfg_;
  Writer* writer_;
  const Relay* relay_;
  const Clock* clock_;
  std::unique_ptr<GuardedServer> svr_;
  std::unique_ptr<HttpCounters> counters_;
  std::unique_ptr<RefusalLog> refusals_;
  std::unique_ptr<NginxRtmpEndpoint> nginx_rtmp_;  // /events/nginx-rtmp/<instance>
  std::atomic<bool> draining_{false};
  int port_ = 0;
  std::thread thread_;
};

// Compares two secrets in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace sink
