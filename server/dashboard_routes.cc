// GET / (the dashboard page and its files) and GET /api/* (the JSON it reads
// besides /reports/*). The page's files need no token: they hold no data,
// and the page asks for the token when an API answers 401.
//
//   /api/now           live sessions, ingest traffic of the last minutes,
//                      Kafka backlog, the sessions table's flush lag
//   /api/concurrency   one concurrency series (query/dashboard.h)
//   /api/sessions      the sessions explorer (query/explorer.h)
//   /api/session       one session's timeline (query/explorer.h)
//   /api/stalls        the stalls report's media rows
//   /api/users         users matching a search
//   /api/user          one user's page
//
// With --reports-from (ClickHouse), every panel but the ingest figures of
// /api/now and the timeline answers from ClickHouse: the fleet
// (query/clickhouse_dashboard.h). Each answer says where it came from in
// its Sessionsink-Data-Source header (clickhouse or local), and /api/now
// lists what stays local in "fleet".
#include <httplib.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "query/clickhouse_dashboard.h"
#include "query/dashboard.h"
#include "query/explorer.h"
#include "server/connection_guard.h"
#include "server/dashboard.h"
#include "server/http_server.h"
#include "server/http_util.h"
#include "store/json_text.h"

namespace sink {

namespace {

// No API answer may hold a thread and a read transaction longer than this:
// SQLite is interrupted and the request answered 503 (at a million sessions
// every answer takes well under a second; docs/dashboard.md).
constexpr auto kApiDeadline = std::chrono::seconds(10);

int StopAtDeadline(void* deadline) {
  return std::chrono::steady_clock::now() >
                 *static_cast<std::chrono::steady_clock::time_point*>(deadline)
             ? 1
             : 0;
}

// The headers every dashboard answer carries: nothing is cached (the data
// changes, the token may), nothing is framed elsewhere, and the page loads
// only its own files.
void SecurityHeaders(httplib::Response& res) {
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

QueryParams Params(const httplib::Request& req) {
  QueryParams q;
  for (const auto& [k, v] : req.params) q.emplace(k, v);  // the first of repeated keys
  return q;
}

// FLUSH LAG — how far the sessions table is behind the committed events.
// With the write-behind store (sessions flushed from memory after the
// events), WriterStats reports it; read those fields here, as /metrics
// does for sessionsink_sessions_flush_lag_seconds. The store of this build
// writes every session row in the commit of its events: no lag.
// How far the sessions table lags the committed events (written behind).
void AppendFlushLag(std::string* out, const WriterStats& w) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", static_cast<double>(w.flush_lag_ms) / 1000.0);
  *out += std::string("{\"seconds\":") + seconds +
          ",\"events\":" + std::to_string(w.unflushed_events) + "}";
}

// Where the answer to `path` comes from: ClickHouse with --reports-from,
// except the timeline; this sink's file otherwise.
const char* DataSource(const ServeConfig& cfg, const std::string& path) {
  return !cfg.reports_from.empty() && path != "/api/session" ? "clickhouse" : "local";
}

}  // namespace

DashboardState::DashboardState(std::function<TrafficCounters()> read) : read_(std::move(read)) {
  samples_.push_back(read_());
  thread_ = std::thread([this] { Run(); });
}

DashboardState::~DashboardState() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void DashboardState::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(kStepMs), [this] { return stop_; })) {
    lock.unlock();
    const TrafficCounters c = read_();
    lock.lock();
    samples_.push_back(c);
    if (samples_.size() > kSteps + 1) samples_.erase(samples_.begin());
  }
}

std::string DashboardState::TrafficJson() const {
  std::vector<TrafficCounters> s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = samples_;
  }
  s.push_back(read_());
  std::string out = "{\"step_ms\":" + std::to_string(kStepMs) + ",\"points\":[";
  for (size_t i = 1; i < s.size(); ++i) {
    const TrafficCounters &a = s[i - 1], &b = s[i];
    out += i > 1 ? ",{" : "{";
    out += "\"t\":" + std::to_string(a.at_ms) + ",\"ms\":" + std::to_string(b.at_ms - a.at_ms) +
           ",\"events\":" + std::to_string(b.events - a.events) +
           ",\"2xx\":" + std::to_string(b.ok - a.ok) +
           ",\"4xx\":" + std::to_string(b.client - a.client) +
           ",\"503\":" + std::to_string(b.refused - a.refused) +
           ",\"other\":" + std::to_string(b.other - a.other) + "}";
  }
  out += "]}";
  return out;
}

