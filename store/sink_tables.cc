#include "store/sink_tables.h"

#include <algorithm>

namespace sink {

void ServerDelta::Add(const ServerDelta& d) {
  events += d.events;
  duplicates += d.duplicates;
  rejected += d.rejected;
  if (d.last_event_at && (!last_event_at || *d.last_event_at > *last_event_at)) {
    last_event_at = d.last_event_at;
  }
  last_seen_at = std::max(last_seen_at, d.last_seen_at);
  if (d.restart_at && (!restart_at || *d.restart_at > *restart_at)) restart_at = d.restart_at;
}

Result<SinkTables> SinkTables::Open(Db* db) {
  SinkTables t;
  t.db_ = db;
  auto prep = [db](Stmt* out, std::string_view sql) { return db->Prepare(sql, out); };
  SINK_RETURN_IF_ERROR(
      prep(&t.upsert_server_,
           "INSERT INTO servers(server, events, duplicates, rejected, last_event_at, last_seen_at, "
           "restart_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(server) DO UPDATE SET "
           "events = events + excluded.events, duplicates = duplicates + excluded.duplicates, "
           "rejected = rejected + excluded.rejected, "
           "last_event_at = max(coalesce(last_event_at, excluded.last_event_at), "
           "coalesce(excluded.last_event_at, last_event_at)), "
           "last_seen_at = max(coalesce(last_seen_at, 0), excluded.last_seen_at), "
           "restart_at = max(coalesce(restart_at, excluded.restart_at), "
           "coalesce(excluded.restart_at, restart_at))"));
  SINK_RETURN_IF_ERROR(prep(&t.copy_reject_,
                            "INSERT OR IGNORE INTO rejected(received_at, remote_addr, reason, "
                            "item_index, server, body, log_segment, log_rowid) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  SINK_RETURN_IF_ERROR(prep(&t.insert_stream_,
                            "INSERT OR IGNORE INTO stream_events(seq, received_at, server, event, "
                            "utc_ms, body, platform) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  SINK_RETURN_IF_ERROR(prep(&t.save_cursor_,
                            "INSERT INTO relay_cursors(name, seq, updated_at) VALUES (?1, ?2, ?3) "
                            "ON CONFLICT(name) DO UPDATE SET seq = max(seq, excluded.seq), "
                            "updated_at = excluded.updated_at"));
  SINK_RETURN_IF_ERROR(
      prep(&t.trim_changes_, "DELETE FROM session_changes WHERE change_seq <= ?1"));
  SINK_RETURN_IF_ERROR(prep(&t.insert_kafka_dead_,
                            "INSERT INTO kafka_dead_letters(topic, seq, key, reason, failed_at) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)"));
  SINK_RETURN_IF_ERROR(prep(&t.put_segment_,
                            "INSERT OR REPLACE INTO log_segments(id, state, first_seq, last_seq, "
                            "events, rejected, min_received_at, max_received_at, min_utc_ms, "
                            "max_utc_ms, bytes, closed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                            "?9, ?10, ?11, ?12)"));
  SINK_RETURN_IF_ERROR(prep(&t.delete_segment_, "DELETE FROM log_segments WHERE id = ?1"));
  SINK_RETURN_IF_ERROR(prep(&t.cursor_, "SELECT seq FROM relay_cursors WHERE name = ?1"));
  return t;
}

Status SinkTables::Write(const LogSideEffects& e) {
  for (const auto& [server, d] : e.servers) {
    if (server.empty()) continue;
    Stmt& s = upsert_server_;
    s.Bind(1, std::string_view(server));
    s.Bind(2, d.events);
    s.Bind(3, d.duplicates);
    s.Bind(4, d.rejected);
    s.Bind(5, d.last_event_at);
    s.Bind(6, d.last_seen_at);
    s.Bind(7, d.restart_at);
    SINK_RETURN_IF_ERROR(s.RunAndReset());
  }
  for (const LogReject& r : e.rejects) {
    Stmt& s = copy_reject_;
    s.Bind(1, r.received_at);
    s.Bind(2, r.remote_addr);
    s.Bind(3, std::string_view(r.reason));
    s.Bind(4, r.item_index);
    s.Bind(5, r.server);
    s.BindBlob(6, r.body);
    s.Bind(7, r.segment);
    s.Bind(8, r.rowid);
    SINK_RETURN_IF_ERROR(s.RunAndReset());
  }
  for (const StreamEventRow& r : e.streams) {
    Stmt& s = insert_stream_;
    s.Bind(1, r.seq);
    s.Bind(2, r.received_at);
    s.Bind(3, r.server);
    s.Bind(4, std::string_view(r.event));
    s.Bind(5, r.utc_ms);
    s.Bind(6, std::string_view(r.body));
    s.Bind(7, r.platform);
    SINK_RETURN_IF_ERROR(s.RunAndReset());
  }
  return Status::Ok();
}

Status SinkTables::SaveCursor(std::string_view name, int64_t seq, int64_t at) {
  save_cursor_.Bind(1, name);
  save_cursor_.Bind(2, seq);
  save_cursor_.Bind(3, at);
  SINK_RETURN_IF_ERROR(save_cursor_.RunAndReset());
  if (name != "sessions") return Status::Ok();
  trim_changes_.Bind(1, seq);  // delivered: the log is no longer needed
  return trim_changes_.RunAndReset();
}

Status SinkTables::AddKafkaDeadLetter(const KafkaDeadLetter& d, int64_t at) {
  Stmt& s = insert_kafka_dead_;
  s.Bind(1, std::string_view(d.topic));
  s.Bind(2, d.seq);
  s.Bind(3, d.key);
  s.Bind(4, std::string_view(d.reason));
  s.Bind(5, at);
  return s.RunAndReset();
}

Status SinkTables::PutSegment(const SegmentInfo& i) {
  Stmt& s = put_segment_;
  auto opt = [](int64_t v) { return v == 0 ? std::optional<int64_t>() : std::optional(v); };
  s.Bind(1, i.id);
  s.Bind(2, std::string_view(i.closed ? "closed" : "open"));
  s.Bind(3, opt(i.first_seq));
  s.Bind(4, opt(i.last_seq));
  s.Bind(5, i.events);
  s.Bind(6, i.rejected);
  s.Bind(7, i.events ? std::optional(i.min_received_at) : std::nullopt);
  s.Bind(8, i.events ? std::optional(i.max_received_at) : std::nullopt);
  s.Bind(9, i.min_utc_ms);
  s.Bind(10, i.max_utc_ms);
  s.Bind(11, i.bytes);
  s.Bind(12, opt(i.closed_at));
  return s.RunAndReset();
}

Status SinkTables::DeleteSegment(int64_t id) {
  delete_segment_.Bind(1, id);
  return delete_segment_.RunAndReset();
}

Result<std::map<std::string, int64_t>> SinkTables::RestartTimes() {
  Result<Stmt> q =
      db_->Prepare("SELECT server, restart_at FROM servers WHERE restart_at IS NOT NULL");
  if (!q.ok()) return q.status();
  std::map<std::string, int64_t> out;
  for (;;) {
    Result<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    out[std::string(q->Text(0))] = q->Int(1);
  }
  return out;
}

Result<int64_t> SinkTables::Cursor(std::string_view name) {
  cursor_.Bind(1, name);
  Result<bool> row = cursor_.Step();
  int64_t v = 0;
  if (row.ok() && row.value()) v = cursor_.Int(0);
  cursor_.Reset();
  if (!row.ok()) return row.status();
  return v;
}

Result<int64_t> SinkTables::Trim(int64_t keep, int64_t step) {
  int64_t n = 0;
  for (const char* table : {"rejected", "kafka_dead_letters"}) {
    const std::string t = table;
    SINK_RETURN_IF_ERROR(db_->Exec("DELETE FROM " + t + " WHERE id IN (SELECT id FROM " + t +
                                   " WHERE id <= (SELECT max(id) FROM " + t + ") - " +
                                   std::to_string(keep) + " ORDER BY id LIMIT " +
                                   std::to_string(step) + ")"));
    n += sqlite3_changes(db_->get());
  }
  return n;
}

Result<int64_t> SinkTables::DeleteFinishedSessions(int64_t before, int64_t step) {
  const std::string ids =
      "SELECT id FROM sessions WHERE state = 'finished' AND coalesce(closed_at, "
      "seen_at) < " +
      std::to_string(before) + " LIMIT " + std::to_string(step);
  SINK_RETURN_IF_ERROR(
      db_->Exec("CREATE TEMP TABLE IF NOT EXISTS retire(id TEXT PRIMARY KEY); "
                "DELETE FROM temp.retire; INSERT INTO temp.retire " +
                ids));
  SINK_RETURN_IF_ERROR(
      db_->Exec("DELETE FROM stall_intervals WHERE session_id IN (SELECT id FROM temp.retire)"));
  SINK_RETURN_IF_ERROR(db_->Exec("DELETE FROM sessions WHERE id IN (SELECT id FROM temp.retire)"));
  return static_cast<int64_t>(sqlite3_changes(db_->get()));
}

}  // namespace sink
