#include "store/writer.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "store/event_log.h"
#include "store/schema.h"
#include "store/session_set.h"
#include "store/session_table.h"
#include "store/sqlite.h"

namespace sink {

// The writer's connection and what works through it: the event log, the
// sessions table, and the sessions in memory. Used only by the writer
// thread (and by Open, before it starts).
class Writer::Impl {
 public:
  static Result<std::unique_ptr<Impl>> Open(const WriterOptions& o, const Clock* clock) {
    auto impl = std::unique_ptr<Impl>(new Impl(o));
    SINK_RETURN_IF_ERROR(impl->OpenDb(o));
    SINK_RETURN_IF_ERROR(impl->Recover(o, clock->NowMs()));
    return impl;
  }

  Status Begin() { return db_.Exec("BEGIN IMMEDIATE"); }
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
  void Rollback() {
    // Nothing to undo when BEGIN itself failed; a failing ROLLBACK leaves the
    // connection to SQLite's own automatic rollback.
    if (!sqlite3_get_autocommit(db_.get())) (void)db_.Exec("ROLLBACK");
  }

  // One accepted event, to merge once its transaction committed.
  struct Accepted {
    const Event* event;
    int64_t seq;
    int64_t received_at;
  };

  // Appends a batch inside the open transaction. Accepted events go to `out`.
  Status AddBatch(const WriteBatch& b, WriteOutcome* outcome, std::vector<Accepted>* out) {
    for (const Event& e : b.events) {
      Result<std::optional<int64_t>> seq = log_.Append(e, b.received_at);
      if (!seq.ok()) return seq.status();
      if (!seq->has_value()) {
        ++outcome->duplicates;
        continue;
      }
      ++outcome->accepted;
      out->push_back(Accepted{&e, *seq.value(), b.received_at});
    }
    for (const Reject& r : b.rejects) {
      SINK_RETURN_IF_ERROR(log_.AddReject(r, b.received_at, b.remote_addr));
      ++outcome->rejected;
    }
    for (const auto& [name, seq] : b.cursors) {
      SINK_RETURN_IF_ERROR(log_.SaveCursor(name, seq, b.received_at));
    }
    for (const KafkaDeadLetter& d : b.kafka_dead_letters) {
      SINK_RETURN_IF_ERROR(log_.AddKafkaDeadLetter(d, b.received_at));
    }
    return Status::Ok();
  }

  // Merges committed events into the sessions in memory. If reading a row
  // back fails, the rest is merged later from the log (CatchUp), so that no
  // committed event is left out of its session.
  void Merge(const std::vector<Accepted>& accepted, const std::map<std::string, int64_t>& restarts,
             int64_t now_ms) {
    if (accepted.empty() && restarts.empty()) return;
    if (!accepted.empty()) sessions_.NoteCommit(accepted.back().seq, now_ms);
    if (catch_up_) return;
    for (const Accepted& a : accepted) {
      if (!sessions_.Apply(*a.event, a.seq, a.received_at, now_ms).ok()) {
        catch_up_ = true;
        return;
      }
    }
    for (const auto& [server, at] : restarts) {
      if (!sessions_.ServerRestarted(server, at, now_ms).ok()) {
        catch_up_ = true;
        return;
      }
    }
  }

  // Merges the events after what was applied, read back from the log: at
  // start (replay), and after a merge that could not read a row.
  Status CatchUp(int64_t now_ms) {
    Status st = log_.ForEachAfter(sessions_.applied_seq(), [&](const StoredEvent& se) {
      Result<Event> e = reparse_ ? reparse_(se) : Status::Internal("no re-parser configured");
      ++replayed_;
      if (!e.ok()) {
        // Kept in the log (and on Kafka); only its session misses it.
        ++replay_failures_;
        return sessions_.Apply(Event{}, se.seq, se.received_at, now_ms);
      }
      SINK_RETURN_IF_ERROR(sessions_.Apply(e.value(), se.seq, se.received_at, now_ms));
      if (e->name == "server_started" && e->server && !e->HasSession()) {
        const int64_t at = e->EventTime().value_or(se.received_at);
        SINK_RETURN_IF_ERROR(sessions_.ServerRestarted(*e->server, at, now_ms));
      }
      return Status::Ok();
    });
    if (st.ok()) catch_up_ = false;
    if (sessions_.applied_seq() > sessions_.watermark()) {
      sessions_.NoteCommit(sessions_.applied_seq(), now_ms);
    }
    return st;
  }
  bool catching_up() const { return catch_up_; }

