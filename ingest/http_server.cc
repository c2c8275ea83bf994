#include "ingest/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "ingest/connection_guard.h"
#include "ingest/event_parser.h"
#include "ingest/nginx_rtmp_endpoint.h"
#include "ingest/platforms/platforms.h"
#include "query/report_command.h"
#include "store/json_text.h"

namespace sink {

namespace {

constexpr const char* kJson = "application/json";
// Seconds a client should wait before resending after a 503.
constexpr const char* kRetryAfterSeconds = "1";
// The kernel's accept queue; cpp-httplib hard-wires 5, which drops SYNs
// (1 s retransmits) as soon as a few media servers reconnect together.
constexpr int kListenBacklog = 1024;

}  // namespace

// Request counters for /metrics, by route and answer.
struct HttpCounters {
  static constexpr std::array<int, 10> kCodes = {200, 400, 401, 404, 405, 413, 415, 500, 503, 0};
  std::array<std::atomic<uint64_t>, kCodes.size()> events_by_code{};
  std::atomic<uint64_t> body_bytes{0};
  std::atomic<uint64_t> request_us_total{0};

  void Count(int code) {
    for (size_t i = 0; i < kCodes.size(); ++i) {
      if (kCodes[i] == code || kCodes[i] == 0) {
        ++events_by_code[i];
        return;
      }
    }
  }
};

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

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Always walk the expected secret's full length; fold the length difference in.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

namespace {

void SetError(httplib::Response& res, int code, std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(&body, message);
  body += "}\n";
  res.status = code;
  res.set_content(body, kJson);
  if (code == 503) res.set_header("Retry-After", kRetryAfterSeconds);
}

// A request whose body we did not read leaves bytes on the socket; close the
// connection after answering instead of parsing them as the next request.
void CloseAfter(httplib::Response& res) { res.set_header("Connection", "close"); }

}  // namespace

HttpServer::HttpServer(const ServeConfig& cfg, Writer* writer, const Relay* relay,
                       const Clock* clock)
    : cfg_(cfg),
      writer_(writer),
      relay_(relay),
      clock_(clock),
      svr_(std::make_unique<GuardedServer>(
          ConnectionLimits{cfg.http_threads, static_cast<size_t>(cfg.max_connections),
                           cfg.max_connections_per_client, cfg.client_timeout_ms})),
      counters_(std::make_unique<HttpCounters>()),
      refusals_(std::make_unique<RefusalLog>()),
      nginx_rtmp_(std::make_unique<NginxRtmpEndpoint>(cfg, writer, clock)) {}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Authorized(const httplib::Request& req, httplib::Response& res) const {
  if (cfg_.token.empty()) return true;
  std::string given;
  const std::string auth = req.get_header_value("Authorization");
  if (auth.size() > 7 &&
      (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0)) {
    given = auth.substr(7);
  } else if (req.has_param("token")) {
    given = req.get_param_value("token");
  }
  if (!given.empty() && ConstantTimeEquals(given, cfg_.token)) return true;
  SetError(res, 401,
           given.empty() ? "missing credentials: send Authorization: Bearer <token> or "
                           "?token=<token>"
                         : "invalid token");
  res.set_header("WWW-Authenticate", "Bearer");
  return false;
}

void HttpServer::HandleEvents(Source source, const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& read) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t received_at = clock_->NowMs();
  auto finish = [&](int code) {
    counters_->Count(code);
    counters_->request_us_total += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count());
  };

  const bool allowed =
      source == Source::kStreampixel ? BrowserAuthorized(req, res) : Authorized(req, res);
  if (!allowed) {
    CloseAfter(res);
    return finish(401);
  }

  uint64_t declared = 0;
  if (req.has_header("Content-Length")) {
    const std::string v = req.get_header_value("Content-Length");
    std::from_chars(v.data(), v.data() + v.size(), declared);
  }
  if (declared > cfg_.max_body_bytes) {
    SetError(res, 413,
             "body of " + std::to_string(declared) + " bytes exceeds the limit of " +
                 std::to_string(cfg_.max_body_bytes) + " bytes");
    CloseAfter(res);
    return finish(413);
  }
  std::string body;
  body.reserve(declared + simdjson::SIMDJSON_PADDING);
  bool too_large = false;
  const bool complete = read([&](const char* data, size_t n) {
    if (body.size() + n > cfg_.max_body_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  counters_->body_bytes += body.size();
  if (too_large || res.status == 413) {
    SetError(res, 413,
             "body exceeds the limit of " + std::to_string(cfg_.max_body_bytes) +
                 " bytes (after decoding)");
    CloseAfter(res);
    return finish(413);
  }
  if (!complete && res.status == 415) {
    SetError(res, 415,
             "unsupported Content-Encoding '" + req.get_header_value("Content-Encoding") +
                 "' (gzip and deflate are accepted)");
    CloseAfter(res);
    return finish(415);
  }

  WriteBatch batch;
  batch.received_at = received_at;
  batch.remote_addr = req.remote_addr;
  std::string unreadable;
  if (!complete) {
    unreadable = "could not read the body: truncated, or corrupt Content-Encoding data";
    CloseAfter(res);
  } else {
    const size_t size = body.size();
    body.append(simdjson::SIMDJSON_PADDING, ' ');
    const simdjson::padded_string_view padded(body.data(), size, body.size());
    Result<ParsedBody> parsed = Status::Invalid("");
    switch (source) {
      case Source::kFlussonic:
        parsed = ParseBody(padded);
        break;
      case Source::kGameLift:
        parsed = ParseGameLiftBody(padded);
        break;
      case Source::kZego:
        parsed = ParseZegoBody(
            std::string_view(body.data(), size),
            req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) ==
                0);
        break;
      case Source::kStreampixel:
        parsed = ParseStreampixelBody(padded);
        break;
    }
    body.resize(size);
    if (parsed.ok()) {
      batch.events = std::move(parsed->events);
      batch.rejects = std::move(parsed->rejects);
    } else {
      unreadable = parsed.status().message();
    }
  }
  // The per-item errors for the answer (the rejects move into the batch).
  std::string errors;
  for (const Reject& r : batch.rejects) {
    if (!errors.empty()) errors += ',';
    errors += "{\"index\":" + std::to_string(r.index) + ",\"reason\":";
    AppendJsonString(&errors, r.reason);
    errors += '}';
  }
  if (!unreadable.empty()) {
    Reject r;
    r.index = -1;
    r.reason = unreadable;
    r.body = std::move(body);
    batch.rejects.push_back(std::move(r));
  }

  Result<Writer::Future> queued = writer_->Submit(std::move(batch));
  // Not stored, so the client resends; the log says why (rate-limited).
  auto refuse = [&](std::string_view why) {
    refusals_->Refused(why);
    SetError(res, 503, why);
    finish(503);
  };
  if (!queued.ok()) return refuse(queued.status().message());
  Writer::Future& f = queued.value();
  GuardedServer::Busy busy;  // the commit's time is not the client's
  if (f.wait_for(std::chrono::milliseconds(cfg_.request_timeout_ms)) != std::future_status::ready) {
    // Not lost: if the commit lands later, the resend is a duplicate.
    return refuse("timed out waiting for the database commit");
  }
  Result<WriteOutcome> outcome = f.get();
  if (!outcome.ok()) return refuse(outcome.status().message());
  refusals_->Committed();
  if (!unreadable.empty()) {
    SetError(res, 400, unreadable);
    return finish(400);
  }
  const WriteOutcome& o = outcome.value();
  std::string out = "{\"accepted\":" + std::to_string(o.accepted) +
                    ",\"duplicates\":" + std::to_string(o.duplicates) +
                    ",\"rejected\":" + std::to_string(o.rejected) + ",\"errors\":[" + errors +
                    "]}\n";
  res.status = 200;
  res.set_content(out, kJson);
  return finish(200);
}

bool HttpServer::BrowserAuthorized(const httplib::Request& req, httplib::Response& res) const {
  const std::string origin = req.get_header_value("Origin");
  for (const std::string& o : cfg_.streampixel_origins) {
    if (!origin.empty() && origin == o) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
      return true;
    }
  }
  if (!cfg_.streampixel_origins.empty() && cfg_.token.empty()) {
    SetError(res, 401,
             origin.empty() ? "no Origin header: this endpoint takes posts from the pages "
                              "listed in --streampixel-origins"
                            : "origin " + origin + " is not in --streampixel-origins");
    return false;
  }
  return Authorized(req, res);
}

