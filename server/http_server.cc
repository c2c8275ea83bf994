#include "server/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "ingest/platforms/flussonic.h"
#include "ingest/platforms/registry.h"
#include "query/report_command.h"
#include "server/connection_guard.h"
#include "server/dashboard.h"
#include "server/http_util.h"
#include "server/nginx_rtmp_endpoint.h"
#include "server/refusal_log.h"
#include "server/request_budget.h"
#include "store/json_text.h"

namespace sink {

namespace {

// The kernel's accept queue; cpp-httplib hard-wires 5, which drops SYNs
// (1 s retransmits) as soon as a few media servers reconnect together.
constexpr int kListenBacklog = 1024;

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Always walk the expected secret's full length; fold the length difference in.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

void SetError(httplib::Response& res, int code, std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(&body, message);
  body += "}\n";
  res.status = code;
  res.set_content(body, kJsonType);
  if (code == 503) res.set_header("Retry-After", kRetryAfterSeconds);
}

HttpServer::HttpServer(const ServeConfig& cfg, Writer* writer, const Relay* relay,
                       const Clock* clock)
    : cfg_(cfg),
      access_(AccessRules::From(cfg)),
      writer_(writer),
      relay_(relay),
      clock_(clock),
      svr_(std::make_unique<GuardedServer>(
          ConnectionLimits{cfg.http_threads, static_cast<size_t>(cfg.max_connections),
                           cfg.max_connections_per_client, cfg.client_timeout_ms})),
      counters_(std::make_unique<HttpCounters>()),
      refusals_(std::make_unique<RefusalLog>()),
      unauthorized_log_(std::make_unique<UnauthorizedLog>()),
      future_log_(std::make_unique<WarningLog>()),
      budget_(std::make_unique<RequestBudget>(cfg.request_memory_bytes)),
      nginx_rtmp_(std::make_unique<NginxRtmpEndpoint>(cfg, writer, clock, &access_)) {}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Authorized(const httplib::Request& req, httplib::Response& res,
                            Access access) const {
  const bool read = access == Access::kRead;
  const std::shared_ptr<const AccessRules> rules = access_.Get();
  if (rules->tokens.empty() && (!read || rules->read_tokens.empty())) return true;
  std::string given;
  const std::string auth = req.get_header_value("Authorization");
  if (const std::string_view bearer = BearerToken(auth); !bearer.empty()) {
    given = std::string(bearer);
  } else if (req.has_param("token")) {
    given = req.get_param_value("token");
  }
  if (!given.empty() && rules->Grants(given, read)) return true;
  SetError(res, 401,
           given.empty() ? "missing credentials: send Authorization: Bearer <token> or "
                           "?token=<token>"
                         : "invalid token");
  res.set_header("WWW-Authenticate", "Bearer");
  ++counters_->unauthorized;
  unauthorized_log_->Refused(req.remote_addr, req.path,
                             given.empty() ? "no token" : "a wrong token");
  return false;
}

bool HttpServer::BrowserAuthorized(const httplib::Request& req, httplib::Response& res) const {
  const std::string origin = req.get_header_value("Origin");
  const std::shared_ptr<const AccessRules> rules = access_.Get();
  for (const std::string& o : rules->streampixel_origins) {
    if (!origin.empty() && origin == o) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
      return true;
    }
  }
  if (!rules->streampixel_origins.empty() && rules->tokens.empty()) {
    SetError(res, 401,
             origin.empty() ? "no Origin header: this endpoint takes posts from the pages "
                              "listed in --streampixel-origins"
                            : "origin " + origin + " is not in --streampixel-origins");
    ++counters_->unauthorized;
    unauthorized_log_->Refused(req.remote_addr, req.path, "an origin not allowed");
    return false;
  }
  return Authorized(req, res, Access::kIngest);
}

namespace {

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A Host a DNS name cannot be rebound to: an IP literal, or localhost and
// its subdomains (RFC 6761), with or without a port.
bool LoopbackHost(std::string_view host) {
  if (host.empty()) return true;  // HTTP/1.0 without Host: not a browser
  if (host.front() == '[') return host.find(']') != std::string_view::npos;  // IPv6 literal
  if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.empty()) return false;
  if (std::all_of(host.begin(), host.end(),
                  [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
    return true;  // a dotted IPv4 literal
  }
  constexpr std::string_view kSuffix = ".localhost";
  return EqualsNoCase(host, "localhost") ||
         (host.size() > kSuffix.size() &&
          EqualsNoCase(host.substr(host.size() - kSuffix.size()), kSuffix));
}

// The route of a platform whose events web pages post (Streampixel).
bool PostedByBrowsers(std::string_view path) {
  for (const PlatformSpec& spec : PlatformSpecs()) {
    if (spec.from_browsers && spec.route == path) return true;
  }
  return false;
}

}  // namespace

bool HttpServer::RefusedFromBrowser(const httplib::Request& req, httplib::Response& res) const {
  const std::shared_ptr<const AccessRules> rules = access_.Get();
  if (!rules->tokens.empty()) return false;  // a browser cannot hold the token: 401 already
  std::string host;
  int port = 0;
  const bool loopback =
      SplitHostPort(cfg_.listen, &host, &port) &&
      (host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0);
  const std::string host_header = req.get_header_value("Host");
  // DNS rebinding: a page of attacker.example whose name now resolves to
  // 127.0.0.1 is same-origin with the sink for the browser; only its Host
  // header tells. Served on loopback, the sink answers loopback names only.
  if (loopback && !LoopbackHost(host_header)) {
    SetError(res, 421,
             "this sink listens on loopback and answers requests for localhost or an IP "
             "address only, not for '" +
                 host_header + "'");
    ++counters_->browser_refused;
    unauthorized_log_->Refused(req.remote_addr, req.path, "a Host name not served on loopback",
                               421);
    return true;
  }
  if (req.method != "POST") return false;
  // Cross-site request forgery: a web page in the operator's browser can
  // post (a no-cors text/plain fetch needs no preflight). Browsers say where
  // a request comes from; media servers and curl send neither header.
  const std::string site = req.get_header_value("Sec-Fetch-Site");
  const std::string origin = req.get_header_value("Origin");
  if (site.empty() && origin.empty()) return false;
  const bool browser_route = PostedByBrowsers(req.path);
  if (browser_route && !origin.empty()) {
    for (const std::string& o : rules->streampixel_origins) {
      if (origin == o) return false;  // a page allowed to post (BrowserAuthorized)
    }
  }
  bool cross = !site.empty() && site != "same-origin" && site != "none";
  if (!origin.empty()) {
    const size_t scheme = origin.find("://");
    cross = cross || scheme == std::string::npos ||
            !EqualsNoCase(std::string_view(origin).substr(scheme + 3), host_header);
  }
  if (!cross) return false;
  SetError(res, 403,
           "cross-site request refused: a web page (Origin " + (origin.empty() ? site : origin) +
               ") may not post to this sink; media servers and curl send no Origin" +
               (browser_route ? ", and Streampixel pages must be listed in "
                                "--streampixel-origins"
                              : ""));
  ++counters_->browser_refused;
  unauthorized_log_->Refused(req.remote_addr, req.path, "a cross-site request from a web page",
                             403);
  return true;
}

void HttpServer::SetConnectionLimits(const ServeConfig& cfg) {
  svr_->SetLimits(ConnectionLimits{cfg.http_threads, static_cast<size_t>(cfg.max_connections),
                                   cfg.max_connections_per_client, cfg.client_timeout_ms});
}

uint64_t HttpServer::open_connections() const { return svr_->stats().open; }

// POST /events… (one route per platform of the registry), the nginx-rtmp
// callbacks, 405 for other methods, and the browser checks before routing.
void HttpServer::EventRoutes() {
  httplib::Server& s = *svr_;

  // POST /events…: one route per platform whose events come as bodies.
  for (const PlatformSpec& spec : PlatformSpecs()) {
    if (spec.route.empty()) continue;
    s.Post(
        std::string(spec.route),
        [this, &spec](const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& read) { HandleEvents(spec, req, res, read); });
  }

  // nginx-rtmp callbacks: always 2xx once read (server/nginx_rtmp_endpoint.h).
  // A 401 there is counted and logged like any other; the logged path names
  // the instance only (the path may hold the wrong token).
  auto nginx_answered = [this](const httplib::Request& req, int code) {
    counters_->Count(code);
    if (code != 401) return;
    ++counters_->unauthorized;
    const std::string instance = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
    unauthorized_log_->Refused(req.remote_addr, "/events/nginx-rtmp/" + instance,
                               "a missing or wrong token");
  };
  s.Post(NginxRtmpEndpoint::kPattern,
         [this, nginx_answered](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& read) {
           nginx_answered(req, nginx_rtmp_->HandlePost(req, res, read));
         });
  s.Get(NginxRtmpEndpoint::kPattern,
        [this, nginx_answered](const httplib::Request& req, httplib::Response& res) {
          nginx_answered(req, nginx_rtmp_->HandleGet(req, res));
        });

  auto method_not_allowed = [this](const httplib::Request&, httplib::Response& res) {
    SetError(res, 405, "use POST for /events");
    res.set_header("Allow", "POST");
    counters_->Count(405);
  };
  // TRACE and CONNECT reach cpp-httplib (the framing layer answers unknown
  // methods 501), which has no routes for them: 405, like other methods.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (RefusedFromBrowser(req, res)) {
      CloseAfter(res);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "TRACE" && req.method != "CONNECT") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const bool events = req.path.rfind("/events", 0) == 0;
    SetError(res, 405, events ? "use POST for /events" : "method not allowed");
    res.set_header("Allow", events ? "POST" : "GET, HEAD");
    if (events) counters_->Count(405);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Every other method on an events route is 405 (a browser's preflight
  // included: the Streampixel relay posts without one).
  for (const PlatformSpec& spec : PlatformSpecs()) {
    if (spec.route.empty()) continue;
    const std::string path(spec.route);
    s.Get(path, method_not_allowed);
    s.Put(path, method_not_allowed);
    s.Delete(path, method_not_allowed);
    s.Patch(path, method_not_allowed);
    s.Options(path, method_not_allowed);
  }
}

void HttpServer::Routes() {
  httplib::Server& s = *svr_;
  EventRoutes();

  // Reports over the same database (read-only connection per request).
  // Reports are live data (the dashboard reads some of them): never cached.
  s.Get("/reports", [this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    if (Authorized(req, res, Access::kRead)) HandleReportList(res);
  });
  s.Get(R"(/reports/([A-Za-z0-9_-]+))",
        [this](const httplib::Request& req, httplib::Response& res) {
          RequestTimer timer(counters_->request_seconds[HttpCounters::kReports]);
          res.set_header("Cache-Control", "no-store");
          if (Authorized(req, res, Access::kRead)) HandleReport(req, res);
        });
  DashboardRoutes();  // GET / and /api/*: dashboard_routes.cc

  // /flush takes no body: a large one is refused at once, unread (the
  // library would otherwise wait for all of it before the route ran).
  s.Post("/flush", [this](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& read) {
    if (!Authorized(req, res, Access::kIngest)) return CloseAfter(res);
    constexpr uint64_t kMaxFlushBody = 64 * 1024;
    uint64_t declared = 0;
    const std::string v = req.get_header_value("Content-Length");
    std::from_chars(v.data(), v.data() + v.size(), declared);
    if (declared > kMaxFlushBody) {
      SetError(res, 413,
               "POST /flush takes no body (this one declares " + std::to_string(declared) +
                   " bytes; at most 65536 are read and ignored)");
      return CloseAfter(res);
    }
    uint64_t got = 0;
    const bool complete = read([&got](const char*, size_t n) {
      got += n;
      return got <= kMaxFlushBody;
    });
    if (!complete) {
      SetError(res, 413, "POST /flush takes no body (at most 65536 bytes are read and ignored)");
      return CloseAfter(res);
    }
    HandleFlush(res);
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", kJsonType);
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) { HandleReadyz(res); });
  s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (access_.Get()->metrics_public || Authorized(req, res, Access::kRead)) RenderMetrics(res);
  });

  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      SetError(res, res.status, res.status == 404 ? "not found" : "request failed");
    }
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("request failed: {}", what);
        SetError(res, 500, "internal error");
      });
}

