// GET /readyz and GET /reports[/NAME]: what the sink tells about itself and
// the reports of query/ over its database.
#include <httplib.h>

#include <charconv>
#include <cstdio>
#include <optional>
#include <string>

#include "query/clickhouse.h"
#include "query/report_command.h"
#include "server/connection_guard.h"
#include "server/http_server.h"
#include "server/http_util.h"
#include "store/json_text.h"
#include "store/text.h"

namespace sink {

void HttpServer::HandleReadyz(httplib::Response& res) const {
  // Readiness is about taking events; a Kafka outage only grows the backlog.
  // A relay that cannot even create its producer is a failure of the sink's
  // own, which an operator must see (the events still commit meanwhile).
  std::string status = "ready";
  const WriterStats w = writer_->Stats();
  if (draining_) {
    status = "draining";
  } else if (!writer_->Healthy()) {
    status = "the last database commit failed";
  } else if (relay_ != nullptr && !relay_->Stats().producer_up) {
    status = "the Kafka producer cannot be created";
  } else if (w.disk_full) {
    status = "the store is at --max-disk: " + w.retention_error;
  } else if (!w.retention_error.empty()) {
    status = "retention cannot do its work: " + w.retention_error;
  } else if (!w.compact_error.empty()) {
    status = "closed log segments cannot be compacted: " + w.compact_error;
  } else if (!w.log_error.empty()) {
    status = "the event log cannot open its next segment: " + w.log_error;
  } else if (!w.checkpoint_error.empty()) {
    status = "the WAL cannot be checkpointed: " + w.checkpoint_error;
  } else if (!w.sessions_error.empty()) {
    status = "the sessions table cannot follow the log";
  }
  std::string body = "{\"status\":";
  AppendJsonString(&body, status);
  char lag[32];
  std::snprintf(lag, sizeof lag, "%.3f", static_cast<double>(w.flush_lag_ms) / 1000.0);
  body += std::string(",\"sessions\":{\"flush_lag_seconds\":") + lag +
          ",\"unflushed_events\":" + std::to_string(w.unflushed_events);
  if (!w.sessions_error.empty()) {
    body += ",\"error\":";
    AppendJsonString(&body, w.sessions_error);
  }
  body += "}";
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
  res.set_content(body, kJsonType);
  if (res.status == 503) res.set_header("Retry-After", kRetryAfterSeconds);
}

void HttpServer::HandleFlush(httplib::Response& res) const {
  Status st = [&] {
    GuardedServer::Busy busy;  // the flush's time is not the client's
    return writer_->FlushNow();
  }();
  if (!st.ok()) return AnswerError(res, st);
  const WriterStats w = writer_->Stats();
  res.set_content("{\"watermark\":" + std::to_string(w.watermark) + "}\n", kJsonType);
}

void HttpServer::HandleReportList(httplib::Response& res) const {
  std::string body = "[";
  for (const ReportInfo& r : Reports()) {
    body += body.size() > 1 ? ",\n {\"name\":" : "\n {\"name\":";
    AppendJsonString(&body, r.name);
    body += ",\"summary\":";
    AppendJsonString(&body, r.summary);
    body += "}";
  }
  body += "\n]\n";
  res.set_content(body, kJsonType);
}

void HttpServer::HandleReport(const httplib::Request& req, httplib::Response& res) const {
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
    const std::optional<int64_t> v = WholeInt64(*limit);
    if (!v) return SetError(res, 400, "limit: expected a number, got '" + *limit + "'");
    r.limit = *v;
  }
  // --reports-from: the fleet's answer, where ClickHouse has the report.
  const bool fleet = !cfg_.reports_from.empty() && HasClickHouseReport(r.name);
  if (FindReport(r.name) == nullptr && !fleet) {
    return SetError(res, 404, "no report named " + r.name);
  }
  // Where the answer comes from: the fleet, or (a report ClickHouse does
  // not have, or no --reports-from) this sink's file.
  res.set_header("Sessionsink-Data-Source", fleet ? "clickhouse" : "local");
  Result<std::string> text = [&] {
    GuardedServer::Busy busy;  // the report's time is not the client's
    if (fleet) {
      return RunClickHouseReportText({cfg_.reports_from, cfg_.reports_database}, r);
    }
    return RunReportText(cfg_.db_path, r);
  }();
  if (!text.ok()) {
    return AnswerError(res, text.status());
  }
  res.set_content(text.value(), r.format == "csv" ? "text/csv; charset=utf-8" : kJsonType);
}

}  // namespace sink