void HttpServer::Routes() {
  httplib::Server& s = *svr_;

  const std::pair<const char*, Source> kRoutes[] = {
      {"/events", Source::kFlussonic},
      {"/events/gamelift", Source::kGameLift},
      {"/events/zego", Source::kZego},
      {"/events/streampixel", Source::kStreampixel},
  };
  for (const auto& [path, source] : kRoutes) {
    s.Post(path, [this, source = source](const httplib::Request& req, httplib::Response& res,
                                         const httplib::ContentReader& read) {
      HandleEvents(source, req, res, read);
    });
  }

  // nginx-rtmp callbacks: always 2xx once read (ingest/nginx_rtmp_endpoint.h).
  s.Post(NginxRtmpEndpoint::kPattern, [this](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& read) {
    counters_->Count(nginx_rtmp_->HandlePost(req, res, read));
  });
  s.Get(NginxRtmpEndpoint::kPattern, [this](const httplib::Request& req, httplib::Response& res) {
    counters_->Count(nginx_rtmp_->HandleGet(req, res));
  });

  auto method_not_allowed = [this](const httplib::Request&, httplib::Response& res) {
    SetError(res, 405, "use POST for /events");
    res.set_header("Allow", "POST");
    counters_->Count(405);
  };
  s.Get("/events", method_not_allowed);
  s.Put("/events", method_not_allowed);
  s.Delete("/events", method_not_allowed);
  s.Patch("/events", method_not_allowed);
  s.Options("/events", method_not_allowed);

  // Reports over the same database (read-only connection per request).
  s.Get("/reports", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    std::string body = "[";
    for (const ReportInfo& r : Reports()) {
      body += body.size() > 1 ? ",\n {\"name\":" : "\n {\"name\":";
      AppendJsonString(&body, r.name);
      body += ",\"summary\":";
      AppendJsonString(&body, r.summary);
      body += "}";
    }
    body += "\n]\n";
    res.set_content(body, kJson);
  });
  s.Get(R"(/reports/([A-Za-z0-9_-]+))",
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!Authorized(req, res)) return;
          ReportRequest r;
          r.name = req.matches[1];
          r.format = req.has_param("format") ? req.get_param_value("format") : "json";
          auto opt = [&req](const char* key) -> std::optional<std::string> {
            if (!req.has_param(key)) return std::nullopt;
            return req.get_param_value(key);
          };
          r.from = opt("from");
          r.to = opt("to");
          r.now = opt("now");
          r.media = opt("media");
          r.user = opt("user");
          r.server = opt("server");
          r.platform = opt("platform");
          r.bucket = opt("bucket");
          if (std::optional<std::string> limit = opt("limit")) {
            int64_t v = -1;
            auto [p, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), v);
            if (ec != std::errc() || p != limit->data() + limit->size()) {
              return SetError(res, 400, "limit: expected a number, got '" + *limit + "'");
            }
            r.limit = v;
          }
          if (FindReport(r.name) == nullptr) return SetError(res, 404, "no report named " + r.name);
          Result<std::string> text = [&] {
            GuardedServer::Busy busy;  // the report's time is not the client's
            return RunReportText(cfg_.db_path, r);
          }();
          if (!text.ok()) {
            const int code = text.status().code() == Status::Code::kInvalid ? 400 : 503;
            return SetError(res, code, text.status().message());
          }
          res.set_content(text.value(), r.format == "csv" ? "text/csv; charset=utf-8" : kJson);
        });

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", kJson);
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    // Readiness is about taking events; a Kafka outage only grows the backlog.
    std::string status = "ready";
    if (draining_) {
      status = "draining";
    } else if (!writer_->Healthy()) {
      status = "the last database commit failed";
    }
    std::string body = "{\"status\":";
    AppendJsonString(&body, status);
    if (relay_ != nullptr) {
      const RelayStats r = relay_->Stats();
      body += ",\"kafka\":{\"backlog_events\":" + std::to_string(r.backlog_events) +
              ",\"oldest_undelivered_age_ms\":" + std::to_string(r.oldest_undelivered_age_ms) +
              ",\"last_error\":";
      AppendJsonString(&body, r.last_error);
      body += "}";
    }
    body += "}\n";
    res.status = status == "ready" ? 200 : 503;
    res.set_content(body, kJson);
    if (res.status == 503) res.set_header("Retry-After", kRetryAfterSeconds);
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const WriterStats w = writer_->Stats();
    std::string m;
    auto line = [&m](std::string_view name, std::string_view help, std::string_view type,
                     uint64_t v) {
      m += "# HELP ";
      m += name;
      m += ' ';
      m += help;
      m += "\n# TYPE ";
      m += name;
      m += ' ';
      m += type;
      m += '\n';
      m += name;
      m += ' ';
      m += std::to_string(v);
      m += '\n';
    };
    m += "# HELP sessionsink_http_requests_total POST /events requests by answer.\n";
    m += "# TYPE sessionsink_http_requests_total counter\n";
    for (size_t i = 0; i < HttpCounters::kCodes.size(); ++i) {
      const int code = HttpCounters::kCodes[i];
      m += "sessionsink_http_requests_total{code=\"" +
           (code ? std::to_string(code) : std::string("other")) + "\"} " +
           std::to_string(counters_->events_by_code[i].load()) + "\n";
    }
    line("sessionsink_http_body_bytes_total", "Request body bytes read (decoded).", "counter",
         counters_->body_bytes.load());
    line("sessionsink_http_request_seconds_sum_us", "Total POST /events handling time, µs.",
         "counter", counters_->request_us_total.load());
    line("sessionsink_events_accepted_total", "Distinct events committed.", "counter",
         w.events_accepted);
    line("sessionsink_events_duplicate_total", "Events already stored (resends).", "counter",
         w.events_duplicate);
    line("sessionsink_rejected_total", "Items and bodies stored in `rejected`.", "counter",
         w.items_rejected);
    line("sessionsink_commits_total", "Group commits.", "counter", w.commits);
    line("sessionsink_commit_failures_total", "Transactions rolled back.", "counter",
         w.commit_failures);
    line("sessionsink_commit_us_total", "Time spent in transactions, µs.", "counter",
         w.commit_us_total);
    line("sessionsink_batches_total", "Requests written (batches).", "counter", w.batches);
    line("sessionsink_sessions_written_total", "Session rows upserted.", "counter",
         w.sessions_written);
    line("sessionsink_sessions_timed_out_total", "Sessions finished by the idle timeout.",
         "counter", w.sessions_timed_out);
    line("sessionsink_sessions_server_restart_total",
         "Sessions finished because their server restarted.", "counter", w.sessions_server_restart);
    line("sessionsink_queue_refusals_total", "Requests refused because the queue was full.",
         "counter", w.queue_refusals);
    line("sessionsink_pending_events", "Events queued for the writer.", "gauge", w.pending_events);
    const ConnectionStats c = svr_->stats();
    line("sessionsink_http_connections", "Connections being served now.", "gauge", c.open);
    line("sessionsink_http_connections_timed_out_total",
         "Connections closed because a request did not arrive within --client-timeout.", "counter",
         c.timed_out);
    line("sessionsink_http_connections_refused_total",
         "Connections answered 503 at once: over --max-connections-per-client.", "counter",
         c.refused_per_client);
    line("sessionsink_http_connections_refused_queue_full_total",
         "Connections answered 503 at once: over --max-connections.", "counter",
         c.refused_queue_full);
    line("sessionsink_http_connections_unguarded_total",
         "Connections served without the limits above (their socket was not seen at accept).",
         "counter", c.unguarded);
    if (relay_ != nullptr) {
      const RelayStats r = relay_->Stats();
      line("sessionsink_kafka_backlog_events", "Committed events not yet delivered to Kafka.",
           "gauge", static_cast<uint64_t>(r.backlog_events));
      line("sessionsink_kafka_oldest_undelivered_age_ms",
           "Age of the oldest event not yet delivered to Kafka (0 when caught up).", "gauge",
           static_cast<uint64_t>(r.oldest_undelivered_age_ms));
      line("sessionsink_kafka_events_delivered_total", "Event messages acknowledged by Kafka.",
           "counter", r.events_delivered);
      line("sessionsink_kafka_sessions_delivered_total", "Session messages acknowledged by Kafka.",
           "counter", r.sessions_delivered);
      line("sessionsink_kafka_delivery_errors_total",
           "Failed delivery reports (each is produced again from SQLite).", "counter",
           r.delivery_errors);
      line("sessionsink_kafka_chunk_retries_total", "Relay chunks produced again after a failure.",
           "counter", r.chunk_retries);
      line("sessionsink_kafka_dead_letters_total",
           "Messages Kafka refused for good (see kafka_dead_letters).", "counter", r.dead_letters);
      line("sessionsink_kafka_events_cursor", "Highest events.seq delivered.", "gauge",
           static_cast<uint64_t>(r.events_cursor));
    }
    nginx_rtmp_->AppendMetrics(&m);
    res.set_content(m, "text/plain; version=0.0.4");
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
}

}  // namespace sink
