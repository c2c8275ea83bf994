#include "store/writer.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <utility>

#include <spdlog/spdlog.h>

#include "store/event_log.h"
#include "store/schema.h"
#include "store/session_set.h"
#include "store/session_table.h"
#include "store/sink_tables.h"
#include "store/sqlite.h"

namespace sink {

namespace {

bool Has(Db& db, const char* table) {
  Result<int64_t> n = db.QueryInt(std::string("SELECT count(*) FROM sqlite_master WHERE type = "
                                              "'table' AND name = '") +
                                  table + "'");
  return n.ok() && n.value() > 0;
}

// Schema 8 moved the events out of the main file: the rows of an older
// file's `events` become the first segment. Interrupted, it starts over on
// the next start (the main file keeps `events` until the copy is whole).
Status MoveEventsToSegment(Db& db, const std::string& db_path) {
  namespace fs = std::filesystem;
  const std::string dir = SegmentDir(db_path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create " + dir + ": " + ec.message());
  Result<std::vector<int64_t>> left = ListSegments(dir);
  if (!left.ok()) return left.status();
  for (int64_t id : left.value()) SINK_RETURN_IF_ERROR(RemoveSegmentFiles(SegmentPath(dir, id)));
  Result<int64_t> n = db.QueryInt("SELECT count(*) FROM events");
  if (!n.ok()) return n.status();
  if (n.value() == 0) return Status::Ok();
  spdlog::info("store: upgrading {}: moving {} events into the log's first segment in {}", db_path,
               n.value(), dir);
  const std::string path = SegmentPath(dir, 1);
  const std::string tmp = path + ".tmp";
  fs::remove(tmp, ec);
  {
    Result<Db> seg = Db::Open(tmp, /*create=*/true);
    if (!seg.ok()) return seg.status();
    SINK_RETURN_IF_ERROR(seg->Exec(std::string("BEGIN; ") + std::string(SegmentSchemaSql()) +
                                   "; INSERT INTO meta(name, value) VALUES ('base_seq', 0); "
                                   "PRAGMA user_version = 1; COMMIT"));
  }
  Result<Stmt> attach = db.Prepare("ATTACH DATABASE ?1 AS seg");
  if (!attach.ok()) return attach.status();
  attach->Bind(1, std::string_view(tmp));
  SINK_RETURN_IF_ERROR(attach->RunAndReset());
  Status st = db.Exec(
      "BEGIN; INSERT INTO seg.events(seq, received_at, server, event, kind, phase, session_id, "
      "utc_ms, event_id, dedup, body, platform) SELECT seq, received_at, server, event, kind, "
      "phase, session_id, utc_ms, event_id, dedup, body, platform FROM main.events ORDER BY seq; "
      "COMMIT");
  if (!st.ok()) (void)db.Exec("ROLLBACK");  // the copy's error is the one to report
  Status detach = db.Exec("DETACH DATABASE seg");
  SINK_RETURN_IF_ERROR(st);
  SINK_RETURN_IF_ERROR(detach);
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError("cannot create " + path + ": " + ec.message());
  return Status::Ok();
}

// A side effect's server entry, created on first use.
ServerDelta& ServerOf(LogSideEffects* side, const std::optional<std::string>& server) {
  return side->servers[server.value_or("")];
}

// What an accepted event adds to the main file besides its session.
void NoteEvent(LogSideEffects* side, const Event& e, int64_t seq, int64_t received_at) {
  ServerDelta& sd = ServerOf(side, e.server);
  ++sd.events;
  sd.last_seen_at = std::max(sd.last_seen_at, received_at);
  const std::optional<int64_t> te = e.EventTime();
  if (te && (!sd.last_event_at || *te > *sd.last_event_at)) sd.last_event_at = te;
  if (e.name == "server_started" && e.server && !e.HasSession()) {
    const int64_t at = te.value_or(received_at);
    if (!sd.restart_at || at > *sd.restart_at) sd.restart_at = at;
  }
  if (!e.HasSession() && IsStreamStateEvent(e.name)) {
    StreamEventRow r;
    r.seq = seq;
    r.received_at = received_at;
    r.server = e.server;
    r.event = e.name;
    r.utc_ms = e.utc_ms;
    r.body = e.body;
    if (e.platform != kFlussonicPlatform) r.platform = e.platform;
    side->streams.push_back(std::move(r));
  }
}

void NoteReject(LogSideEffects* side, LogReject r) {
  ServerDelta& sd = ServerOf(side, r.server);
  ++sd.rejected;
  sd.last_seen_at = std::max(sd.last_seen_at, r.received_at);
  side->rejects.push_back(std::move(r));
}

}  // namespace

// A committed group, handed from the log writer to the sessions writer.
struct Writer::Handoff {
  std::vector<WriteBatch> batches;  // own the events `accepted` points into
  std::vector<AppendedEvent> accepted;
  LogSideEffects side;
  size_t events = 0;  // counted against the queue bound
};

// The main file and what works through it: the sessions table, the sessions
// in memory, the tables beside them, and a reader of the log for replay.
// Used only by the sessions writer thread (and by Open, before it starts).
class Writer::Impl {
 public:
  static Result<std::unique_ptr<Impl>> Open(const WriterOptions& o) {
    auto impl = std::unique_ptr<Impl>(new Impl(o));
    SINK_RETURN_IF_ERROR(impl->OpenDb(o));
    return impl;
  }

  Status Begin() { return db_.Exec("BEGIN IMMEDIATE"); }
  Status Commit() {
    SINK_RETURN_IF_ERROR(db_.Exec("COMMIT"));
    // Past the bound (readers held the PASSIVE checkpoints back), wait for
    // them: RESTART copies everything and lets the WAL start over.
    if (wal_pages_ > wal_limit_pages_) {
      const int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_RESTART,
                                               nullptr, nullptr);
      if (rc == SQLITE_OK) checkpointed_ = 0;
    }
    return Status::Ok();
  }
  // Copies the committed WAL frames into the database file (PASSIVE: never
  // waits for readers) once `min_pages` of them are not yet copied. Only
  // this connection writes or checkpoints the file.
  Status Checkpoint(int64_t min_pages) {
    if (wal_pages_ - checkpointed_ < std::max<int64_t>(min_pages, 1)) return Status::Ok();
    int log = 0, done = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      return Status::IoError(std::string("checkpoint: ") + sqlite3_errmsg(db_.get()));
    }
    ++checkpoints_;
    if (rc == SQLITE_OK && log >= 0) {
      wal_pages_ = log;
      checkpointed_ = done;
    }
    return Status::Ok();
  }
  int64_t wal_pages() const { return wal_pages_; }
  uint64_t checkpoints() const { return checkpoints_; }
  void Rollback() {
    // Nothing to undo when BEGIN itself failed; a failing ROLLBACK leaves the
    // connection to SQLite's own automatic rollback.
    if (!sqlite3_get_autocommit(db_.get())) (void)db_.Exec("ROLLBACK");
  }