void HttpServer::DashboardRoutes() {
  httplib::Server& s = *svr_;
  dashboard_ = std::make_unique<DashboardState>([this] {
    TrafficCounters c;
    c.at_ms = clock_->NowMs();
    c.events = writer_->Stats().events_accepted;
    for (size_t i = 0; i < HttpCounters::kCodes.size(); ++i) {
      const int code = HttpCounters::kCodes[i];
      const uint64_t n = counters_->events_by_code[i].load();
      if (code >= 200 && code < 300) {
        c.ok += n;
      } else if (code >= 400 && code < 500) {
        c.client += n;
      } else if (code == 503) {
        c.refused += n;
      } else {
        c.other += n;
      }
    }
    return c;
  });

  for (const DashboardAsset& a : DashboardAssets()) {
    auto serve = [&a](const httplib::Request&, httplib::Response& res) {
      SecurityHeaders(res);
      if (a.content_type.rfind("text/html", 0) == 0) {
        res.set_header("Content-Security-Policy",
                       "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                       "base-uri 'none'; form-action 'none'");
      }
      res.set_content(a.body.data(), a.body.size(), std::string(a.content_type).c_str());
    };
    s.Get(std::string(a.path), serve);
    if (a.path == "/") s.Get("/index.html", serve);
  }

  // --reports-from: the panels that ClickHouse answers, for the fleet. Its
  // statements get the API's deadline too.
  const bool fleet = !cfg_.reports_from.empty();
  ClickHouseTarget ch{cfg_.reports_from, cfg_.reports_database};
  if (fleet) {
    ch.url += std::string(ch.url.find('?') != std::string::npos ? "&"
                          : ch.url.back() == '/'                ? "?"
                                                                : "/?") +
              "max_execution_time=" + std::to_string(kApiDeadline.count());
  }

  // A JSON API route: read access, a read-only connection with a deadline;
  // an error answered by HttpStatusFor, unless the handler set another
  // status (404) in *code.
  using Handler = std::function<Result<std::string>(Db&, const QueryParams&, int* code)>;
  auto api = [this, &s](const char* path, Handler h) {
    s.Get(path, [this, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
      RequestTimer timer(counters_->request_seconds[HttpCounters::kDashboard]);
      SecurityHeaders(res);
      res.set_header("Sessionsink-Data-Source", DataSource(cfg_, req.path));
      if (!Authorized(req, res, Access::kRead)) return;
      GuardedServer::Busy busy;  // the sink's own time is not the client's
      Result<Db> db = Db::Open(cfg_.db_path, false, /*read_only=*/true);
      if (!db.ok()) return AnswerError(res, db.status());
      if (Status st = db->Exec("PRAGMA busy_timeout=5000"); !st.ok()) return AnswerError(res, st);
      auto deadline = std::chrono::steady_clock::now() + kApiDeadline;
      sqlite3_progress_handler(db->get(), 10000, StopAtDeadline, &deadline);
      int code = 0;
      Result<std::string> body = h(db.value(), Params(req), &code);
      sqlite3_progress_handler(db->get(), 0, nullptr, nullptr);
      if (!body.ok()) {
        if (code == 0) return AnswerError(res, body.status());
        return SetError(res, code, body.status().message());
      }
      res.set_content(body.value(), kJsonType);
    });
  };

  api("/api/now", [this, fleet, ch](Db& db, const QueryParams& q, int*) -> Result<std::string> {
    std::optional<std::string> platform;
    if (auto it = q.find("platform"); it != q.end() && !it->second.empty()) {
      QueryParams only{{"platform", it->second}};
      Result<SessionFilter> f = ParseSessionFilter(only);
      if (!f.ok()) return f.status();
      platform = f->platform;
    }
    Result<std::string> live = fleet ? ClickHouseLiveJson(ch, platform) : LiveJson(db, platform);
    if (!live.ok()) return live.status();
    const WriterStats w = writer_->Stats();
    std::string out = "{\"now_ms\":" + std::to_string(clock_->NowMs());
    out += ",\n\"live\":" + live.value();
    out += ",\n\"traffic\":" + dashboard_->TrafficJson();
    out += ",\n\"totals\":{\"events_accepted\":" + std::to_string(w.events_accepted) +
           ",\"events_duplicate\":" + std::to_string(w.events_duplicate) +
           ",\"rejected\":" + std::to_string(w.items_rejected) +
           ",\"commits\":" + std::to_string(w.commits) +
           ",\"commit_failures\":" + std::to_string(w.commit_failures) +
           ",\"pending_events\":" + std::to_string(w.pending_events) + "}";
    out += ",\n\"flush_lag\":";
    AppendFlushLag(&out, w);
    out += ",\n\"ready\":";
    out += draining_ ? "false" : writer_->Healthy() ? "true" : "false";
    out += ",\n\"kafka\":";
    if (relay_ == nullptr) {
      out += "null";
    } else {
      const RelayStats r = relay_->Stats();
      out += "{\"backlog_events\":" + std::to_string(r.backlog_events) +
             ",\"oldest_undelivered_age_ms\":" + std::to_string(r.oldest_undelivered_age_ms) +
             ",\"delivered\":" + std::to_string(r.events_delivered) +
             ",\"delivery_errors\":" + std::to_string(r.delivery_errors) +
             ",\"dead_letters\":" + std::to_string(r.dead_letters) + ",\"last_error\":";
      AppendJsonString(&out, r.last_error);
      out += "}";
    }
    // Where the panels come from: null (this sink's file), or ClickHouse
    // for everything but what it lists as local.
    out += ",\n\"fleet\":";
    if (fleet) {
      out += "{\"source\":\"clickhouse\",\"database\":";
      AppendJsonString(&out, cfg_.reports_database);
      out += std::string(",\"local_only\":") + kFleetLocalOnly + "}";
    } else {
      out += "null";
    }
    out += "}\n";
    return out;
  });
  api("/api/concurrency", [fleet, ch](Db& db, const QueryParams& q, int*) {
    return fleet ? ClickHouseConcurrencyJson(ch, q) : ConcurrencyJson(db, q);
  });
  api("/api/sessions", [fleet, ch](Db& db, const QueryParams& q, int*) -> Result<std::string> {
    Result<ExplorerQuery> e = ParseExplorerQuery(q);
    if (!e.ok()) return e.status();
    return fleet ? ClickHouseListSessionsJson(ch, e.value()) : ListSessionsJson(db, e.value());
  });
  // The timeline is this sink's own, also with --reports-from (ClickHouse
  // has no stall intervals, and its events are not indexed by session).
  api("/api/session", [fleet](Db& db, const QueryParams& q, int* code) -> Result<std::string> {
    auto it = q.find("id");
    if (it == q.end() || it->second.empty())
      return Status::Invalid("id: the session id is required");
    Result<std::optional<std::string>> t = SessionTimelineJson(db, it->second);
    if (!t.ok()) return t.status();
    if (!t.value()) {
      *code = 404;
      return Status::Invalid("no session with id '" + it->second + "'" +
                             (fleet ? " in this sink's file (the timeline is not on ClickHouse: "
                                      "it shows the sessions of this sink only)"
                                    : ""));
    }
    std::string body = std::move(*t.value());
    if (fleet) body.insert(1, "\"data_source\":\"local\",");
    return body;
  });
  api("/api/stalls", [fleet, ch](Db& db, const QueryParams& q, int*) {
    return fleet ? ClickHouseStallsByMediaJson(ch, q) : StallsByMediaJson(db, q);
  });
  api("/api/users", [fleet, ch](Db& db, const QueryParams& q, int*) {
    return fleet ? ClickHouseUsersJson(ch, q) : UsersJson(db, q);
  });
  api("/api/user", [fleet, ch](Db& db, const QueryParams& q, int*) {
    return fleet ? ClickHouseUserJson(ch, q) : UserJson(db, q);
  });
}

}  // namespace sink
