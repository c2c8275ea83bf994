#include "store/writer.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <unordered_map>
#include <utility>
#include <variant>

#include "store/schema.h"
#include "store/session.h"
#include "store/sqlite.h"

namespace sink {

namespace {

// FNV-1a over the dedup key, with a terminator per field so that ("ab","c")
// and ("a","bc") differ, and a final avalanche so the low bits mix.
class KeyHash {
 public:
  void Add(const std::optional<std::string>& s) {
    if (!s) return Byte(0x00);
    Byte(0x01);
    for (unsigned char c : *s) Byte(c);
    Byte(0xff);
  }
  void Add(const std::string& s) { Add(std::optional<std::string>(s)); }
  void Add(const std::optional<int64_t>& v) {
    if (!v) return Byte(0x00);
    Byte(0x01);
    uint64_t u = static_cast<uint64_t>(*v);
    for (int i = 0; i < 8; ++i) Byte(static_cast<unsigned char>(u >> (8 * i)));
  }
  int64_t Finish() const {
    uint64_t x = h_;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return static_cast<int64_t>(x);
  }

 private:
  void Byte(unsigned char c) {
    h_ ^= c;
    h_ *= 0x100000001b3ULL;
  }
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

int64_t DedupHash(const Event& e) {
  KeyHash h;
  h.Add(e.server);
  h.Add(e.name);
  h.Add(e.id);
  h.Add(e.utc_ms);
  h.Add(e.event_id);
  return h.Finish();
}

bool SameOpt(const std::optional<std::string>& a, const Stmt& s, int col) {
  if (s.IsNull(col)) return !a.has_value();
  return a.has_value() && *a == s.Text(col);
}

bool SameOpt(const std::optional<int64_t>& a, const Stmt& s, int col) {
  if (s.IsNull(col)) return !a.has_value();
  return a.has_value() && *a == s.Int(col);
}

// The sessions table columns, in the order Load() reads and Save() binds them.
constexpr std::array<std::string_view, 41> kSessionCols = {
    "id",           "kind",          "state",         "server",          "media",
    "source_id",    "parent_id",     "user_id",       "token",           "ip",
    "proto",        "country",       "user_agent",    "referer",         "url",
    "opened_at",    "authorized_at", "started_at",    "updated_at",      "closed_at",
    "bytes",        "duration_ms",   "stall_count",   "stalled_ms",      "denied",
    "close_reason", "event_count",   "last_event_at", "first_event_at",  "seen_at",
    "merge_state",  "change_seq",    "ip_net",        "platform",        "raw_state",
    "raw_reason",   "end_class",     "queued_ms",     "reconnect_count", "reconnect_ms",
    "external_id",
};

// Column values of a sessions row, in kSessionCols order.
using Value = std::variant<std::monostate, int64_t, std::string>;
using Columns = std::array<Value, kSessionCols.size()>;
constexpr size_t kColId = 0, kColSeenAt = 29, kColChangeSeq = 31;
constexpr size_t kColPlatform = 33, kColRawState = 34, kColRawReason = 35, kColExternalId = 40;
constexpr size_t kColState = 2, kColClosedAt = 19, kColStallCount = 22, kColStalledMs = 23;

// seen_at is stored only when it moves to another step of a tenth of the
// idle timeout (1 s to 60 s): the idle sweep needs no more precision, and an
// unchanged column leaves its index (sessions_open) untouched. The sweep
// allows for the step.
int64_t SeenStepMs(const WriterOptions& o) {
  return std::clamp<int64_t>(o.session_timeout_ms / 10, 1000, 60000);
}

Value V(const std::optional<int64_t>& v) { return v ? Value(*v) : Value(); }
Value V(const std::optional<std::string>& v) { return v ? Value(*v) : Value(); }

struct ServerDelta {
  int64_t events = 0;
  int64_t duplicates = 0;
  int64_t rejected = 0;
  std::optional<int64_t> last_event_at;
  int64_t last_seen_at = 0;
  std::optional<int64_t> restart_at;
};

}  // namespace

// Everything that touches SQLite. Used only by the writer thread.
class Writer::Impl {
 public:
  static Result<std::unique_ptr<Impl>> Open(const WriterOptions& o) {
    auto impl = std::make_unique<Impl>();
    Result<Db> db = Db::Open(o.db_path, /*create=*/true);
    if (!db.ok()) return db.status();
    impl->db_ = std::move(db.value());
    Db& d = impl->db_;
    // WAL: readers (reports) never block the writer, and commits append.
    {
      Result<Stmt> jm = d.Prepare("PRAGMA journal_mode=WAL");
      if (!jm.ok()) return jm.status();
      Result<bool> row = jm->Step();
      if (!row.ok()) return row.status();
      if (!row.value() || jm->Text(0) != "wal") {
        return Status::IoError("cannot switch " + o.db_path + " to WAL mode");
      }
    }
    // Checkpoints are the checkpointer thread's job (wal_autocheckpoint=0),
    // except past wal_limit_pages (see Commit()).
    std::string pragmas =
        std::string("PRAGMA synchronous=") + (o.synchronous_full ? "FULL" : "NORMAL") +
        "; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0; PRAGMA busy_timeout=" +
        std::to_string(o.busy_timeout_ms) + "; PRAGMA cache_size=-" +
        std::to_string(std::max<int64_t>(o.cache_bytes / 1024, 2048)) + ";";
    SINK_RETURN_IF_ERROR(d.Exec(pragmas));
    // After the pragmas: wal_autocheckpoint installs a WAL hook of its own.
    impl->wal_limit_pages_ = o.wal_limit_pages;
    impl->seen_step_ms_ = SeenStepMs(o);
    sqlite3_wal_hook(d.get(), &Impl::OnWal, impl.get());
    if (o.max_db_bytes > 0) {
      Result<int64_t> page = d.QueryInt("PRAGMA page_size");
      if (!page.ok()) return page.status();
      const int64_t pages = std::max<int64_t>(o.max_db_bytes / page.value(), 1);
      SINK_RETURN_IF_ERROR(d.Exec("PRAGMA max_page_count=" + std::to_string(pages)));
    }
    Result<int64_t> version = d.QueryInt("PRAGMA user_version");
    if (!version.ok()) return version.status();
    SINK_RETURN_IF_ERROR(Migrate(d));
    SINK_RETURN_IF_ERROR(impl->PrepareAll());
    Result<int64_t> change = d.QueryInt("SELECT coalesce(max(change_seq), 0) FROM sessions");
    if (!change.ok()) return change.status();
    impl->last_change_seq_ = change.value();
    if (version.value() > 0 && version.value() < 3) {
      // Version 3 added what SQL alone cannot backfill: stall intervals and
      // IPv6 networks. Rewrite the rows that have them.
      SINK_RETURN_IF_ERROR(impl->Rewrite("stall_count > 0 OR ip LIKE '%:%'"));
    }
    if (version.value() > 0 && version.value() < 4) {
      // Version 4 added end_class, which finished Flussonic rows derive from
      // their close reason (store/session.cc).
      SINK_RETURN_IF_ERROR(impl->Rewrite("state = 'finished'"));
    }
    impl->session_log_ = o.session_log;
    if (o.session_log) {
      // Rows written while fan-out was off (or before version 5) are not in
      // the log: list those after the relay's cursor, once, in change order.
      SINK_RETURN_IF_ERROR(
          d.Exec("INSERT INTO session_changes(change_seq, id) SELECT change_seq, id FROM sessions "
                 "WHERE change_seq > coalesce((SELECT seq FROM relay_cursors WHERE name = "
                 "'sessions'), 0) AND change_seq < coalesce((SELECT min(change_seq) FROM "
                 "session_changes), 9223372036854775807) ORDER BY change_seq"));
    } else {
      SINK_RETURN_IF_ERROR(d.Exec("DELETE FROM session_changes"));
    }
    return impl;
  }