  // Merges a committed group into the sessions in memory. If reading a row
  // back fails, the rest is merged later from the log (CatchUp), so that no
  // committed event is left out of its session; a restart that could not be
  // applied stays pending until it can.
  void Merge(const Handoff& h, int64_t now_ms) {
    side_.push_back(h.side);
    if (h.accepted.empty()) return;
    sessions_.NoteCommit(h.accepted.back().seq, now_ms);
    committed_seq_ = std::max(committed_seq_, h.accepted.back().seq);
    for (const AppendedEvent& a : h.accepted) NoteRestartOf(*a.event, a.received_at);
    if (catch_up_) return;
    for (const AppendedEvent& a : h.accepted) {
      Status st = sessions_.Apply(*a.event, a.seq, a.received_at, now_ms);
      if (!st.ok()) {
        Failed(&catch_up_failures_, st);
        return;
      }
    }
    Status st = ApplyRestarts(now_ms);
    if (!st.ok()) Failed(&restart_failures_, st);
  }

  // Merges the events after what was applied, read back from the log, and
  // the pending restarts: at start (replay, `recovering`: with what they add
  // beside sessions), and after a merge that could not read a row.
  Status CatchUp(int64_t now_ms, bool recovering) {
    LogSideEffects side;
    const int64_t from = sessions_.applied_seq();
    Status st = reader_->ForEachAfter(from, [&](const LogRecord& r) {
      StoredEvent se;
      se.seq = r.seq;
      se.received_at = r.received_at;
      se.name = r.event;
      se.platform = r.platform;
      se.body = r.body;
      Result<Event> e = reparse_ ? reparse_(se) : Status::Internal("no re-parser configured");
      ++replayed_;
      if (!e.ok()) {
        // Kept in the log (and on Kafka); only its session misses it.
        ++replay_failures_;
        return sessions_.Apply(Event{}, se.seq, se.received_at, now_ms);
      }
      if (recovering) NoteEvent(&side, e.value(), se.seq, se.received_at);
      committed_seq_ = std::max(committed_seq_, se.seq);
      SINK_RETURN_IF_ERROR(sessions_.Apply(e.value(), se.seq, se.received_at, now_ms));
      NoteRestartOf(e.value(), se.received_at);
      return ApplyRestarts(now_ms);
    });
    if (st.ok() && recovering) {
      st = reader_->ForEachRejectAfter(from, [&](const LogReject& r) {
        NoteReject(&side, r);
        return Status::Ok();
      });
      side.upto_seq = std::max(committed_seq_, from);
      if (upgraded_) side.servers.clear();
      if (st.ok() && !side.empty()) side_.push_back(std::move(side));
    }
    if (st.ok()) st = ApplyRestarts(now_ms);
    if (st.ok()) {
      catch_up_ = false;
      error_.clear();
    } else {
      Failed(&catch_up_failures_, st);
    }
    if (sessions_.applied_seq() > sessions_.watermark()) {
      sessions_.NoteCommit(sessions_.applied_seq(), now_ms);
    }
    return st;
  }

  // Writes what the log's commits up to `watermark` changed beside sessions
  // (inside the caller's transaction); Written() forgets it after COMMIT.
  Status WriteSide(int64_t watermark) {
    side_written_ = 0;
    for (const LogSideEffects& e : side_) {
      if (e.upto_seq > watermark) break;
      SINK_RETURN_IF_ERROR(tables_.Write(e));
      ++side_written_;
    }
    return Status::Ok();
  }
  void SideWritten() {
    for (size_t i = 0; i < side_written_; ++i) {
      if (!side_[i].rejects.empty()) new_dead_letters_ = true;
    }
    side_.erase(side_.begin(), side_.begin() + static_cast<std::ptrdiff_t>(side_written_));
    side_written_ = 0;
  }
  // Dead letters were added since the last call.
  bool TakeNewDeadLetters() { return std::exchange(new_dead_letters_, false); }
  void NoteDeadLetters() { new_dead_letters_ = true; }
  // Side effects wait that the watermark already covers.
  bool SideDue() const { return !side_.empty() && side_.front().upto_seq <= sessions_.watermark(); }

  // When each closed segment was closed, as the catalog last recorded.
  Result<std::map<int64_t, int64_t>> ClosedTimes() {
    Result<Stmt> q =
        db_.Prepare("SELECT id, closed_at FROM log_segments WHERE closed_at IS NOT NULL");
    if (!q.ok()) return q.status();
    std::map<int64_t, int64_t> out;
    for (;;) {
      Result<bool> row = q->Step();
      if (!row.ok()) return row.status();
      if (!row.value()) break;
      out[q->Int(0)] = q->Int(1);
    }
    return out;
  }
  bool CatalogChanged(const SegmentCatalog& catalog) const {
    return catalog.version() != catalog_version_;
  }
  // Copies the catalog's changes into log_segments.
  Status SyncCatalog(const SegmentCatalog& catalog) {
    if (catalog.version() == catalog_version_) return Status::Ok();
    const uint64_t version = catalog.version();
    std::map<int64_t, SegmentInfo> now;
    for (const SegmentInfo& s : catalog.Snapshot()) now[s.id] = s;
    for (const auto& [id, s] : now) {
      auto it = catalog_rows_.find(id);
      if (it == catalog_rows_.end() || !(it->second == s))
        SINK_RETURN_IF_ERROR(tables_.PutSegment(s));
    }
    for (const auto& [id, s] : catalog_rows_) {
      if (!now.count(id)) SINK_RETURN_IF_ERROR(tables_.DeleteSegment(id));
    }
    pending_catalog_ = std::move(now);
    pending_catalog_version_ = version;
    return Status::Ok();
  }
  void CatalogWritten() {
    if (pending_catalog_version_ == 0) return;
    catalog_rows_ = std::move(pending_catalog_);
    catalog_version_ = pending_catalog_version_;
    pending_catalog_version_ = 0;
  }

  // Why the merge is behind the log ("" when it is not).
  const std::string& error() const { return error_; }
  uint64_t catch_up_failures() const { return catch_up_failures_; }
  uint64_t restart_failures() const { return restart_failures_; }
  // The newest seq committed to the log (merged or not).
  int64_t committed_seq() const { return std::max(committed_seq_, sessions_.applied_seq()); }
  bool catching_up() const { return catch_up_; }

  SessionSet& sessions() { return sessions_; }
  SinkTables& tables() { return tables_; }
  Stmt& save_watermark() { return save_watermark_; }
  uint64_t replayed() const { return replayed_; }
  uint64_t replay_failures() const { return replay_failures_; }
  const std::string& path() const { return path_; }

  // The sessions in memory as the table and the log say: the open index,
  // the restart times, then every event after the watermark merged again.
  Status Recover(int64_t last_seq, int64_t now_ms) {
    Result<LogReader> reader = LogReader::Open(path_);
    if (!reader.ok()) return reader.status();
    reader_.emplace(std::move(reader.value()));
    Result<int64_t> watermark =
        db_.QueryInt("SELECT value FROM store_state WHERE name = 'sessions_watermark'");
    if (!watermark.ok()) return watermark.status();
    Result<std::map<std::string, int64_t>> restarts = tables_.RestartTimes();
    if (!restarts.ok()) return restarts.status();
    restart_at_ = restarts.value();
    SINK_RETURN_IF_ERROR(sessions_.Start(&db_, watermark.value(), std::move(restarts.value())));
    committed_seq_ = std::max(watermark.value(), last_seq);
    if (last_seq > watermark.value() && !reparse_) {
      return Status::Internal(
          "the log holds events after the sessions watermark and no "
          "re-parser was given to replay them");
    }
    return CatchUp(now_ms, /*recovering=*/true);
  }

  Db db_;  // declared first: everything below is finalized before it closes

 private:
  explicit Impl(const WriterOptions& o)
      : reparse_(o.reparse), path_(o.db_path), sessions_(&table_, o.session_memory_bytes) {}