  EventLog& log() { return log_; }
  SessionSet& sessions() { return sessions_; }
  Stmt& save_watermark() { return save_watermark_; }
  uint64_t replayed() const { return replayed_; }
  uint64_t replay_failures() const { return replay_failures_; }

  Db db_;  // declared first: everything below is finalized before it closes

 private:
  explicit Impl(const WriterOptions& o)
      : reparse_(o.reparse), sessions_(&table_, o.session_memory_bytes) {}

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
    // Checkpoints are the checkpointer thread's job (wal_autocheckpoint=0),
    // except past wal_limit_pages (see Commit()).
    const std::string pragmas =
        std::string("PRAGMA synchronous=") + (o.synchronous_full ? "FULL" : "NORMAL") +
        "; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0; PRAGMA busy_timeout=" +
        std::to_string(o.busy_timeout_ms) + "; PRAGMA cache_size=-" +
        std::to_string(std::max<int64_t>(o.cache_bytes / 1024, 2048)) + ";";
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
    SINK_RETURN_IF_ERROR(Migrate(db_));
    Result<EventLog> log = EventLog::Open(&db_);
    if (!log.ok()) return log.status();
    log_ = std::move(log.value());
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

  // The sessions in memory as the table and the log say: the open index,
  // the restart times, then every event after the watermark merged again.
  Status Recover(const WriterOptions& o, int64_t now_ms) {
    Result<int64_t> watermark =
        db_.QueryInt("SELECT value FROM store_state WHERE name = 'sessions_watermark'");
    if (!watermark.ok()) return watermark.status();
    Result<std::map<std::string, int64_t>> restarts = log_.RestartTimes();
    if (!restarts.ok()) return restarts.status();
    SINK_RETURN_IF_ERROR(sessions_.Start(&db_, watermark.value(), std::move(restarts.value())));
    Result<int64_t> last = log_.LastSeq();
    if (!last.ok()) return last.status();
    if (last.value() > watermark.value() && !o.reparse) {
      return Status::Internal(
          "the log holds events after the sessions watermark and no "
          "re-parser was given to replay them");
    }
    return CatchUp(now_ms);
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

  // Pages in the WAL after the last commit (SQLite's WAL hook).
  static int OnWal(void* self, sqlite3*, const char*, int pages) {
    static_cast<Impl*>(self)->wal_pages_ = pages;
    return SQLITE_OK;
  }

  Reparser reparse_;
  EventLog log_;
  SessionTable table_;
  SessionSet sessions_;  // after table_: it writes through it
  Stmt save_watermark_;
  int64_t wal_pages_ = 0;
  int64_t wal_limit_pages_ = 0;
  bool catch_up_ = false;
  uint64_t replayed_ = 0, replay_failures_ = 0;
};

Result<std::unique_ptr<Writer>> Writer::Open(const WriterOptions& options, const Clock* clock) {
  Result<std::unique_ptr<Impl>> impl = Impl::Open(options, clock);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Writer>(new Writer(options, clock, std::move(impl.value())));
}

Writer::Writer(const WriterOptions& options, const Clock* clock, std::unique_ptr<Impl> impl)
    : options_(options),
      session_timeout_ms_(options.session_timeout_ms),
      sweep_interval_ms_(options.sweep_interval_ms),
      clock_(clock),
      impl_(std::move(impl)) {
  Publish();
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
  if (sessions_full_ && !batch.events.empty()) {
    ++stats_.queue_refusals;
    return Status::Unavailable("sessions not yet written to the database exceed the memory bound");
  }
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
  s.flush_lag_ms =
      unflushed_since_ms_ < 0 ? 0 : std::max<int64_t>(0, clock_->NowMs() - unflushed_since_ms_);
  return s;
}

void Writer::SetCommitListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  on_commit_ = std::move(listener);
}

Status Writer::FlushNow() {
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

void Writer::CommitGroup(std::deque<Pending>& group) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<WriteOutcome> outcomes(group.size());
  std::vector<Impl::Accepted> accepted;
  Status st = impl_->Begin();
  for (size_t i = 0; st.ok() && i < group.size(); ++i) {
    st = impl_->AddBatch(group[i].batch, &outcomes[i], &accepted);
  }
  Result<std::map<std::string, int64_t>> restarts = std::map<std::string, int64_t>();
  if (st.ok()) {
    restarts = impl_->log().WriteServers();
    if (!restarts.ok()) st = restarts.status();
  }
  if (st.ok()) st = impl_->Commit();
  if (!st.ok()) {
    impl_->Rollback();
    impl_->log().Discard();
  }
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
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
  // The answers are out; now the sessions (the events are in `group`).
  if (st.ok()) impl_->Merge(accepted, restarts.value(), clock_->NowMs());
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
  do {
    const int64_t now = clock_->NowMs();
    if (!sessions.CycleActive()) {
      if (!sessions.FlushDue(now, all ? 0 : half)) return;
      sessions.BeginCycle();
    }
    const auto t0 = std::chrono::steady_clock::now();
    Status st = impl_->Begin();
    if (st.ok()) st = sessions.WriteChunk(options_.flush_chunk_rows, &impl_->save_watermark());
    if (st.ok()) st = impl_->Commit();
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (st.ok()) {
      sessions.Committed(now);
    } else {
      impl_->Rollback();
      sessions.RolledBack();
    }
    std::function<void()> listener;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (st.ok()) {
        ++stats_.flushes;
        stats_.flush_us_total += static_cast<uint64_t>(us);
        checkpoint_due_ = true;
        if (options_.session_log) listener = on_commit_;
      } else {
        ++stats_.flush_failures;
      }
    }
    checkpoint_cv_.notify_one();
    if (listener) listener();
    if (!st.ok()) return;  // tried again on the next round
    more = all || (sessions.CycleActive() && sessions.FlushLagMs(clock_->NowMs()) > urgent);
  } while (more);
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
  stats_.unflushed_events = sessions.applied_seq() - sessions.watermark();
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
}