  Status Begin() {
    committed_change_seq_ = last_change_seq_;
    return db_.Exec("BEGIN IMMEDIATE");
  }
  Status Commit() {
    SINK_RETURN_IF_ERROR(db_.Exec("COMMIT"));
    // The checkpointer normally keeps the WAL short; if it cannot (readers
    // holding old frames, a slow disk), checkpoint here before it grows on.
    // The checkpointer thread may hold the checkpoint lock (SQLite does not
    // wait for it): retry for a moment.
    for (int i = 0; wal_pages_ > wal_limit_pages_ && i < 200; ++i) {
      const int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_RESTART,
                                               nullptr, nullptr);
      if (rc != SQLITE_BUSY) break;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    return Status::Ok();
  }

  // Pages in the WAL after the last commit (SQLite's WAL hook).
  static int OnWal(void* self, sqlite3*, const char*, int pages) {
    static_cast<Impl*>(self)->wal_pages_ = pages;
    return SQLITE_OK;
  }
  void Rollback() {
    if (!sqlite3_get_autocommit(db_.get())) db_.Exec("ROLLBACK");
    last_change_seq_ = committed_change_seq_;
    sessions_.clear();
    servers_.clear();
    restart_cache_.clear();
  }

  // Appends the batch's distinct events and rejects; records which sessions
  // and servers they touch. Counts go to `out`.
  Status AddBatch(const WriteBatch& b, WriteOutcome* out) {
    for (const Event& e : b.events) {
      const int64_t dedup = DedupHash(e);
      Result<bool> dup = IsDuplicate(e, dedup);
      if (!dup.ok()) return dup.status();
      ServerDelta& sd = servers_[e.server.value_or("")];
      sd.last_seen_at = std::max(sd.last_seen_at, b.received_at);
      if (dup.value()) {
        ++out->duplicates;
        ++sd.duplicates;
        continue;
      }
      Stmt& s = insert_event_;
      s.Bind(1, b.received_at);
      s.Bind(2, e.server);
      s.Bind(3, std::string_view(e.name));
      if (e.kind.empty()) {
        s.BindNull(4);
      } else {
        s.Bind(4, std::string_view(e.kind));
      }
      if (e.phase == Phase::kNone) {
        s.BindNull(5);
      } else {
        s.Bind(5, PhaseName(e.phase));
      }
      s.Bind(6, e.id);
      s.Bind(7, e.utc_ms);
      s.Bind(8, e.event_id);
      s.Bind(9, dedup);
      s.Bind(10, std::string_view(e.body));
      Status st = s.Run();
      s.Reset();
      SINK_RETURN_IF_ERROR(st);
      ++out->accepted;
      ++sd.events;
      const std::optional<int64_t> te = e.EventTime();
      if (te && (!sd.last_event_at || *te > *sd.last_event_at)) sd.last_event_at = te;

      if (e.HasSession()) {
        Result<Session*> sess = Load(*e.id);
        if (!sess.ok()) return sess.status();
        sess.value()->Apply(e, b.received_at);
      } else if (e.name == "server_started" && e.server) {
        const int64_t at = te.value_or(b.received_at);
        if (!sd.restart_at || at > *sd.restart_at) sd.restart_at = at;
      }
    }
    for (const Reject& r : b.rejects) {
      Stmt& s = insert_reject_;
      s.Bind(1, b.received_at);
      s.Bind(2, std::string_view(b.remote_addr));
      s.Bind(3, std::string_view(r.reason));
      if (r.index >= 0) {
        s.Bind(4, r.index);
      } else {
        s.BindNull(4);
      }
      s.Bind(5, r.server);
      s.BindBlob(6, r.body);
      Status st = s.Run();
      s.Reset();
      SINK_RETURN_IF_ERROR(st);
      ++out->rejected;
      ServerDelta& sd = servers_[r.server.value_or("")];
      ++sd.rejected;
      sd.last_seen_at = std::max(sd.last_seen_at, b.received_at);
    }
    for (const auto& [name, seq] : b.cursors) {
      Stmt& s = save_cursor_;
      s.Bind(1, std::string_view(name));
      s.Bind(2, seq);
      s.Bind(3, b.received_at);
      Status st = s.Run();
      s.Reset();
      SINK_RETURN_IF_ERROR(st);
      if (name == "sessions") {  // delivered: the log is no longer needed
        trim_changes_.Bind(1, seq);
        st = trim_changes_.Run();
        trim_changes_.Reset();
        SINK_RETURN_IF_ERROR(st);
      }
    }
    for (const KafkaDeadLetter& d : b.kafka_dead_letters) {
      Stmt& s = insert_kafka_dead_;
      s.Bind(1, std::string_view(d.topic));
      s.Bind(2, d.seq);
      s.Bind(3, d.key);
      s.Bind(4, std::string_view(d.reason));
      s.Bind(5, b.received_at);
      Status st = s.Run();
      s.Reset();
      SINK_RETURN_IF_ERROR(st);
    }
    return Status::Ok();
  }