  Status OpenDb(const WriterOptions& o) {
    Result<Db> db = Db::Open(o.db_path, /*create=*/true);
    if (!db.ok()) return db.status();
    db_ = std::move(db.value());
    // WAL: readers (reports) never block the writer, and commits append.
    {
      Result<Stmt> jm = db_.Prepare("PRAGMA journal_mode=WAL");
      if (!jm.ok()) return jm.status();
      Result<bool> row = jm->Step();
      if (!row.ok()) return row.status();
      if (!row.value() || jm->Text(0) != "wal") {
        return Status::IoError("cannot switch " + o.db_path + " to WAL mode");
      }
    }
    // This connection is the only one that writes or checkpoints the file
    // (wal_autocheckpoint=0: the sessions writer checkpoints between rounds);
    // a WAL that was reset is cut back to the bound (journal_size_limit).
    const std::string pragmas =
        std::string("PRAGMA synchronous=") + (o.synchronous_full ? "FULL" : "NORMAL") +
        "; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0; PRAGMA busy_timeout=" +
        std::to_string(o.busy_timeout_ms) + "; PRAGMA cache_size=-" +
        std::to_string(std::max<int64_t>(o.cache_bytes / 1024, 2048)) +
        "; PRAGMA journal_size_limit=" + std::to_string(o.wal_limit_pages * 4096) + ";";
    SINK_RETURN_IF_ERROR(db_.Exec(pragmas));
    // After the pragmas: wal_autocheckpoint installs a WAL hook of its own.
    wal_limit_pages_ = o.wal_limit_pages;
    sqlite3_wal_hook(db_.get(), &Impl::OnWal, this);
    if (o.max_db_bytes > 0) {
      Result<int64_t> page = db_.QueryInt("PRAGMA page_size");
      if (!page.ok()) return page.status();
      const int64_t pages = std::max<int64_t>(o.max_db_bytes / page.value(), 1);
      SINK_RETURN_IF_ERROR(db_.Exec("PRAGMA max_page_count=" + std::to_string(pages)));
    }
    Result<int64_t> version = db_.QueryInt("PRAGMA user_version");
    if (!version.ok()) return version.status();
    SINK_RETURN_IF_ERROR(Migrate(db_, 7));
    if (Has(db_, "events")) {
      SINK_RETURN_IF_ERROR(MoveEventsToSegment(db_, o.db_path));
      // Older releases counted every committed event in `servers` already.
      upgraded_ = true;
    }
    SINK_RETURN_IF_ERROR(Migrate(db_));
    Result<SinkTables> tables = SinkTables::Open(&db_);
    if (!tables.ok()) return tables.status();
    tables_ = std::move(tables.value());
    Result<SessionTable> table = SessionTable::Open(&db_, o.session_log);
    if (!table.ok()) return table.status();
    table_ = std::move(table.value());
    SINK_RETURN_IF_ERROR(db_.Prepare(
        "UPDATE store_state SET value = ?1 WHERE name = 'sessions_watermark'", &save_watermark_));
    if (version.value() > 0 && version.value() < 3) {
      // Version 3 added what SQL alone cannot backfill: stall intervals and
      // IPv6 networks. Rewrite the rows that have them.
      SINK_RETURN_IF_ERROR(Rewrite("stall_count > 0 OR ip LIKE '%:%'"));
    }
    if (version.value() > 0 && version.value() < 4) {
      // Version 4 added end_class, which finished Flussonic rows derive from
      // their close reason (store/session.cc).
      SINK_RETURN_IF_ERROR(Rewrite("state = 'finished'"));
    }
    if (o.session_log) {
      // Rows written while fan-out was off (or before version 5) are not in
      // the log: list those after the relay's cursor, once, in change order.
      SINK_RETURN_IF_ERROR(db_.Exec(
          "INSERT INTO session_changes(change_seq, id) SELECT change_seq, id FROM sessions "
          "WHERE change_seq > coalesce((SELECT seq FROM relay_cursors WHERE name = "
          "'sessions'), 0) AND change_seq < coalesce((SELECT min(change_seq) FROM "
          "session_changes), 9223372036854775807) ORDER BY change_seq"));
    } else {
      // Only when there is something to drop: a sink restarted on a full
      // disk must still start (and answer 503 until there is room).
      Result<int64_t> listed = db_.QueryInt("SELECT EXISTS (SELECT 1 FROM session_changes)");
      if (!listed.ok()) return listed.status();
      if (listed.value()) SINK_RETURN_IF_ERROR(db_.Exec("DELETE FROM session_changes"));
    }
    return Status::Ok();
  }

  // Loads and writes again every session matching `where`, in one
  // transaction (schema upgrades that SQL alone cannot backfill).
  Status Rewrite(const std::string& where) {
    Result<Stmt> q = db_.Prepare("SELECT id FROM sessions WHERE " + where);
    if (!q.ok()) return q.status();
    Result<std::vector<std::string>> ids = q->FirstColumn();
    if (!ids.ok()) return ids.status();
    SINK_RETURN_IF_ERROR(Begin());
    Status st;
    for (const std::string& id : ids.value()) {
      Result<std::optional<SessionTable::Loaded>> l = table_.Load(id);
      if (!l.ok() || !l->has_value()) {
        st = l.ok() ? Status::Internal("session " + id + " vanished") : l.status();
        break;
      }
      StoredSession& s = l.value()->stored;
      Result<Session> sess = Session::FromStored(s.row, s.merge_state);
      if (!sess.ok()) {
        st = sess.status();
        break;
      }
      s.row = sess->Row();
      s.merge_state = sess->MergeState();
      int64_t rowid = l.value()->rowid;
      st = table_.Write(&s, &rowid, /*indexed_changed=*/true, /*stalls_changed=*/true);
      if (!st.ok()) break;
    }
    if (st.ok()) st = Commit();
    if (!st.ok()) Rollback();
    return st;
  }

  // A server restart an event announces: the latest time stays pending
  // until it is applied.
  void NoteRestartOf(const Event& e, int64_t received_at) {
    if (e.name != "server_started" || !e.server || e.HasSession()) return;
    const int64_t at = e.EventTime().value_or(received_at);
    int64_t& known = restart_at_.try_emplace(*e.server, at).first->second;
    known = std::max(known, at);
    int64_t& latest = pending_restarts_.try_emplace(*e.server, known).first->second;
    latest = std::max(latest, known);
  }
  // Applies the restarts not yet applied; each stays pending until it is.
  Status ApplyRestarts(int64_t now_ms) {
    for (auto it = pending_restarts_.begin(); it != pending_restarts_.end();) {
      SINK_RETURN_IF_ERROR(sessions_.ServerRestarted(it->first, it->second, now_ms));
      it = pending_restarts_.erase(it);
    }
    return Status::Ok();
  }
  void Failed(uint64_t* counter, const Status& st) {
    ++*counter;
    catch_up_ = true;
    error_ = st.message();
  }

  // Pages in the WAL after the last commit (SQLite's WAL hook).
  static int OnWal(void* self, sqlite3*, const char*, int pages) {
    Impl* impl = static_cast<Impl*>(self);
    if (pages < impl->wal_pages_) impl->checkpointed_ = 0;  // the WAL started over
    impl->wal_pages_ = pages;
    return SQLITE_OK;
  }