void Writer::SetSessionTimeout(int64_t timeout_ms, int64_t sweep_interval_ms) {
  session_timeout_ms_ = timeout_ms;
  sweep_interval_ms_ = sweep_interval_ms;
}

void Writer::Run() {
  int64_t next_sweep = clock_->NowMs() + sweep_interval_ms_.load();
  // How often an idle writer looks whether a flush is due.
  const auto tick = std::chrono::milliseconds(
      std::clamp<int64_t>(options_.session_flush_ms / 8, 1, options_.sweep_interval_ms));
  for (;;) {
    std::deque<Pending> group;
    std::vector<std::promise<Status>> sweep_waiters, flush_waiters;
    bool sweep = false;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const bool busy = impl_->sessions().CycleActive() || impl_->catching_up();
      cv_.wait_for(lock, busy ? std::chrono::milliseconds(0) : tick, [this] {
        return !queue_.empty() || stopping_ || sweep_requested_ || !flush_waiters_.empty();
      });
      stop = queue_.empty() && stopping_;
      group.swap(queue_);
      sweep_waiters.swap(sweep_waiters_);
      flush_waiters.swap(flush_waiters_);
      sweep = sweep_requested_ || clock_->NowMs() >= next_sweep;
      sweep_requested_ = false;
    }
    if (!group.empty()) CommitGroup(group);
    if (impl_->catching_up()) (void)impl_->CatchUp(clock_->NowMs());
    if (sweep) {
      next_sweep = clock_->NowMs() + sweep_interval_ms_.load();
      const int64_t now = clock_->NowMs();
      Result<int64_t> n = impl_->sessions().SweepIdle(now - session_timeout_ms_.load(), now);
      for (std::promise<Status>& p : sweep_waiters) p.set_value(n.ok() ? Status::Ok() : n.status());
    }
    Flush(/*all=*/(stop && options_.flush_on_stop) || !flush_waiters.empty());
    impl_->sessions().Evict();
    Publish();
    if (!flush_waiters.empty()) {
      const Status st = impl_->sessions().FlushDue(clock_->NowMs(), 0)
                            ? Status::Unavailable("could not write the sessions table")
                            : Status::Ok();
      for (std::promise<Status>& p : flush_waiters) p.set_value(st);
    }
    if (stop) break;
  }
  // Fail anything that raced with shutdown (Submit refuses once stopping_).
  std::lock_guard<std::mutex> lock(mu_);
  for (std::promise<Status>& p : sweep_waiters_) p.set_value(Status::Unavailable("shutting down"));
  for (std::promise<Status>& p : flush_waiters_) p.set_value(Status::Unavailable("shutting down"));
  for (Pending& p : queue_) p.done.set_value(Status::Unavailable("shutting down"));
  queue_.clear();
}

}  // namespace sink