  // Applies server restarts, writes every touched session once and the
  // per-server counters. Returns the number of sessions written.
  Result<int64_t> Finish(WriterStats* stats) {
    for (auto& [server, sd] : servers_) {
      if (server.empty()) continue;
      // Record counters and the restart time first: the restart rule below
      // reads restart_at back from the table.
      Stmt& s = upsert_server_;
      s.Bind(1, std::string_view(server));
      s.Bind(2, sd.events);
      s.Bind(3, sd.duplicates);
      s.Bind(4, sd.rejected);
      s.Bind(5, sd.last_event_at);
      s.Bind(6, sd.last_seen_at);
      s.Bind(7, sd.restart_at);
      Status st = s.Run();
      s.Reset();
      SINK_RETURN_IF_ERROR(st);
      if (sd.restart_at) {
        // Sessions of this server that were open when it restarted.
        Stmt& q = open_before_restart_;
        q.Bind(1, std::string_view(server));
        q.Bind(2, *sd.restart_at);
        Result<std::vector<std::string>> ids = q.FirstColumn();
        if (!ids.ok()) return ids.status();
        for (const std::string& id : ids.value()) {
          Result<Session*> sess = Load(id);
          if (!sess.ok()) return sess.status();
        }
      }
    }
    // A session of a server that restarted after its last event cannot still
    // be open: finish it, whatever order its events and the restart came in.
    for (auto& [id, entry] : sessions_) {
      Session& sess = entry.session;
      if (!sess.server()) continue;
      Result<std::optional<int64_t>> restart = RestartAt(*sess.server());
      if (!restart.ok()) return restart.status();
      if (sess.ApplyServerRestart(restart.value())) ++stats->sessions_server_restart;
    }
    for (auto& [id, entry] : sessions_) SINK_RETURN_IF_ERROR(Save(entry));
    const int64_t n = static_cast<int64_t>(sessions_.size());
    sessions_.clear();
    servers_.clear();
    restart_cache_.clear();
    return n;
  }