  Reparser reparse_;
  std::string path_;
  SinkTables tables_;
  SessionTable table_;
  SessionSet sessions_;  // after table_: it writes through it
  Stmt save_watermark_;
  std::optional<LogReader> reader_;
  std::deque<LogSideEffects> side_;  // in log order
  size_t side_written_ = 0;
  std::map<int64_t, SegmentInfo> catalog_rows_, pending_catalog_;
  uint64_t catalog_version_ = 0, pending_catalog_version_ = 0;
  int64_t wal_pages_ = 0;     // frames in the WAL after the last commit
  int64_t checkpointed_ = 0;  // of which copied into the database file
  int64_t wal_limit_pages_ = 0;
  uint64_t checkpoints_ = 0;
  bool catch_up_ = false;
  bool upgraded_ = false;                            // this start moved an older file's events out
  bool new_dead_letters_ = false;                    // since TakeNewDeadLetters()
  std::map<std::string, int64_t> restart_at_;        // server → latest restart seen
  std::map<std::string, int64_t> pending_restarts_;  // server → restart time not yet applied
  std::string error_;
  int64_t committed_seq_ = 0;
  uint64_t catch_up_failures_ = 0, restart_failures_ = 0;
  uint64_t replayed_ = 0, replay_failures_ = 0;
};

bool IsControlBatch(const WriteBatch& b) { return b.events.empty() && b.rejects.empty(); }

Result<std::unique_ptr<Writer>> Writer::Open(const WriterOptions& options, const Clock* clock) {
  Result<std::unique_ptr<Impl>> impl = Impl::Open(options);
  if (!impl.ok()) return impl.status();
  auto catalog = std::make_shared<SegmentCatalog>();
  SegmentLogOptions lo;
  lo.db_path = options.db_path;
  lo.synchronous_full = options.synchronous_full;
  lo.busy_timeout_ms = options.busy_timeout_ms;
  lo.cache_bytes = options.cache_bytes;
  lo.segment_bytes = options.segment_bytes > 0 ? options.segment_bytes : 256ll << 20;
  if (options.segment_bytes <= 0 && options.max_disk_bytes > 0) {
    // Small enough that deleting the oldest frees a useful share of the cap.
    lo.segment_bytes =
        std::min(lo.segment_bytes, std::max<int64_t>(options.max_disk_bytes / 8, 64 << 10));
  }
  lo.segment_ms = options.segment_ms;
  lo.dedup_horizon_ms = options.dedup_horizon_ms;
  lo.wal_limit_pages = options.wal_limit_pages;
  lo.max_file_bytes = options.max_db_bytes;
  Result<std::map<int64_t, int64_t>> closed = impl.value()->ClosedTimes();
  if (!closed.ok()) return closed.status();
  lo.closed_at = std::move(closed.value());
  Result<std::unique_ptr<SegmentLog>> log = SegmentLog::Open(lo, catalog.get());
  if (!log.ok()) return log.status();
  SINK_RETURN_IF_ERROR(impl.value()->Recover(log.value()->last_seq(), clock->NowMs()));
  return std::unique_ptr<Writer>(new Writer(options, clock, std::move(impl.value()),
                                            std::move(log.value()), std::move(catalog)));
}

Writer::Writer(const WriterOptions& options, const Clock* clock, std::unique_ptr<Impl> impl,
               std::unique_ptr<SegmentLog> log, std::shared_ptr<SegmentCatalog> catalog)
    : options_(options),
      session_timeout_ms_(options.session_timeout_ms),
      sweep_interval_ms_(options.sweep_interval_ms),
      clock_(clock),
      impl_(std::move(impl)),
      catalog_(std::move(catalog)),
      log_(std::move(log)) {
  Result<int64_t> cursor = impl_->tables().Cursor("events");
  relay_events_cursor_ = cursor.ok() ? cursor.value() : 0;
  WarnIfTheDiskFillsSoon();
  Publish();
  thread_ = std::thread([this] { Run(); });
  log_thread_ = std::thread([this] { RunLog(); });
  if (options_.compact_segments) {
    CompactorOptions co;
    co.dir = SegmentDir(options_.db_path);
    compactor_ = std::make_unique<Compactor>(std::move(co), catalog_);
  }
}

Writer::~Writer() {
  Stop();
  // The sessions writer's readers of the log first: the log writer's
  // connection, closed last, then removes the open segment's WAL.
  impl_.reset();
  log_.reset();
}

Result<Writer::Future> Writer::Submit(WriteBatch batch) {
  if (IsControlBatch(batch)) {
    // The relay's progress goes to the main file, by the sessions writer.
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("shutting down");
    control_.push_back(Pending{std::move(batch), {}});
    Future f = control_.back().done.get_future();
    cv_.notify_one();
    return f;
  }
  const size_t n = batch.events.size() + batch.rejects.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("shutting down");
    if (sessions_full_ && !batch.events.empty()) {
      ++stats_.queue_refusals;
      return Status::Unavailable(
          "sessions not yet written to the database exceed the memory bound");
    }
    if (disk_full_) {
      ++stats_.queue_refusals;
      return Status::Unavailable(
          "the store is at --max-disk and retention may delete nothing yet: " +
          stats_.retention_error);
    }
    if (handoff_events_ > options_.max_pending_events) {
      ++stats_.queue_refusals;
      return Status::Unavailable("the sessions writer is behind the log (" +
                                 std::to_string(handoff_events_) + " events to merge)");
    }
  }
  std::lock_guard<std::mutex> lock(log_mu_);
  if (log_stopping_) return Status::Unavailable("shutting down");
  if (!log_queue_.empty() && queued_events_ + n > options_.max_pending_events) {
    std::lock_guard<std::mutex> stats_lock(mu_);
    ++stats_.queue_refusals;
    return Status::Unavailable("writer queue is full (" + std::to_string(queued_events_) +
                               " events pending)");
  }
  queued_events_ += n;
  log_queue_.push_back(Pending{std::move(batch), {}});
  Future f = log_queue_.back().done.get_future();
  log_cv_.notify_one();
  return f;
}

void Writer::Stop() {
  if (compactor_) compactor_->Stop();  // abandons a compaction under way
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    log_stopping_ = true;
  }
  log_cv_.notify_one();
  if (log_thread_.joinable()) log_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

WriterStats Writer::Stats() const {
  size_t queued;
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    queued = queued_events_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  WriterStats s = stats_;
  s.pending_events = queued + handoff_events_;
  // Events committed but not yet merged count too (the log writer is ahead).
  s.unflushed_events = std::max(s.unflushed_events, s.log_last_seq - s.watermark);
  s.flush_lag_ms =
      unflushed_since_ms_ < 0 ? 0 : std::max<int64_t>(0, clock_->NowMs() - unflushed_since_ms_);
  if (compactor_) {
    s.segments_compacted = compactor_->compacted();
    s.compact_error = compactor_->error();
    s.compact_failures = compactor_->failures();
  }
  return s;
}

void Writer::SetCommitListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  on_commit_ = std::move(listener);
}

Status Writer::FlushNow() {
  // Every acknowledged batch was handed over before its answer.
  std::future<Status> f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("shutting down");
    flush_waiters_.emplace_back();
    f = flush_waiters_.back().get_future();
  }
  cv_.notify_one();
  return f.get();
}

Status Writer::SweepNow() {
  std::future<Status> f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("shutting down");
    sweep_waiters_.emplace_back();
    f = sweep_waiters_.back().get_future();
    sweep_requested_ = true;
  }
  cv_.notify_one();
  Status st = f.get();
  return st.ok() ? FlushNow() : st;
}

