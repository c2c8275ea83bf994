// GET /metrics: the sink's counters and gauges in Prometheus' text format.
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/connection_guard.h"
#include "server/http_server.h"
#include "server/http_util.h"
#include "server/nginx_rtmp_endpoint.h"

namespace sink {

namespace {

// A number as Prometheus reads it: the shortest text that reads back exactly.
std::string Num(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void Header(std::string* m, std::string_view name, std::string_view help, std::string_view type) {
  *m += "# HELP ";
  *m += name;
  *m += ' ';
  *m += help;
  *m += "\n# TYPE ";
  *m += name;
  *m += ' ';
  *m += type;
  *m += '\n';
}

// The _bucket (cumulative, le in seconds), _sum and _count lines of one
// histogram; `labels` is empty or `key="value"`.
void HistogramLines(std::string* m, std::string_view name, std::string_view labels,
                    const LatencyHistogram& h) {
  const std::string sep = labels.empty() ? "" : std::string(labels) + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= LatencyHistogram::kBounds.size(); ++i) {
    cumulative += h.BucketCount(i);
    const std::string le =
        i < LatencyHistogram::kBounds.size() ? Num(LatencyHistogram::kBounds[i]) : "+Inf";
    *m += std::string(name) + "_bucket{" + sep + "le=\"" + le + "\"} " +
          std::to_string(cumulative) + "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  *m += std::string(name) + "_sum" + braces + " " + Num(h.SumSeconds()) + "\n";
  *m += std::string(name) + "_count" + braces + " " + std::to_string(cumulative) + "\n";
}

// Appends one metric line (with its HELP and TYPE) to a page.
struct Line {
  std::string* m;
  void operator()(std::string_view name, std::string_view help, std::string_view type,
                  uint64_t v) const {
    Header(m, name, help, type);
    *m += name;
    *m += ' ';
    *m += std::to_string(v);
    *m += '\n';
  }
};
struct SecondsGauge {
  std::string* m;
  void operator()(std::string_view name, std::string_view help, double v) const {
    Header(m, name, help, "gauge");
    *m += std::string(name) + " " + Num(v) + "\n";
  }
};

// The log writer's commits and the sessions writer's flushes.
void AppendWriterMetrics(std::string& m, const WriterStats& w) {
  Line line{&m};
  SecondsGauge gauge_seconds{&m};

  line("sessionsink_events_accepted_total", "Distinct events committed.", "counter",
       w.events_accepted);
  line("sessionsink_events_duplicate_total", "Events already stored (resends).", "counter",
       w.events_duplicate);
  line("sessionsink_rejected_total", "Items and bodies stored in `rejected`.", "counter",
       w.items_rejected);
  line("sessionsink_commits_total", "Group commits.", "counter", w.commits);
  line("sessionsink_commit_failures_total", "Transactions rolled back.", "counter",
       w.commit_failures);
  Header(&m, "sessionsink_commit_duration_seconds",
         "Time of each successful group commit (BEGIN to COMMIT).", "histogram");
  HistogramLines(&m, "sessionsink_commit_duration_seconds", "", w.commit_seconds);
  line("sessionsink_batches_total", "Requests written (batches).", "counter", w.batches);
  line("sessionsink_sessions_written_total", "Session rows written by flushes.", "counter",
       w.sessions_written);
  gauge_seconds("sessionsink_sessions_flush_lag_seconds",
                "How long the oldest change not yet in the sessions table has waited (0: the "
                "table is current).",
                static_cast<double>(w.flush_lag_ms) / 1000.0);
  line("sessionsink_sessions_unflushed_events",
       "Committed events merged in memory whose sessions are not yet in the table.", "gauge",
       static_cast<uint64_t>(w.unflushed_events));
  line("sessionsink_sessions_watermark", "Every event up to this seq is in the sessions table.",
       "gauge", static_cast<uint64_t>(w.watermark));
  line("sessionsink_session_flushes_total", "Flush transactions committed.", "counter", w.flushes);
  line("sessionsink_session_flush_failures_total", "Flush transactions rolled back (tried again).",
       "counter", w.flush_failures);
  line("sessionsink_session_merge_failures_total",
       "Committed events that could not be merged yet (a row not read back; retried).", "counter",
       w.catch_up_failures);
  line("sessionsink_session_restart_failures_total",
       "Server restarts that could not be applied yet (retried).", "counter", w.restart_failures);
  line("sessionsink_session_sweep_failures_total",
       "Idle sweeps that left a session open (a row not read back; retried).", "counter",
       w.sweep_failures);
  line("sessionsink_checkpoints_total",
       "WAL checkpoints by the writer's connection (the only one that writes the file).", "counter",
       w.checkpoints);
  line("sessionsink_checkpoint_failures_total", "WAL checkpoints that failed (retried).", "counter",
       w.checkpoint_failures);
  line("sessionsink_wal_bytes", "Size of the database's WAL after the last commit or checkpoint.",
       "gauge", static_cast<uint64_t>(w.wal_bytes));
}

// The files on disk, the log's segments and retention.
void AppendStoreMetrics(std::string& m, const WriterStats& w) {
  Line line{&m};
  SecondsGauge gauge_seconds{&m};
  // The files on disk and retention (docs/operations.md, "Retention").
  Header(&m, "sessionsink_store_bytes",
         "Bytes on disk by kind of file, WAL included: the main file (sessions), the open log "
         "segment, the closed ones.",
         "gauge");
  m += "sessionsink_store_bytes{file=\"main\"} " + std::to_string(w.main_bytes) + "\n";
  m += "sessionsink_store_bytes{file=\"log_open\"} " + std::to_string(w.open_segment_bytes) + "\n";
  m += "sessionsink_store_bytes{file=\"log_closed\"} " +
       std::to_string(w.log_bytes - w.open_segment_bytes) + "\n";
  line("sessionsink_log_segments", "Segment files of the event log (the open one included).",
       "gauge", static_cast<uint64_t>(w.segments));
  line("sessionsink_log_last_seq", "The newest seq in the event log.", "gauge",
       static_cast<uint64_t>(w.log_last_seq));
  gauge_seconds("sessionsink_log_oldest_event_timestamp_seconds",
                "Arrival time of the oldest event still stored (0: none).",
                static_cast<double>(w.oldest_event_at) / 1000.0);
  line("sessionsink_log_segments_closed_total", "Log segments closed (then immutable).", "counter",
       w.segments_closed);
  line("sessionsink_log_segment_failures_total",
       "Attempts to close the open segment and open the next that failed (retried).", "counter",
       w.rotate_failures);
  line("sessionsink_log_segments_compacted_total",
       "Closed log segments rewritten in their compact form (zstd blocks).", "counter",
       w.segments_compacted);
  line("sessionsink_log_compact_failures_total",
       "Compactions that failed (the raw segment stays; retried).", "counter", w.compact_failures);
  line("sessionsink_retention_segments_deleted_total",
       "Closed log segments deleted whole by --retain-events or --max-disk.", "counter",
       w.segments_deleted);
  line("sessionsink_retention_events_deleted_total",
       "Events deleted with those segments (gone by retention, not lost).", "counter",
       w.events_deleted);
  line("sessionsink_retention_sessions_deleted_total",
       "Finished sessions deleted by --retain-sessions.", "counter", w.sessions_deleted);
  line("sessionsink_retention_dead_letters_deleted_total",
       "Oldest rows of rejected and kafka_dead_letters deleted past --keep-dead-letters.",
       "counter", w.dead_letters_trimmed);
  line("sessionsink_retention_failures_total", "Retention steps that failed (retried).", "counter",
       w.retention_failures);
  line("sessionsink_disk_full",
       "1 while the store is over --max-disk with nothing retention may delete: event requests "
       "get 503.",
       "gauge", static_cast<uint64_t>(w.disk_full ? 1 : 0));
}

// The sessions in memory and the writer's queue.
void AppendSessionMetrics(std::string& m, const WriterStats& w) {
  Line line{&m};
  line("sessionsink_sessions_behind", "1 while the sessions table cannot follow the log.", "gauge",
       static_cast<uint64_t>(w.sessions_error.empty() ? 0 : 1));
  line("sessionsink_sessions_open", "Sessions not finished (in memory or not).", "gauge",
       static_cast<uint64_t>(w.open_sessions));
  line("sessionsink_sessions_in_memory", "Sessions whose merged state is in memory.", "gauge",
       static_cast<uint64_t>(w.live_sessions));
  line("sessionsink_sessions_memory_bytes",
       "Approximate memory of the sessions in memory and the open-session index.", "gauge",
       static_cast<uint64_t>(w.session_memory_bytes));
  line("sessionsink_session_loads_total", "Session rows read back into memory.", "counter",
       w.session_loads);
  line("sessionsink_session_evictions_total",
       "Written sessions dropped from memory to stay within --session-memory.", "counter",
       w.session_evictions);
  line("sessionsink_sessions_timed_out_total", "Sessions finished by the idle timeout.", "counter",
       w.sessions_timed_out);
  line("sessionsink_sessions_server_restart_total",
       "Sessions finished because their server restarted.", "counter", w.sessions_server_restart);
  line("sessionsink_queue_refusals_total", "Requests refused because the queue was full.",
       "counter", w.queue_refusals);
  line("sessionsink_pending_events", "Events queued for the writer.", "gauge", w.pending_events);
}

// The Kafka relay.
void AppendRelayMetrics(std::string& m, const RelayStats& r) {
  Line line{&m};
  SecondsGauge gauge_seconds{&m};
  line("sessionsink_kafka_backlog_events", "Committed events not yet delivered to Kafka.", "gauge",
       static_cast<uint64_t>(r.backlog_events));
  gauge_seconds("sessionsink_kafka_oldest_undelivered_age_seconds",
                "Age of the oldest event not yet delivered to Kafka (0 when caught up).",
                static_cast<double>(r.oldest_undelivered_age_ms) / 1000.0);
  line("sessionsink_kafka_events_delivered_total", "Event messages acknowledged by Kafka.",
       "counter", r.events_delivered);
  line("sessionsink_kafka_sessions_delivered_total", "Session messages acknowledged by Kafka.",
       "counter", r.sessions_delivered);
  line("sessionsink_kafka_delivery_errors_total",
       "Failed delivery reports (each is produced again from SQLite).", "counter",
       r.delivery_errors);
  line("sessionsink_kafka_chunk_retries_total", "Relay chunks produced again after a failure.",
       "counter", r.chunk_retries);
  line("sessionsink_kafka_producer_up",
       "1 while the relay has a producer; 0 while creating one keeps failing.", "gauge",
       r.producer_up ? 1u : 0u);
  line("sessionsink_kafka_producer_failures_total",
       "Producers that could not be created (retried with backoff).", "counter",
       r.producer_failures);
  line("sessionsink_kafka_dead_letters_total",
       "Messages Kafka refused for good (see kafka_dead_letters).", "counter", r.dead_letters);
  line("sessionsink_kafka_events_cursor", "Highest events.seq delivered.", "gauge",
       static_cast<uint64_t>(r.events_cursor));
}

}  // namespace

// Names follow Prometheus' conventions: base units (_seconds, _bytes),
// _total only on counters, latencies as histograms. The README's "Metric
// changes" lists every name that changed.
void HttpServer::RenderMetrics(httplib::Response& res) const {
  const WriterStats w = writer_->Stats();
  std::string m;
  Line line{&m};
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
  Header(&m, "sessionsink_http_request_duration_seconds",
         "Time to handle a request, by route (events: POST /events…, reports: GET /reports/NAME, "
         "dashboard: GET /api/*).",
         "histogram");
  for (size_t i = 0; i < HttpCounters::kRouteCount; ++i) {
    HistogramLines(&m, "sessionsink_http_request_duration_seconds",
                   std::string("route=\"") + HttpCounters::kRouteNames[i] + "\"",
                   counters_->request_seconds[i]);
  }
  AppendWriterMetrics(m, w);
  AppendStoreMetrics(m, w);
  AppendSessionMetrics(m, w);
  const ConnectionStats c = svr_->stats();
  line("sessionsink_http_unauthorized_total",
       "Requests answered 401 (no token or a wrong one), every route.", "counter",
       counters_->unauthorized.load());
  line("sessionsink_http_browser_refused_total",
       "Requests a browser made that the tokenless sink refuses: cross-site posts (403) and "
       "Host names it does not serve on loopback (421).",
       "counter", counters_->browser_refused.load());
  line("sessionsink_events_future_times_total",
       "Events with a time later than the sink's clock + 1 h: the time was dropped.", "counter",
       counters_->future_times.load());
  line("sessionsink_http_memory_refused_total",
       "Requests answered 503 because the requests in flight spent --request-memory.", "counter",
       counters_->memory_refused.load());
  line("sessionsink_http_malformed_requests_total",
       "Requests refused for their framing or head (400, 411, 414, 431, 501, 505), "
       "connection closed.",
       "counter", c.malformed);
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
  if (relay_ != nullptr) AppendRelayMetrics(m, relay_->Stats());
  nginx_rtmp_->AppendMetrics(&m);
  for (const auto& append : extra_metrics_) append(&m);
  res.set_content(m, "text/plain; version=0.0.4");
}

}  // namespace sink