  // Loads and saves every session matching `where`, in one transaction.
  Status Rewrite(const std::string& where) {
    Result<Stmt> q = db_.Prepare("SELECT id FROM sessions WHERE " + where);
    if (!q.ok()) return q.status();
    Result<std::vector<std::string>> ids = q->FirstColumn();
    if (!ids.ok()) return ids.status();
    SINK_RETURN_IF_ERROR(Begin());
    for (const std::string& id : ids.value()) {
      Result<Session*> sess = Load(id);
      if (sess.ok()) sessions_.at(id).rewrite = true;
      Status st = sess.ok() ? Save(sessions_.at(id)) : sess.status();
      if (!st.ok()) {
        Rollback();
        return st;
      }
      sessions_.erase(id);
    }
    sessions_.clear();
    Status st = Commit();
    if (!st.ok()) Rollback();
    return st;
  }

  // Finishes sessions idle since before `cutoff_ms` (sink clock). Runs in
  // its own transaction. Returns how many it finished.
  Result<int64_t> SweepIdle(int64_t cutoff_ms) {
    int64_t total = 0;
    for (;;) {
      SINK_RETURN_IF_ERROR(Begin());
      Stmt& q = idle_sessions_;
      q.Bind(1, cutoff_ms);
      Result<std::vector<std::string>> found = q.FirstColumn();
      if (!found.ok()) {
        Rollback();
        return found.status();
      }
      const std::vector<std::string>& ids = found.value();
      for (const std::string& id : ids) {
        Result<Session*> sess = Load(id);
        if (!sess.ok()) {
          Rollback();
          return sess.status();
        }
        sess.value()->CloseSynthetic(SyntheticClose::kSinkTimeout);
        Status st = Save(sessions_.at(id));
        if (!st.ok()) {
          Rollback();
          return st;
        }
      }
      sessions_.clear();
      Status st = Commit();
      if (!st.ok()) {
        Rollback();
        return st;
      }
      total += static_cast<int64_t>(ids.size());
      if (ids.size() < kSweepChunk) return total;
    }
  }

 private:
  static constexpr size_t kSweepChunk = 10000;