Status Writer::RotateNow() {
  std::future<Status> f;
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    if (log_stopping_) return Status::Unavailable("shutting down");
    rotate_waiters_.emplace_back();
    f = rotate_waiters_.back().get_future();
  }
  log_cv_.notify_one();
  return f.get();
}

// The log writer: one group commit on the open segment, the answers, then
// the group handed to the sessions writer.
void Writer::CommitGroup(std::deque<Pending>& group) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t now = clock_->NowMs();
  std::vector<WriteOutcome> outcomes(group.size());
  auto handoff = std::make_unique<Handoff>();
  LogSideEffects& side = handoff->side;
  Status st = log_->Begin(now);
  for (size_t i = 0; st.ok() && i < group.size(); ++i) {
    const WriteBatch& b = group[i].batch;
    WriteOutcome& out = outcomes[i];
    for (const Event& e : b.events) {
      Result<std::optional<int64_t>> seq = log_->Append(e, b.received_at, now);
      if (!seq.ok()) {
        st = seq.status();
        break;
      }
      if (!seq->has_value()) {
        ++out.duplicates;
        ServerDelta& sd = side.servers[e.server.value_or("")];
        ++sd.duplicates;
        sd.last_seen_at = std::max(sd.last_seen_at, b.received_at);
        continue;
      }
      ++out.accepted;
      handoff->accepted.push_back(AppendedEvent{&e, *seq.value(), b.received_at});
      NoteEvent(&side, e, *seq.value(), b.received_at);
    }
    for (size_t j = 0; st.ok() && j < b.rejects.size(); ++j) {
      const Reject& r = b.rejects[j];
      Result<int64_t> rowid = log_->AddReject(r, b.received_at, b.remote_addr);
      if (!rowid.ok()) {
        st = rowid.status();
        break;
      }
      ++out.rejected;
      LogReject copy;
      copy.segment = log_->open_id();
      copy.rowid = rowid.value();
      copy.received_at = b.received_at;
      copy.remote_addr = b.remote_addr;
      copy.reason = r.reason;
      if (r.index >= 0) copy.item_index = r.index;
      copy.server = r.server;
      copy.body = r.body;
      NoteReject(&side, std::move(copy));
    }
  }
  if (st.ok()) st = log_->Commit();
  if (!st.ok()) log_->Rollback();
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  healthy_ = st.ok();
  size_t n = 0;
  for (const Pending& p : group) n += p.batch.events.size() + p.batch.rejects.size();
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    queued_events_ -= n;
  }
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (st.ok()) listener = on_commit_;
    stats_.batches += group.size();
    if (st.ok()) {
      ++stats_.commits;
      stats_.commit_us_total += static_cast<uint64_t>(us);
      stats_.commit_seconds.Observe(static_cast<double>(us) * 1e-6);
      for (const WriteOutcome& o : outcomes) {
        stats_.events_accepted += static_cast<uint64_t>(o.accepted);
        stats_.events_duplicate += static_cast<uint64_t>(o.duplicates);
        stats_.items_rejected += static_cast<uint64_t>(o.rejected);
      }
      stats_.log_last_seq = log_->last_seq();
    } else {
      ++stats_.commit_failures;
    }
  }
  if (st.ok()) {
    // To the sessions writer before the answers, so that a POST /flush after
    // a 2xx finds these events merged (they move with their batches).
    side.upto_seq = log_->last_seq();
    handoff->events = handoff->accepted.size();
    handoff->batches.reserve(group.size());
    for (Pending& p : group) handoff->batches.push_back(std::move(p.batch));
    {
      std::lock_guard<std::mutex> lock(mu_);
      handoff_events_ += handoff->events;
      handoffs_.push_back(std::move(handoff));
    }
    cv_.notify_one();
  }
  if (listener) listener();
  for (size_t i = 0; i < group.size(); ++i) {
    if (st.ok()) {
      group[i].done.set_value(outcomes[i]);
    } else {
      group[i].done.set_value(Status::Unavailable("database write failed: " + st.message()));
    }
  }
}

void Writer::LogCheckpoint(int64_t min_pages) {
  if (!log_checkpoint_backoff_.Due()) return;
  const Status st = log_->Checkpoint(min_pages);
  if (st.ok()) {
    if (!log_checkpoint_backoff_.failing()) return;
    spdlog::info("store: log checkpoints work again");
    log_checkpoint_backoff_.Succeeded();
    std::lock_guard<std::mutex> lock(mu_);
    if (stats_.checkpoint_error.rfind("log segment: ", 0) == 0) stats_.checkpoint_error.clear();
    return;
  }
  log_checkpoint_backoff_.Failed();
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.checkpoint_failures;
  stats_.checkpoint_error = "log segment: " + st.message();
  uint64_t skipped = 0;
  if (log_checkpoint_log_.Allow(&skipped)) {
    spdlog::error("store: the log segment's WAL cannot be copied into its file{}; retried: {}",
                  Skipped(skipped), st.message());
  }
}

void Writer::RunLog() {
  auto next_checkpoint = std::chrono::steady_clock::now();
  const auto tick =
      std::chrono::milliseconds(std::max<int64_t>(options_.checkpoint_interval_ms, 1));
  for (;;) {
    std::deque<Pending> group;
    std::vector<std::promise<Status>> rotate;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(log_mu_);
      log_cv_.wait_for(lock, tick, [this] {
        return !log_queue_.empty() || log_stopping_ || !rotate_waiters_.empty() ||
               rotate_requested_.load();
      });
      group.swap(log_queue_);
      rotate.swap(rotate_waiters_);
      stop = log_stopping_ && group.empty();
    }
    if (!group.empty()) CommitGroup(group);
    // Between groups: close the open segment when it is due.
    if (!rotate.empty() || rotate_backoff_.Due()) {
      const int64_t before = log_->open_id();
      const Status st =
          rotate.empty() ? log_->MaybeRotate(clock_->NowMs()) : log_->Rotate(clock_->NowMs());
      std::lock_guard<std::mutex> lock(mu_);
      if (st.ok()) {
        if (rotate_backoff_.failing()) spdlog::info("store: log segments open again");
        rotate_backoff_.Succeeded();
        stats_.log_error.clear();
        if (log_->open_id() != before) ++stats_.segments_closed;
      } else {
        rotate_backoff_.Failed();
        ++stats_.rotate_failures;
        stats_.log_error = st.message();
        uint64_t skipped = 0;
        if (rotate_log_.Allow(&skipped)) {
          spdlog::error(
              "store: cannot close the open log segment and open the next{}; retried "
              "(the open one keeps growing meanwhile): {}",
              Skipped(skipped), st.message());
        }
      }
      for (std::promise<Status>& p : rotate) p.set_value(st);
    }
    const auto now = std::chrono::steady_clock::now();
    if (!group.empty() || now >= next_checkpoint) {
      LogCheckpoint(group.empty() ? 1 : options_.checkpoint_pages);
      if (group.empty()) next_checkpoint = now + tick;
    }
    if (stop) break;
  }
  std::lock_guard<std::mutex> lock(log_mu_);
  log_stopped_ = true;
  for (Pending& p : log_queue_) p.done.set_value(Status::Unavailable("shutting down"));
  log_queue_.clear();
  for (std::promise<Status>& p : rotate_waiters_) p.set_value(Status::Unavailable("shutting down"));
  rotate_waiters_.clear();
}

