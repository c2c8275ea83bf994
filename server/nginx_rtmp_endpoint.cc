#include "server/nginx_rtmp_endpoint.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "server/connection_guard.h"
#include "server/http_server.h"
#include "server/http_util.h"
#include "server/status_codes.h"
#include "store/json_text.h"
#include "store/log_fields.h"
#include "store/log_reader.h"
#include "store/sqlite.h"

namespace sink {

namespace {

constexpr int64_t kLogEveryMs = 10000;

int Answer(httplib::Response& res, int code, std::string_view key, std::string_view message) {
  std::string body = "{";
  AppendJsonString(&body, key);
  body += ':';
  AppendJsonString(&body, message);
  body += "}\n";
  res.status = code;
  res.set_content(body, kJsonType);
  return code;
}

NginxRtmpOptions Options(const ServeConfig& cfg) {
  NginxRtmpOptions o;
  o.token_arg = cfg.nginx_rtmp_token_arg;
  o.user_arg = cfg.nginx_rtmp_user_arg;
  o.retention_ms = cfg.session_timeout_ms;
  return o;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NginxRtmpEndpoint::NginxRtmpEndpoint(const ServeConfig& cfg, Writer* writer, const Clock* clock,
                                     const AccessHolder* access)
    : cfg_(cfg),
      own_access_(AccessRules::From(cfg)),
      access_(access != nullptr ? access : &own_access_),
      writer_(writer),
      clock_(clock),
      adapter_(Options(cfg), NowUs()) {}

NginxRtmpEndpoint::~NginxRtmpEndpoint() = default;

Status NginxRtmpEndpoint::Restore() {
  // The recent nginx-rtmp callbacks, from the log's segments (their
  // events_nginx_rtmp index holds exactly these rows), in arrival order.
  Result<LogReader> log = LogReader::Open(cfg_.db_path);
  if (!log.ok()) return log.status();
  std::vector<std::pair<int64_t, std::string>> callbacks;
  SINK_RETURN_IF_ERROR(log->ForEachReceivedSince(clock_->NowMs() - cfg_.session_timeout_ms,
                                                 "nginx-rtmp.*", [&](const LogRecord& r) {
                                                   callbacks.emplace_back(r.received_at, r.body);
                                                   return Status::Ok();
                                                 }));
  std::stable_sort(callbacks.begin(), callbacks.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [at, body] : callbacks) adapter_.Restore(body, at);
  const size_t n = callbacks.size();
  if (n > 0) {
    spdlog::info("nginx-rtmp: {} connections remembered from {} callbacks of the last {} s",
                 adapter_.tracked(), n, cfg_.session_timeout_ms / 1000);
  }
  return Status::Ok();
}

bool NginxRtmpEndpoint::Authorized(const httplib::Request& req, bool get) const {
  const std::shared_ptr<const AccessRules> rules = access_->Get();
  if (rules->tokens.empty()) return true;
  std::string given = req.matches.size() > 2 ? std::string(req.matches[2]) : std::string();
  const std::string auth = req.get_header_value("Authorization");
  if (given.empty()) given = std::string(BearerToken(auth));
  // With GET the query is the callback itself, and a client's stream
  // arguments may hold a `token` of its own: only POST takes ?token=.
  if (given.empty() && !get && req.has_param("token")) given = req.get_param_value("token");
  return !given.empty() && rules->Grants(given, /*read=*/false);
}

int NginxRtmpEndpoint::HandlePost(const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& read) {
  std::string body;
  bool too_large = false;
  const bool complete = read([&](const char* data, size_t n) {
    if (body.size() + n > kMaxCallbackBytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large) {
    res.set_header("Connection", "close");
    return Answer(res, 413, "error", "larger than any nginx-rtmp callback");
  }
  if (!complete) {
    res.set_header("Connection", "close");
    return Answer(res, 400, "error", "could not read the body");
  }
  if (!Authorized(req, false)) return Answer(res, 401, "error", "missing or invalid token");
  return Handle(req, res, body);
}

int NginxRtmpEndpoint::HandleGet(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, true)) return Answer(res, 401, "error", "missing or invalid token");
  // The raw query, read like a POST body (cpp-httplib's parsed parameters
  // would decode '+' as a space).
  const size_t q = req.target.find('?');
  return Handle(
      req, res,
      q == std::string::npos ? std::string_view() : std::string_view(req.target).substr(q + 1));
}

int NginxRtmpEndpoint::Handle(const httplib::Request& req, httplib::Response& res,
                              std::string_view form) {
  const int64_t received_at = clock_->NowMs();
  const std::string instance = req.matches.size() > 1 ? std::string(req.matches[1]) : "";
  if (!ValidInstance(instance)) {
    return Answer(res, 404, "error",
                  "instance names in /events/nginx-rtmp/<instance> are 1-64 of [A-Za-z0-9._-]");
  }
  WriteBatch batch;
  batch.received_at = received_at;
  batch.remote_addr = req.remote_addr;
  Result<ParsedBody> parsed = adapter_.Callback(instance, form, received_at);
  std::string unreadable;
  if (parsed.ok()) {
    batch.events = std::move(parsed->events);
  } else {
    unreadable = parsed.status().message();
    Reject r;
    r.index = -1;
    r.reason = unreadable;
    r.body = std::string(form);
    r.server = instance;
    batch.rejects.push_back(std::move(r));
  }
  // What to forget if it is not stored (the batch moves into the writer).
  const std::vector<Event> events = batch.events;

  Result<Writer::Future> queued = writer_->Submit(std::move(batch));
  if (!queued.ok()) return Unrecorded(kRefused, queued.status().message(), events, res);
  Writer::Future& f = queued.value();
  GuardedServer::Busy busy;  // the commit's time is not the client's
  const int64_t wait = std::min<int64_t>(cfg_.request_timeout_ms, kAnswerWithinMs);
  if (f.wait_for(std::chrono::milliseconds(wait)) != std::future_status::ready) {
    return Unrecorded(kTimeout, "the commit took longer than " + std::to_string(wait) + " ms", {},
                      res);
  }
  Result<WriteOutcome> outcome = f.get();
  if (!outcome.ok()) return Unrecorded(kFailed, outcome.status().message(), events, res);
  if (!parsed.ok()) return Answer(res, HttpStatusFor(parsed.status()), "error", unreadable);
  res.status = 200;
  res.set_content("{\"recorded\":true,\"events\":" + std::to_string(events.size()) + "}\n",
                  kJsonType);
  return 200;
}

int NginxRtmpEndpoint::Unrecorded(int cause, std::string_view why, const std::vector<Event>& events,
                                  httplib::Response& res) {
  ++unrecorded_[cause];
  // Its sessions were not stored: the next call of the connection starts
  // its own rather than joining a session whose start is missing. (After a
  // timeout the commit may still land, so nothing is forgotten then.)
  adapter_.Forget(events);
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    ++since_log_;
    const int64_t now = clock_->NowMs();
    if (last_log_ms_ == 0 || now - last_log_ms_ >= kLogEveryMs) {
      LogFields f{{"route", "/events/nginx-rtmp"}, {"status", 200}, {"count", since_log_}};
      spdlog::warn(
          "nginx-rtmp: answered 200 without storing {} callback{} (nginx would drop the client "
          "on any other answer): {}",
          since_log_, since_log_ == 1 ? "" : "s", why);
      last_log_ms_ = now;
      since_log_ = 0;
    }
  }
  return Answer(res, 200, "recorded", "false");
}

void NginxRtmpEndpoint::AppendMetrics(std::string* m) const {
  static constexpr const char* kCauseName[kCauses] = {"refused", "failed", "timeout"};
  *m +=
      "# HELP sessionsink_unrecorded_callbacks_total nginx-rtmp callbacks answered 200 without "
      "being stored (nginx drops the client on any other answer and never resends), by cause: "
      "refused (writer queue full, shutting down), failed (the commit failed), timeout (no "
      "commit within 5 s; it may still have landed).\n"
      "# TYPE sessionsink_unrecorded_callbacks_total counter\n";
  for (int i = 0; i < kCauses; ++i) {
    *m += "sessionsink_unrecorded_callbacks_total{cause=\"" + std::string(kCauseName[i]) + "\"} " +
          std::to_string(unrecorded_[i].load()) + "\n";
  }
  *m +=
      "# HELP sessionsink_nginx_rtmp_connections nginx-rtmp connections whose sessions the sink "
      "remembers (to give later callbacks their session).\n"
      "# TYPE sessionsink_nginx_rtmp_connections gauge\n"
      "sessionsink_nginx_rtmp_connections " +
      std::to_string(adapter_.tracked()) + "\n";
}

}  // namespace sink