  Status PrepareAll() {
    auto prep = [this](Stmt* out, std::string_view sql) { return db_.Prepare(sql, out); };
    SINK_RETURN_IF_ERROR(prep(&find_dup_,
                              "SELECT server, event, session_id, event_id FROM events "
                              "WHERE utc_ms IS ?1 AND dedup = ?2"));
    SINK_RETURN_IF_ERROR(prep(&insert_event_,
                              "INSERT INTO events(received_at, server, event, kind, phase, "
                              "session_id, utc_ms, event_id, dedup, body) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    SINK_RETURN_IF_ERROR(prep(&insert_reject_,
                              "INSERT INTO rejected(received_at, remote_addr, reason, item_index, "
                              "server, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    std::string cols, params, updates;
    for (size_t i = 0; i < kSessionCols.size(); ++i) {
      const std::string_view c = kSessionCols[i];
      if (i > 0) {
        cols += ", ";
        params += ", ";
      }
      cols += c;
      params += '?';
      params += std::to_string(i + 1);
      if (c != "id") {
        if (!updates.empty()) updates += ", ";
        updates.append(c).append(" = excluded.").append(c);
      }
    }
    SINK_RETURN_IF_ERROR(prep(&load_session_, "SELECT " + cols + " FROM sessions WHERE id = ?1"));
    std::string upsert = "INSERT INTO sessions(" + cols + ") VALUES (" + params +
                         ") ON CONFLICT(id) DO UPDATE SET " + updates;
    SINK_RETURN_IF_ERROR(prep(&save_session_, upsert));
    SINK_RETURN_IF_ERROR(prep(
        &upsert_server_,
        "INSERT INTO servers(server, events, duplicates, rejected, last_event_at, last_seen_at, "
        "restart_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(server) DO UPDATE SET "
        "events = events + excluded.events, duplicates = duplicates + excluded.duplicates, "
        "rejected = rejected + excluded.rejected, "
        "last_event_at = max(coalesce(last_event_at, excluded.last_event_at), "
        "coalesce(excluded.last_event_at, last_event_at)), "
        "last_seen_at = max(coalesce(last_seen_at, 0), excluded.last_seen_at), "
        "restart_at = max(coalesce(restart_at, excluded.restart_at), "
        "coalesce(excluded.restart_at, restart_at))"));
    SINK_RETURN_IF_ERROR(prep(&restart_at_, "SELECT restart_at FROM servers WHERE server = ?1"));
    SINK_RETURN_IF_ERROR(
        prep(&save_cursor_,
             "INSERT INTO relay_cursors(name, seq, updated_at) VALUES (?1, ?2, ?3) "
             "ON CONFLICT(name) DO UPDATE SET seq = max(seq, excluded.seq), "
             "updated_at = excluded.updated_at"));
    SINK_RETURN_IF_ERROR(
        prep(&delete_stalls_, "DELETE FROM stall_intervals WHERE session_id = ?1"));
    SINK_RETURN_IF_ERROR(
        prep(&log_change_, "INSERT INTO session_changes(change_seq, id) VALUES (?1, ?2)"));
    SINK_RETURN_IF_ERROR(
        prep(&trim_changes_, "DELETE FROM session_changes WHERE change_seq <= ?1"));
    SINK_RETURN_IF_ERROR(prep(&insert_stall_,
                              "INSERT INTO stall_intervals(session_id, start_at, end_at) "
                              "VALUES (?1, ?2, ?3)"));
    SINK_RETURN_IF_ERROR(prep(&insert_kafka_dead_,
                              "INSERT INTO kafka_dead_letters(topic, seq, key, reason, failed_at) "
                              "VALUES (?1, ?2, ?3, ?4, ?5)"));
    SINK_RETURN_IF_ERROR(prep(&open_before_restart_,
                              "SELECT id FROM sessions WHERE server = ?1 AND state <> 'finished' "
                              "AND last_event_at < ?2"));
    SINK_RETURN_IF_ERROR(prep(&idle_sessions_,
                              "SELECT id FROM sessions WHERE state <> 'finished' AND seen_at < ?1 "
                              "LIMIT " +
                                  std::to_string(kSweepChunk)));
    return Status::Ok();
  }

  Result<bool> IsDuplicate(const Event& e, int64_t dedup) {
    Stmt& s = find_dup_;
    s.Bind(1, e.utc_ms);
    s.Bind(2, dedup);
    bool dup = false;
    for (;;) {
      Result<bool> row = s.Step();
      if (!row.ok()) {
        s.Reset();
        return row.status();
      }
      if (!row.value()) break;
      if (SameOpt(e.server, s, 0) && s.Text(1) == e.name && SameOpt(e.id, s, 2) &&
          SameOpt(e.event_id, s, 3)) {
        dup = true;
        break;
      }
    }
    s.Reset();
    return dup;
  }

  // A session being merged in this transaction (loaded once per group), and
  // its row as stored before (none for a new session).
  struct Entry {
    Session session;
    std::optional<Columns> stored;
    bool rewrite = false;  // write every column and the stall intervals
  };

  Result<Session*> Load(const std::string& id) {
    auto it = sessions_.find(id);
    if (it != sessions_.end()) return &it->second.session;
    Stmt& s = load_session_;
    s.Bind(1, std::string_view(id));
    Result<bool> row = s.Step();
    if (!row.ok()) {
      s.Reset();
      return row.status();
    }
    if (!row.value()) {
      s.Reset();
      return &sessions_.emplace(id, Entry{Session(id), std::nullopt}).first->second.session;
    }
    Columns stored;
    for (size_t c = 0; c < stored.size(); ++c) {
      if (s.IsNull(static_cast<int>(c))) continue;
      if (sqlite3_column_type(s.get(), static_cast<int>(c)) == SQLITE_INTEGER) {
        stored[c] = s.Int(static_cast<int>(c));
      } else {
        stored[c] = std::string(s.Text(static_cast<int>(c)));
      }
    }
    s.Reset();
    auto text = [&stored](size_t c) -> std::optional<std::string> {
      if (const auto* v = std::get_if<std::string>(&stored[c])) return *v;
      return std::nullopt;
    };
    auto num = [&stored](size_t c) -> std::optional<int64_t> {
      if (const auto* v = std::get_if<int64_t>(&stored[c])) return *v;
      return std::nullopt;
    };
    SessionRow r;
    r.id = id;
    r.kind = text(1).value_or("");
    for (int i = 0; i < kDescCount; ++i) r.desc[i] = text(3 + static_cast<size_t>(i));
    r.opened_at = num(15);
    r.authorized_at = num(16);
    r.started_at = num(17);
    r.updated_at = num(18);
    r.closed_at = num(19);
    r.bytes = num(20);
    r.duration_ms = num(21);
    r.denied = num(24).value_or(0) != 0;
    r.close_reason = text(25);
    r.event_count = num(26).value_or(0);
    r.last_event_at = num(27);
    r.first_event_at = num(28);
    r.seen_at = num(kColSeenAt).value_or(0);
    r.platform = text(kColPlatform).value_or("flussonic");
    r.raw_state = text(kColRawState);
    r.raw_reason = text(kColRawReason);
    r.external_id = text(kColExternalId);
    Result<Session> sess = Session::FromStored(r, text(30).value_or(""));
    if (!sess.ok()) return sess.status();
    return &sessions_.emplace(id, Entry{std::move(sess.value()), std::move(stored)})
                .first->second.session;
  }

  // Writes the session's row: INSERT when new, otherwise an UPDATE of only
  // the columns that changed (so indexes on unchanged columns stay as they
  // are). Nothing is written when nothing changed.
  Status Save(const Entry& e) {
    const Session& sess = e.session;
    const SessionRow r = sess.Row();
    Columns now = {r.id,
                   r.kind,
                   r.state,
                   V(r.desc[0]),
                   V(r.desc[1]),
                   V(r.desc[2]),
                   V(r.desc[3]),
                   V(r.desc[4]),
                   V(r.desc[5]),
                   V(r.desc[6]),
                   V(r.desc[7]),
                   V(r.desc[8]),
                   V(r.desc[9]),
                   V(r.desc[10]),
                   V(r.desc[11]),
                   V(r.opened_at),
                   V(r.authorized_at),
                   V(r.started_at),
                   V(r.updated_at),
                   V(r.closed_at),
                   V(r.bytes),
                   V(r.duration_ms),
                   r.stall_count,
                   r.stalled_ms,
                   static_cast<int64_t>(r.denied),
                   V(r.close_reason),
                   r.event_count,
                   V(r.last_event_at),
                   V(r.first_event_at),
                   r.seen_at,
                   sess.MergeState(),
                   Value(),
                   V(r.ip_net),
                   r.platform,
                   V(r.raw_state),
                   V(r.raw_reason),
                   V(r.end_class),
                   V(r.queued_ms),
                   r.reconnect_count,
                   r.reconnect_ms,
                   V(r.external_id)};
    uint64_t changed = ~uint64_t{0};
    if (e.stored) {
      const Columns& old = *e.stored;
      if (const auto* was = std::get_if<int64_t>(&old[kColSeenAt])) {
        if (*was / seen_step_ms_ == r.seen_at / seen_step_ms_) now[kColSeenAt] = *was;
      }
      changed = 0;
      for (size_t c = 1; c < now.size(); ++c) {
        if (c != kColChangeSeq && (e.rewrite || now[c] != old[c])) changed |= uint64_t{1} << c;
      }
      if (changed == 0) return Status::Ok();
    }
    now[kColChangeSeq] = ++last_change_seq_;
    changed |= uint64_t{1} << kColChangeSeq;

    Result<Stmt*> stmt = e.stored ? UpdateFor(changed) : Result<Stmt*>(&save_session_);
    if (!stmt.ok()) return stmt.status();
    Stmt& s = *stmt.value();
    int param = 0;
    for (size_t c = 0; c < now.size(); ++c) {
      if (e.stored && (c == kColId || !(changed >> c & 1))) continue;
      ++param;
      if (const auto* i = std::get_if<int64_t>(&now[c])) {
        s.Bind(param, *i);
      } else if (const auto* t = std::get_if<std::string>(&now[c])) {
        s.Bind(param, std::string_view(*t));
      } else {
        s.BindNull(param);
      }
    }
    if (e.stored) s.Bind(param + 1, std::string_view(r.id));
    Status st = s.Run();
    s.Reset();
    SINK_RETURN_IF_ERROR(st);
    if (session_log_) {
      log_change_.Bind(1, std::get<int64_t>(now[kColChangeSeq]));
      log_change_.Bind(2, std::string_view(r.id));
      st = log_change_.Run();
      log_change_.Reset();
      SINK_RETURN_IF_ERROR(st);
    }

    // Sessions with stalls also keep them as rows (stall_intervals).
    const uint64_t stall_columns = (uint64_t{1} << kColState) | (uint64_t{1} << kColClosedAt) |
                                   (uint64_t{1} << kColStallCount) | (uint64_t{1} << kColStalledMs);
    if (!sess.HasStallMarks() || (e.stored && !e.rewrite && !(changed & stall_columns))) {
      return Status::Ok();
    }
    delete_stalls_.Bind(1, std::string_view(r.id));
    st = delete_stalls_.Run();
    delete_stalls_.Reset();
    SINK_RETURN_IF_ERROR(st);
    for (const StallInterval& i : r.stalls) {
      insert_stall_.Bind(1, std::string_view(r.id));
      insert_stall_.Bind(2, i.start_at);
      insert_stall_.Bind(3, i.end_at);
      st = insert_stall_.Run();
      insert_stall_.Reset();
      SINK_RETURN_IF_ERROR(st);
    }
    return Status::Ok();
  }

  // UPDATE sessions SET <the columns in `mask`> WHERE id = ?, prepared once
  // per distinct mask (a handful in practice: each phase changes its set).
  Result<Stmt*> UpdateFor(uint64_t mask) {
    auto it = updates_.find(mask);
    if (it != updates_.end()) return &it->second;
    std::string sql = "UPDATE sessions SET ";
    int param = 0;
    for (size_t c = 1; c < kSessionCols.size(); ++c) {
      if (!(mask >> c & 1)) continue;
      if (param) sql += ", ";
      sql.append(kSessionCols[c]).append(" = ?").append(std::to_string(++param));
    }
    sql += " WHERE id = ?" + std::to_string(param + 1);
    Stmt stmt;
    SINK_RETURN_IF_ERROR(db_.Prepare(sql, &stmt));
    return &updates_.emplace(mask, std::move(stmt)).first->second;
  }

  Result<std::optional<int64_t>> RestartAt(const std::string& server) {
    auto it = restart_cache_.find(server);
    if (it != restart_cache_.end()) return it->second;
    Stmt& s = restart_at_;
    s.Bind(1, std::string_view(server));
    Result<bool> row = s.Step();
    std::optional<int64_t> v;
    if (row.ok() && row.value()) v = s.OptInt(0);
    s.Reset();
    if (!row.ok()) return row.status();
    restart_cache_.emplace(server, v);
    return v;
  }

 public:
  Db db_;  // declared first: statements below are finalized before it closes

 private:
  Stmt find_dup_, insert_event_, insert_reject_, load_session_, save_session_;
  Stmt upsert_server_, restart_at_, open_before_restart_, idle_sessions_;
  Stmt save_cursor_, insert_kafka_dead_, delete_stalls_, insert_stall_;
  Stmt log_change_, trim_changes_;
  bool session_log_ = false;
  int64_t wal_pages_ = 0;
  int64_t wal_limit_pages_ = 0;
  int64_t seen_step_ms_ = 10000;
  int64_t last_change_seq_ = 0;       // sessions.change_seq of the newest write
  int64_t committed_change_seq_ = 0;  // … as of the last commit (restored on rollback)
  // Per-transaction state; cleared on commit and on rollback.
  std::map<std::string, Entry> sessions_;
  std::unordered_map<uint64_t, Stmt> updates_;  // UpdateFor() cache
  std::map<std::string, ServerDelta> servers_;
  std::unordered_map<std::string, std::optional<int64_t>> restart_cache_;
};

Result<std::unique_ptr<Writer>> Writer::Open(const WriterOptions& options, const Clock* clock) {
  Result<std::unique_ptr<Impl>> impl = Impl::Open(options);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Writer>(new Writer(options, clock, std::move(impl.value())));
}

Writer::Writer(const WriterOptions& options, const Clock* clock, std::unique_ptr<Impl> impl)
    : options_(options), clock_(clock), impl_(std::move(impl)) {
  thread_ = std::thread([this] { Run(); });
  checkpointer_ = std::thread([this] {
    // Copies committed WAL frames into the database file in the background
    // (PASSIVE: never blocks the writer or readers), right after each commit:
    // the pages are still in the OS cache, the copy overlaps the writer's
    // next transaction, and the WAL stays short. The connection reads
    // the journal mode first: until it has, it does not know the file is in
    // WAL mode and every checkpoint would do nothing. It runs at a lower
    // CPU priority: on a small machine the commits that answer requests
    // come first.
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
    Result<Db> db = Db::Open(options_.db_path, false);
    if (!db.ok() || !db->Exec("PRAGMA busy_timeout=1000; PRAGMA journal_mode=WAL").ok()) return;
    std::unique_lock<std::mutex> lock(mu_);
    while (!checkpoint_stop_) {
      checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(options_.checkpoint_interval_ms),
                              [this] { return checkpoint_stop_ || checkpoint_due_; });
      if (checkpoint_stop_) break;
      checkpoint_due_ = false;
      lock.unlock();
      sqlite3_wal_checkpoint_v2(db->get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
  });
}

Writer::~Writer() { Stop(); }

Result<Writer::Future> Writer::Submit(WriteBatch batch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return Status::Unavailable("shutting down");
  const size_t n = batch.events.size() + batch.rejects.size();
  if (!queue_.empty() && queued_events_ + n > options_.max_pending_events) {
    ++stats_.queue_refusals;
    return Status::Unavailable("writer queue is full (" + std::to_string(queued_events_) +
                               " events pending)");
  }
  queued_events_ += n;
  queue_.push_back(Pending{std::move(batch), {}});
  Future f = queue_.back().done.get_future();
  cv_.notify_one();
  return f;
}

void Writer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    checkpoint_stop_ = true;
  }
  cv_.notify_one();
  checkpoint_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
}

WriterStats Writer::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  WriterStats s = stats_;
  s.pending_events = queued_events_;
  return s;
}

void Writer::SetCommitListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  on_commit_ = std::move(listener);
}

Status Writer::SweepNow() {
  std::future<Status> f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("shutting down");
    sweep_done_ = std::promise<Status>();
    f = sweep_done_.get_future();
    sweep_requested_ = true;
  }
  cv_.notify_one();
  return f.get();
}