// The sessions writer: merges what the log writer committed.
void Writer::TakeHandoffs(std::deque<std::unique_ptr<Handoff>>& handoffs) {
  if (handoffs.empty()) return;
  const int64_t now = clock_->NowMs();
  size_t n = 0;
  for (const std::unique_ptr<Handoff>& h : handoffs) {
    impl_->Merge(*h, now);
    n += h->events;
  }
  handoffs.clear();
  std::lock_guard<std::mutex> lock(mu_);
  handoff_events_ -= n;
}

// Saves the relay's cursors and the messages Kafka refused, in one
// transaction on the main file.
void Writer::SaveProgress(std::deque<Pending>& control) {
  if (control.empty()) return;
  Status st = impl_->Begin();
  const int64_t now = clock_->NowMs();
  for (Pending& p : control) {
    for (const auto& [name, seq] : p.batch.cursors) {
      if (st.ok()) st = impl_->tables().SaveCursor(name, seq, now);
      if (st.ok() && name == "events") relay_events_cursor_ = std::max(relay_events_cursor_, seq);
    }
    for (const KafkaDeadLetter& d : p.batch.kafka_dead_letters) {
      if (st.ok()) st = impl_->tables().AddKafkaDeadLetter(d, now);
      impl_->NoteDeadLetters();
    }
  }
  if (st.ok()) st = impl_->Commit();
  if (!st.ok()) impl_->Rollback();
  for (Pending& p : control) {
    if (st.ok()) {
      p.done.set_value(WriteOutcome{});
    } else {
      p.done.set_value(Status::Unavailable("database write failed: " + st.message()));
    }
  }
  control.clear();
}

// Writes one chunk of the flush cycle, starting one when it is due (group
// commits go between chunks); with `all`, runs cycles until every change is
// in the table. When the oldest change nears the flush bound (the writer is
// saturated), the cycle is finished first: ingest slows, the bound holds.
void Writer::Flush(bool all) {
  SessionSet& sessions = impl_->sessions();
  const int64_t half = std::max<int64_t>(options_.session_flush_ms / 2, 1);
  const int64_t urgent = options_.session_flush_ms * 3 / 4;
  bool more = all;
  if (!all && !flush_backoff_.Due()) return;  // after a failure, wait before the next try
  do {
    const int64_t now = clock_->NowMs();
    if (!sessions.CycleActive()) {
      if (!sessions.FlushDue(now, all ? 0 : half)) {
        WriteSideOnly(all);
        return;
      }
      sessions.BeginCycle();
    }
    const auto t0 = std::chrono::steady_clock::now();
    Status st = impl_->Begin();
    if (st.ok()) st = sessions.WriteChunk(options_.flush_chunk_rows, &impl_->save_watermark());
    // What the log's commits changed beside sessions goes with the watermark.
    if (st.ok() && sessions.WatermarkPending()) st = impl_->WriteSide(sessions.cycle_watermark());
    if (st.ok()) st = impl_->SyncCatalog(*catalog_);
    if (st.ok()) st = impl_->Commit();
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (st.ok()) {
      sessions.Committed(now);
      impl_->SideWritten();
      impl_->CatalogWritten();
      if (flush_backoff_.failing()) spdlog::info("store: the sessions table is written again");
      flush_backoff_.Succeeded();
      flush_error_.clear();
    } else {
      impl_->Rollback();
      sessions.RolledBack();
      flush_backoff_.Failed();
      flush_error_ = st.message();
      uint64_t skipped = 0;
      if (flush_log_.Allow(&skipped)) {
        spdlog::error("store: writing the sessions table failed{}: {}", Skipped(skipped),
                      st.message());
      }
    }
    std::function<void()> listener;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (st.ok()) {
        ++stats_.flushes;
        stats_.flush_us_total += static_cast<uint64_t>(us);
        if (options_.session_log) listener = on_commit_;
      } else {
        ++stats_.flush_failures;
      }
    }
    if (listener) listener();
    if (!st.ok()) return;  // tried again on the next round
    // While the merge is behind the log (catching up), a cycle cannot bring
    // the table to the log: `all` ends with the cycle under way.
    // Past the memory bound the cycle is finished at once too: only this
    // thread waits for it (the log's commits never do).
    more =
        (all && (sessions.CycleActive() || !impl_->catching_up())) ||
        (sessions.CycleActive() && (sessions.FlushLagMs(clock_->NowMs()) > urgent ||
                                    sessions.Stats().live_bytes > options_.session_memory_bytes));
  } while (more);
}

// Writes, without a flush cycle, what the watermark already covers (dead
// letters and counters of commits that merged no session) and the catalog,
// at most once a second unless `now`.
void Writer::WriteSideOnly(bool now) {
  const int64_t t = clock_->NowMs();
  if (!impl_->SideDue() && (!now && t < next_side_ms_)) return;
  if (!impl_->SideDue() && !impl_->CatalogChanged(*catalog_)) return;
  next_side_ms_ = t + 1000;
  Status st = impl_->Begin();
  if (st.ok()) st = impl_->WriteSide(impl_->sessions().watermark());
  if (st.ok()) st = impl_->SyncCatalog(*catalog_);
  if (st.ok()) st = impl_->Commit();
  if (st.ok()) {
    impl_->SideWritten();
    impl_->CatalogWritten();
    return;
  }
  impl_->Rollback();
  flush_backoff_.Failed();
  flush_error_ = st.message();
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.flush_failures;
}

void Writer::Publish() {
  SessionSet& sessions = impl_->sessions();
  const SessionSetStats s = sessions.Stats();
  const int64_t now = clock_->NowMs();
  sessions_full_ = s.dirty_sessions > 0 && s.live_bytes > 2 * options_.session_memory_bytes;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.sessions_written = s.sessions_written;
  stats_.sessions_timed_out = s.timed_out;
  stats_.sessions_server_restart = s.server_restart;
  stats_.unflushed_events = impl_->committed_seq() - sessions.watermark();
  // Kept as the instant of the oldest unwritten change, so that the lag
  // read between two rounds of the writer is current (see Stats()).
  const int64_t lag = sessions.FlushLagMs(now);
  unflushed_since_ms_ =
      lag > 0 || stats_.unflushed_events > 0 || s.dirty_sessions > 0 ? now - lag : -1;
  stats_.watermark = sessions.watermark();
  stats_.open_sessions = s.open_sessions;
  stats_.live_sessions = s.live_sessions;
  stats_.session_memory_bytes = s.memory_bytes;
  stats_.session_loads = s.loads;
  stats_.session_evictions = s.evictions;
  stats_.replayed_events = impl_->replayed();
  stats_.replay_failures = impl_->replay_failures();
  stats_.catch_up_failures = impl_->catch_up_failures();
  stats_.restart_failures = impl_->restart_failures();
  {
    int64_t log = 0, open = 0, segments = 0, oldest = 0;
    for (const SegmentInfo& seg : catalog_->Snapshot()) {
      ++segments;
      log += seg.bytes;
      if (!seg.closed) open = seg.bytes;
      if (oldest == 0 && seg.events > 0) oldest = seg.min_received_at;
    }
    stats_.log_bytes = log;
    stats_.open_segment_bytes = open;
    stats_.segments = segments;
    stats_.oldest_event_at = oldest;
    stats_.main_bytes = SqliteFileBytes(impl_->path());
    stats_.disk_full = disk_full_;
  }
  if (impl_->catching_up()) {
    stats_.sessions_error = "merging committed events: " + impl_->error();
  } else if (!sweep_error_.empty()) {
    stats_.sessions_error = "idle sweep: " + sweep_error_;
  } else if (!flush_error_.empty()) {
    stats_.sessions_error = "writing the sessions table: " + flush_error_;
  } else {
    stats_.sessions_error.clear();
  }
}