Status HttpServer::Start() {
  std::string host;
  int port = 0;
  if (!SplitHostPort(cfg_.listen, &host, &port)) {
    return Status::Invalid("--listen: expected HOST:PORT, got '" + cfg_.listen + "'");
  }
  if (Status st = nginx_rtmp_->Restore(); !st.ok()) {
    spdlog::warn("nginx-rtmp: could not read back recent callbacks: {}", st.message());
  }
  Routes();
  if (!cfg_.tls_cert.empty()) {
    if (std::string err = svr_->EnableTls(cfg_.tls_cert, cfg_.tls_key); !err.empty()) {
      return Status::Invalid(err);
    }
  }
  httplib::Server& s = *svr_;
  if (cfg_.max_connections < cfg_.http_threads) {
    return Status::Invalid("--max-connections (" + std::to_string(cfg_.max_connections) +
                           ") must be at least --http-threads (" +
                           std::to_string(cfg_.http_threads) + ")");
  }
  s.set_tcp_nodelay(true);  // else every answer waits ~40 ms for a delayed ACK
  s.set_keep_alive_max_count(1000000);
  s.set_keep_alive_timeout(10);
  s.set_read_timeout(10, 0);
  s.set_write_timeout(10, 0);
  s.set_payload_max_length(cfg_.max_body_bytes);
  // Not SO_REUSEPORT (cpp-httplib's default): a second sink on the same port
  // must fail to start rather than silently share the traffic.
  std::shared_ptr<int> listen_fd = std::make_shared<int>(-1);
  s.set_socket_options([listen_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (*listen_fd < 0) *listen_fd = sock;
  });
  if (port == 0) {
    port_ = s.bind_to_any_port(host);
    if (port_ < 0) return Status::IoError("cannot listen on " + cfg_.listen);
  } else {
    if (!s.bind_to_port(host, port)) {
      return Status::IoError("cannot listen on " + cfg_.listen +
                             " (address in use, or not an address of this host)");
    }
    port_ = port;
  }
  if (*listen_fd >= 0) ::listen(*listen_fd, kListenBacklog);  // Linux re-listen widens the queue
  thread_ = std::thread([this] { svr_->listen_after_bind(); });
  // Return only once the accept loop runs: cpp-httplib's stop() does nothing
  // before that, and a shutdown right after start would then never finish.
  for (int i = 0; i < 5000 && !svr_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!svr_->is_running()) return Status::Internal("the HTTP server did not start");
  return Status::Ok();
}

void HttpServer::Stop() {
  draining_ = true;
  if (svr_) svr_->stop();
  if (thread_.joinable()) thread_.join();
  dashboard_.reset();  // no handler runs any more
}

}  // namespace sink