void Writer::Run() {
  int64_t next_sweep = clock_->NowMs() + options_.sweep_interval_ms;
  for (;;) {
    std::deque<Pending> group;
    bool sweep = false;
    bool explicit_sweep = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms),
                   [this] { return !queue_.empty() || stopping_ || sweep_requested_; });
      if (queue_.empty() && stopping_) break;
      group.swap(queue_);
      explicit_sweep = sweep_requested_;
      sweep_requested_ = false;
      sweep = explicit_sweep || clock_->NowMs() >= next_sweep;
    }

    if (!group.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<WriteOutcome> outcomes(group.size());
      WriterStats delta;
      Status st = impl_->Begin();
      for (size_t i = 0; st.ok() && i < group.size(); ++i) {
        st = impl_->AddBatch(group[i].batch, &outcomes[i]);
      }
      int64_t written = 0;
      if (st.ok()) {
        Result<int64_t> n = impl_->Finish(&delta);
        if (n.ok()) {
          written = n.value();
        } else {
          st = n.status();
        }
      }
      if (st.ok()) st = impl_->Commit();
      if (!st.ok()) impl_->Rollback();
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
      healthy_ = st.ok();
      std::function<void()> listener;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (st.ok()) listener = on_commit_;
        size_t n = 0;
        for (const Pending& p : group) n += p.batch.events.size() + p.batch.rejects.size();
        queued_events_ -= n;
        stats_.batches += group.size();
        if (st.ok()) {
          checkpoint_due_ = true;
          ++stats_.commits;
          stats_.commit_us_total += static_cast<uint64_t>(us);
          stats_.commit_seconds.Observe(static_cast<double>(us) * 1e-6);
          stats_.sessions_written += static_cast<uint64_t>(written);
          stats_.sessions_server_restart += delta.sessions_server_restart;
          for (const WriteOutcome& o : outcomes) {
            stats_.events_accepted += static_cast<uint64_t>(o.accepted);
            stats_.events_duplicate += static_cast<uint64_t>(o.duplicates);
            stats_.items_rejected += static_cast<uint64_t>(o.rejected);
          }
        } else {
          ++stats_.commit_failures;
        }
      }
      checkpoint_cv_.notify_one();
      if (listener) listener();
      for (size_t i = 0; i < group.size(); ++i) {
        if (st.ok()) {
          group[i].done.set_value(outcomes[i]);
        } else {
          group[i].done.set_value(Status::Unavailable("database write failed: " + st.message()));
        }
      }
    }

    if (sweep) {
      next_sweep = clock_->NowMs() + options_.sweep_interval_ms;
      // seen_at is stored in steps (SeenStepMs): allow for one, so that no
      // session is finished before its timeout.
      Result<int64_t> n =
          impl_->SweepIdle(clock_->NowMs() - options_.session_timeout_ms - SeenStepMs(options_));
      std::function<void()> listener;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (n.ok() && n.value() > 0) listener = on_commit_;
        if (n.ok()) stats_.sessions_timed_out += static_cast<uint64_t>(n.value());
        if (explicit_sweep) sweep_done_.set_value(n.ok() ? Status::Ok() : n.status());
      }
      if (listener) listener();
    }
  }
  // Fail anything that raced with shutdown (Submit refuses once stopping_).
  std::lock_guard<std::mutex> lock(mu_);
  if (sweep_requested_) sweep_done_.set_value(Status::Unavailable("shutting down"));
  for (Pending& p : queue_) p.done.set_value(Status::Unavailable("shutting down"));
  queue_.clear();
}

}  // namespace sink