void Writer::CatchUp() {
  if (!impl_->catching_up() || !catch_up_backoff_.Due()) return;
  if (impl_->CatchUp(clock_->NowMs(), /*recovering=*/false).ok()) {
    if (catch_up_reported_) spdlog::info("store: the sessions merge caught up with the log");
    catch_up_backoff_.Succeeded();
    catch_up_reported_ = false;
    return;
  }
  catch_up_backoff_.Failed();
}

// Logs a merge failure that Merge or CatchUp recorded (rate-limited).
void Writer::ReportMergeFailure() {
  if (!impl_->catching_up()) return;
  const uint64_t failures = impl_->catch_up_failures() + impl_->restart_failures();
  if (failures == merge_failures_logged_) return;
  merge_failures_logged_ = failures;
  if (!catch_up_backoff_.failing()) catch_up_backoff_.Failed();  // first failure: pause
  catch_up_reported_ = true;
  uint64_t skipped = 0;
  if (merge_log_.Allow(&skipped)) {
    spdlog::error(
        "store: committed events cannot be merged into their sessions{}; the sessions table "
        "waits and the merge is retried: {}",
        Skipped(skipped), impl_->error());
  }
}

void Writer::Checkpoint(int64_t min_pages) {
  if (!checkpoint_backoff_.Due()) return;
  const Status st = impl_->Checkpoint(min_pages);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.checkpoints = impl_->checkpoints();
  stats_.wal_bytes = impl_->wal_pages() * 4096;
  if (st.ok()) {
    if (checkpoint_backoff_.failing()) spdlog::info("store: checkpoints work again");
    checkpoint_backoff_.Succeeded();
    stats_.checkpoint_error.clear();
    return;
  }
  checkpoint_backoff_.Failed();
  ++stats_.checkpoint_failures;
  stats_.checkpoint_error = st.message();
  uint64_t skipped = 0;
  if (checkpoint_log_.Allow(&skipped)) {
    spdlog::error("store: the WAL cannot be copied into the database file{}; retried: {}",
                  Skipped(skipped), st.message());
  }
}

// Retention, off the log writer's path: closed segments are deleted whole,
// oldest first, when their newest event is past --retain-events or while
// the store exceeds --max-disk; never one holding events after the
// watermark or not yet delivered by the relay. Finished sessions past
// --retain-sessions and the oldest dead letters past their bound go in small
// steps.
void Writer::Retention() {
  // Paced in real time; ages are measured on the sink's clock.
  const auto tick = std::chrono::steady_clock::now();
  if (tick < next_retention_) return;
  next_retention_ = tick + std::chrono::milliseconds(options_.retention_interval_ms);
  const int64_t now = clock_->NowMs();
  int64_t watermark = impl_->sessions().watermark();
  bool flushed = false;
  const std::vector<SegmentInfo> segments = catalog_->Snapshot();
  int64_t total = SqliteFileBytes(impl_->path());
  for (const SegmentInfo& seg : segments) total += seg.bytes;
  std::string blocked;
  uint64_t deleted = 0, events = 0;
  Status failed;
  for (const SegmentInfo& seg : segments) {
    if (!seg.closed) break;
    const bool expired = options_.retain_events_ms > 0 && seg.events > 0 &&
                         seg.max_received_at < now - options_.retain_events_ms;
    const bool over = options_.max_disk_bytes > 0 && total > options_.max_disk_bytes;
    if (!expired && !over && seg.events > 0) break;
    if (seg.last_seq > watermark && !flushed) {
      // The sessions table is written up to the log first (this thread's
      // own work): retention never waits for --session-flush.
      Flush(/*all=*/true);
      flushed = true;
      watermark = impl_->sessions().watermark();
    }
    if (seg.last_seq > watermark) {
      blocked = "the sessions table has not merged segment " + std::to_string(seg.id) + " yet";
      break;
    }
    if (options_.relay_events && seg.last_seq > relay_events_cursor_) {
      blocked = "the Kafka relay has not delivered segment " + std::to_string(seg.id) +
                " yet (events after seq " + std::to_string(relay_events_cursor_) + ")";
      break;
    }
    // Out of the catalog first: the log writer stops reading it.
    catalog_->Erase(seg.id);
    failed = RemoveSegmentFiles(SegmentPath(SegmentDir(impl_->path()), seg.id));
    if (!failed.ok()) {
      catalog_->Put(seg);
      break;
    }
    ++deleted;
    events += static_cast<uint64_t>(seg.events);
    total -= seg.bytes;
    spdlog::info("store: retention deleted log segment {} (seqs {}–{}, {} events, {} bytes)",
                 seg.id, seg.first_seq, seg.last_seq, seg.events, seg.bytes);
  }
  // Sessions and dead letters, a step at a time: a step is due when the
  // last one was full, and otherwise once a minute.
  int64_t sessions_deleted = 0, trimmed = 0;
  const bool steps_due = impl_->TakeNewDeadLetters() || tick >= next_steps_ || more_steps_;
  if (failed.ok() && steps_due) {
    next_steps_ = tick + std::chrono::seconds(60);
    Status st = impl_->Begin();
    if (st.ok() && options_.retain_sessions_ms > 0) {
      Result<int64_t> n =
          impl_->tables().DeleteFinishedSessions(now - options_.retain_sessions_ms, 1000);
      st = n.status();
      if (n.ok()) sessions_deleted = n.value();
    }
    if (st.ok()) {
      Result<int64_t> n = impl_->tables().Trim(options_.keep_dead_letters, 1000);
      st = n.status();
      if (n.ok()) trimmed = n.value();
    }
    if (st.ok()) st = impl_->SyncCatalog(*catalog_);
    if (st.ok()) st = impl_->Commit();
    if (st.ok()) {
      impl_->CatalogWritten();
      more_steps_ = sessions_deleted == 1000 || trimmed >= 1000;
    } else {
      impl_->Rollback();
      sessions_deleted = trimmed = 0;
      failed = st;
    }
  }
  const bool full = options_.max_disk_bytes > 0 && total > options_.max_disk_bytes;
  if (full && blocked.empty() && failed.ok()) {
    // Only the open segment is left: closed, it can go once it is merged
    // and delivered.
    rotate_requested_ = true;
    log_cv_.notify_one();
  }
  std::string error;
  if (!failed.ok()) {
    error = failed.message();
  } else if (full) {
    error = "the store holds " + std::to_string(total) + " bytes, over --max-disk " +
            std::to_string(options_.max_disk_bytes) +
            (blocked.empty() ? ", and only the open segment is left" : ", and " + blocked);
  }
  if (full != disk_full_.load() || !error.empty()) {
    uint64_t skipped = 0;
    if (!error.empty() && retention_log_.Allow(&skipped)) {
      spdlog::error("store: retention{}: {}{}", Skipped(skipped), error,
                    full ? "; event batches are refused (503) until there is room" : "");
    } else if (!full && disk_full_.load()) {
      spdlog::info("store: the store is under --max-disk again; event batches are accepted");
    }
  }
  disk_full_ = full;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.segments_deleted += deleted;
  stats_.events_deleted += events;
  stats_.sessions_deleted += static_cast<uint64_t>(sessions_deleted);
  stats_.dead_letters_trimmed += static_cast<uint64_t>(trimmed);
  if (!failed.ok()) ++stats_.retention_failures;
  stats_.retention_error = error;
}

