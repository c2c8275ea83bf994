// HttpServer: the HTTP face of the sink (cpp-httplib).
//
//   POST /events    a batch of events → 200 {"accepted","duplicates","rejected","errors"}
//                   after COMMIT; 400 unreadable (kept in `rejected`), 401, 413, 415,
//                   503 + Retry-After when the writer cannot take or commit it.
//   POST|GET /events/nginx-rtmp/<instance>   nginx-rtmp callbacks (server/nginx_rtmp_endpoint.h)
//   GET  /healthz   200 while the process runs.
//   GET  /readyz    200 when the database is writable and we are not draining;
//                   the body also reports the Kafka backlog.
//   GET  /metrics   Prometheus text (a reading token, unless --metrics-public).
//   POST /flush     writes every changed session to the table now; 200 once committed.
//   GET  /reports[/NAME?from=&to=&media=&user=&server=&now=&bucket=&limit=&format=json|csv]
//                   the reports of query/ (with --token or --read-token, either token
//                   may read; only the ingest token may post)
//   GET  /          the dashboard page (dashboard/), and GET /api/* the JSON it
//                   reads besides the reports (dashboard_routes.cc; read access)
//
// Requests reach these routes only after the framing layer checked them
// (server/http_framing.h, run by GuardedServer in server/connection_guard.h),
// over TLS with --tls-cert/--tls-key. HandleEvents is in events_route.cc.
//
// The server binds at Start() (so port 0 resolves immediately) and serves on
// its own thread. Thread-safety: Start/Stop from the owner; handlers run on
// the worker pool and share only the Writer (thread-safe) and atomics.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fanout/kafka_relay.h"
#include "server/access.h"
#include "server/config.h"
#include "store/status.h"
#include "store/writer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
class ContentReader;
}  // namespace httplib

namespace sink {

class DashboardState;
class GuardedServer;
class NginxRtmpEndpoint;
struct PlatformSpec;
struct HttpCounters;
struct RefusalLog;
struct UnauthorizedLog;
struct WarningLog;
class RequestBudget;

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

  // At a reload, from any thread: the tokens, read tokens, Streampixel
  // origins and --metrics-public of `cfg` apply to the next request.
  void SetAccess(const ServeConfig& cfg) { access_.Set(AccessRules::From(cfg)); }
  // At a reload: --max-connections, --max-connections-per-client and
  // --client-timeout of `cfg` apply to the connections accepted from now on
  // (and the timeout to every connection's next request).
  void SetConnectionLimits(const ServeConfig& cfg);
  // Adds lines to GET /metrics (Prometheus text). Before Start().
  void AddMetrics(std::function<void(std::string*)> append) {
    extra_metrics_.push_back(std::move(append));
  }
  // Connections being served now (for a status line).
  uint64_t open_connections() const;

 private:
  // What a request may do: post events (the ingest token) or read reports,
  // metrics and the dashboard (the ingest token or the read token).
  enum class Access { kIngest, kRead };

  void Routes();
  void EventRoutes();
  void HandleEvents(const PlatformSpec& spec, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& read);
  void HandleReadyz(httplib::Response& res) const;      // status_routes.cc
  void HandleFlush(httplib::Response& res) const;       // status_routes.cc
  void HandleReportList(httplib::Response& res) const;  // status_routes.cc
  void HandleReport(const httplib::Request& req, httplib::Response& res) const;
  void RenderMetrics(httplib::Response& res) const;  // metrics.cc
  void DashboardRoutes();                            // dashboard_routes.cc
  // Without --token: true (answered 421 or 403) for a request whose Host is
  // not a loopback name while listening on loopback (DNS rebinding), or a
  // POST a browser marks as cross-site (Origin, Sec-Fetch-Site) that is not
  // from a --streampixel-origins page.
  bool RefusedFromBrowser(const httplib::Request& req, httplib::Response& res) const;
  // /events/streampixel: an allowed Origin, or the token rules.
  bool BrowserAuthorized(const httplib::Request& req, httplib::Response& res) const;
  // True when no token guards `access`, or the request carries one that
  // grants it (Authorization: Bearer, or ?token=); else answers 401.
  bool Authorized(const httplib::Request& req, httplib::Response& res, Access access) const;

  const ServeConfig cfg_;
  AccessHolder access_;  // what can change at a reload
  std::vector<std::function<void(std::string*)>> extra_metrics_;
  Writer* writer_;
  const Relay* relay_;
  const Clock* clock_;
  std::unique_ptr<GuardedServer> svr_;
  std::unique_ptr<HttpCounters> counters_;
  std::unique_ptr<RefusalLog> refusals_;
  std::unique_ptr<DashboardState> dashboard_;  // the page's traffic history
  std::unique_ptr<UnauthorizedLog> unauthorized_log_;
  std::unique_ptr<WarningLog> future_log_;         // events with times from a skewed clock
  std::unique_ptr<RequestBudget> budget_;          // --request-memory, shared by event requests
  std::unique_ptr<NginxRtmpEndpoint> nginx_rtmp_;  // /events/nginx-rtmp/<instance>
  std::atomic<bool> draining_{false};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace sink