// Without retention, says at start when the free disk lasts less than a
// week at the rate the log grew so far (measured over at least an hour).
void Writer::WarnIfTheDiskFillsSoon() const {
  if (options_.retain_events_ms > 0 || options_.max_disk_bytes > 0) return;
  int64_t bytes = 0, oldest = 0, newest = 0;
  for (const SegmentInfo& seg : catalog_->Snapshot()) {
    bytes += seg.bytes;
    if (seg.events == 0) continue;
    if (oldest == 0) oldest = seg.min_received_at;
    newest = std::max(newest, seg.max_received_at);
  }
  const int64_t span_ms = newest - oldest;
  if (span_ms < 60ll * 60 * 1000 || bytes <= 0) return;
  struct statvfs fs {};
  if (statvfs(SegmentDir(options_.db_path).c_str(), &fs) != 0) return;
  const double free_bytes = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
  const double per_day = static_cast<double>(bytes) / (static_cast<double>(span_ms) / 86400000.0);
  const double days = free_bytes / per_day;
  if (days >= 7) return;
  spdlog::warn(
      "store: the log grew {:.1f} MB a day so far and {:.1f} GB are free: the disk fills in about "
      "{:.1f} days. Set --retain-events or --max-disk (docs/operations.md, \"Retention\")",
      per_day / 1e6, free_bytes / 1e9, days);
}

bool Writer::SweepContinues() const {
  // The next step once the finished sessions of the last one are written
  // out of memory: a mass timeout stays within the memory bound.
  if (!sweep_more_) return false;
  const SessionSetStats s = impl_->sessions().Stats();
  return s.live_bytes <= options_.session_memory_bytes || s.dirty_sessions == 0;
}

Status Writer::Sweep() {
  const int64_t now = clock_->NowMs();
  Result<int64_t> n = impl_->sessions().SweepIdle(now - session_timeout_ms_.load(), now,
                                                  options_.sweep_step_sessions, &sweep_more_);
  if (!n.ok()) sweep_more_ = false;  // the rest when the retry is due
  if (n.ok()) {
    if (sweep_backoff_.failing()) spdlog::info("store: the idle sweep works again");
    sweep_backoff_.Succeeded();
    sweep_error_.clear();
    return Status::Ok();
  }
  sweep_backoff_.Failed();
  sweep_error_ = n.status().message();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.sweep_failures;
  }
  uint64_t skipped = 0;
  if (sweep_log_.Allow(&skipped)) {
    spdlog::error("store: the idle sweep could not finish every idle session{}; retried: {}",
                  Skipped(skipped), n.status().message());
  }
  return n.status();
}

void Writer::SetSessionTimeout(int64_t timeout_ms, int64_t sweep_interval_ms) {
  session_timeout_ms_ = timeout_ms;
  sweep_interval_ms_ = sweep_interval_ms;
}

void Writer::Run() {
  int64_t next_sweep = clock_->NowMs() + sweep_interval_ms_.load();
  auto next_checkpoint = std::chrono::steady_clock::now();
  // How often an idle writer looks whether a flush is due.
  const auto tick = std::chrono::milliseconds(
      std::clamp<int64_t>(options_.session_flush_ms / 8, 1, options_.sweep_interval_ms));
  for (;;) {
    std::deque<std::unique_ptr<Handoff>> handoffs;
    std::deque<Pending> control;
    std::vector<std::promise<Status>> sweep_waiters, flush_waiters;
    bool sweep = false;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Work pending now: a flush cycle under way, or a retry that is due.
      const bool busy = (impl_->sessions().CycleActive() && flush_backoff_.Due()) ||
                        SweepContinues() || (impl_->catching_up() && catch_up_backoff_.Due()) ||
                        (sweep_backoff_.failing() && sweep_backoff_.Due());
      auto wait = busy ? std::chrono::milliseconds(0) : tick;
      for (const Backoff* b : {&flush_backoff_, &catch_up_backoff_, &sweep_backoff_}) {
        if (b->failing()) wait = std::min(wait, b->Remaining());
      }
      cv_.wait_for(lock, wait, [this] {
        return !handoffs_.empty() || !control_.empty() || stopping_ || sweep_requested_ ||
               !flush_waiters_.empty();
      });
      stop = handoffs_.empty() && control_.empty() && stopping_;
      handoffs.swap(handoffs_);
      control.swap(control_);
      sweep_waiters.swap(sweep_waiters_);
      flush_waiters.swap(flush_waiters_);
      sweep = sweep_requested_ || clock_->NowMs() >= next_sweep ||
              (sweep_backoff_.failing() && sweep_backoff_.Due()) || SweepContinues();
      sweep_requested_ = false;
    }
    const bool merged = !handoffs.empty();
    TakeHandoffs(handoffs);
    SaveProgress(control);
    ReportMergeFailure();
    CatchUp();
    ReportMergeFailure();
    for (std::promise<Status>& p : sweep_waiters) sweep_pending_.push_back(std::move(p));
    sweep_waiters.clear();
    Status swept;
    if (sweep) {
      next_sweep = clock_->NowMs() + sweep_interval_ms_.load();
      swept = Sweep();
      // A step of the sweep; the callers wait for the last one.
      if (!sweep_more_) sweep_waiters.swap(sweep_pending_);
    }
    Flush(/*all=*/(stop && options_.flush_on_stop) || !flush_waiters.empty());
    // After the answers: a commit's requests never wait for the copy.
    // Idle (nothing committed this round), what is left goes too.
    Retention();
    const auto now = std::chrono::steady_clock::now();
    if (merged || now >= next_checkpoint) {
      Checkpoint(merged ? options_.checkpoint_pages : 1);
      if (!merged) {
        next_checkpoint = now + std::chrono::milliseconds(options_.checkpoint_interval_ms);
      }
    }
    impl_->sessions().Evict();
    Publish();  // before the answers: a caller reads what they tell in Stats()
    for (std::promise<Status>& p : sweep_waiters) p.set_value(swept);
    if (!flush_waiters.empty()) {
      std::string why;
      if (impl_->sessions().FlushDue(clock_->NowMs(), 0)) {
        std::lock_guard<std::mutex> lock(mu_);
        why = stats_.sessions_error.empty() ? "not every change is written" : stats_.sessions_error;
      }
      const Status st = why.empty()
                            ? Status::Ok()
                            : Status::Unavailable("could not write the sessions table: " + why);
      for (std::promise<Status>& p : flush_waiters) p.set_value(st);
    }
    if (stop) break;
  }
  // Fail anything that raced with shutdown (Submit refuses once stopping_).
  std::lock_guard<std::mutex> lock(mu_);
  for (std::promise<Status>& p : sweep_waiters_) p.set_value(Status::Unavailable("shutting down"));
  for (std::promise<Status>& p : sweep_pending_) p.set_value(Status::Unavailable("shutting down"));
  for (std::promise<Status>& p : flush_waiters_) p.set_value(Status::Unavailable("shutting down"));
  for (Pending& p : control_) p.done.set_value(Status::Unavailable("shutting down"));
  control_.clear();
}

}  // namespace sink
