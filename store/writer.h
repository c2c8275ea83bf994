// Writer: the store's two writer threads, each the only connection that
// writes or checkpoints its files.
//
// The log writer: HTTP handlers Submit() batches; it drains everything
// queued into one transaction (group commit) on the open segment of the
// event log (store/segment_log.h) that appends the distinct events and keeps
// the dead letters, and COMMITs. Only then are the futures of all batches in
// the group fulfilled, so a successful outcome means the events are durable
// (to the configured synchronous level). A failed transaction is rolled back
// whole and every batch in it fails with kUnavailable: nothing is
// half-applied and senders retry. Nothing else is on that path.
//
// The sessions writer (the main file): the committed events are handed to
// it and merged into the sessions in memory (store/session_set.h), which
// are written to the `sessions` table behind, at most `session_flush_ms`
// later, with the watermark and what the commits changed beside sessions
// (store/sink_tables.h) in the same transaction. At start, the events after
// the watermark are read back from the segments, re-parsed with `reparse`,
// and merged again, so the rows after a crash are exactly what they would
// have been. It also finishes sessions idle for longer than
// `session_timeout_ms` (close_reason 'sink_timeout'), saves the Kafka
// relay's progress, and applies retention: closed segments are deleted
// whole, oldest first, never one holding events after the watermark or not
// yet delivered by the relay.
//
// Thread-safety: Submit(), Stats(), Healthy(), FlushNow(), SweepNow() and
// SetCommitListener() may be called from any thread (FlushNow and SweepNow
// block until done; not from the commit listener). Stop() is called once,
// by the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/clock.h"
#include "store/compactor.h"
#include "store/event.h"
#include "store/event_log.h"
#include "store/histogram.h"
#include "store/log_limit.h"
#include "store/segment_log.h"
#include "store/status.h"
#include "store/write_batch.h"

namespace sink {

// Turns a stored event back into the Event its parser made of it (replay).
using Reparser = std::function<Result<Event>(const StoredEvent&)>;

struct WriterOptions {
  std::string db_path;
  // synchronous=FULL survives power loss; NORMAL (WAL) survives a process crash.
  bool synchronous_full = false;
  // Sessions without events for this long are finished by the sink.
  int64_t session_timeout_ms = 10 * 60 * 1000;
  // A changed session is written to `sessions` at most this long after the
  // change (a cycle starts when the oldest change is half as old).
  int64_t session_flush_ms = 1000;
  // Merged sessions kept in memory beyond what is being written: clean ones
  // past this leave memory and are read back on their next event.
  int64_t session_memory_bytes = 128ll << 20;
  // Rows per flush transaction: a group commit waits for at most one (200:
  // half-load p99 6.5–14 ms, median 8.8, against 11–12 ms with 500).
  size_t flush_chunk_rows = 200;
  // Keep the session_changes log the Kafka relay reads (fan-out configured).
  bool session_log = false;
  // How often the idle sweep runs.
  int64_t sweep_interval_ms = 1000;
  // Sessions the idle sweep finishes per step: group commits and flushes go
  // between steps, and the next step waits until the sessions in memory are
  // back under `session_memory_bytes` (a million sessions timing out at
  // once neither hold up requests nor memory).
  size_t sweep_step_sessions = 10000;
  // Bound on queued, not yet committed events. A batch that would exceed it
  // is refused (kUnavailable → HTTP 503), except into an empty queue, so a
  // single large batch can always make progress.
  size_t max_pending_events = 200000;
  // SQLite page cache for the writer connection. Small on purpose: the
  // log appends at its end and the flush reads rows the OS still caches; a
  // larger cache made commits slower (docs/performance.md).
  int64_t cache_bytes = 16ll << 20;
  // Cap on the database file size (0: none). When reached, commits fail and
  // requests get 503 until space is freed; nothing already stored is lost.
  int64_t max_db_bytes = 0;
  // How long a commit waits for another process holding the write lock.
  int64_t busy_timeout_ms = 5000;
  // WAL checkpoints: the writer thread copies the WAL into the database
  // file itself (PASSIVE, after a round's answers are out) once
  // `checkpoint_pages` are waiting, and what is left when it is idle, at
  // most this often. No other connection writes or checkpoints the file
  // (SQLite's WAL-reset bug needs two: docs/reliability.md). A WAL past
  // `wal_limit_pages` (readers held the copies back) is checkpointed with
  // RESTART, which waits for them and bounds the file.
  int64_t checkpoint_interval_ms = 1000;
  int64_t checkpoint_pages = 1024;  // 4 MiB of 4 KiB pages
  int64_t wal_limit_pages = 16384;  // 64 MiB of 4 KiB pages
  // Stop() writes every changed session first. Tests turn it off to leave
  // the table behind the log as a crash would.
  bool flush_on_stop = true;
  // Re-parses stored events at start (required when the log holds events
  // after the watermark: ingest/platforms/platforms.h ReparseStoredEvent).
  Reparser reparse;

  // The event log's segments (store/segment_log.h): the open one is closed
  // past `segment_bytes` or when its first event is `segment_ms` old
  // (0: the default, or max_disk_bytes / 8 when that is smaller).
  int64_t segment_bytes = 0;
  int64_t segment_ms = 60ll * 60 * 1000;
  int64_t dedup_horizon_ms = 24ll * 60 * 60 * 1000;
  // Retention (0: keep everything). Closed segments whose newest event
  // arrived longer ago than `retain_events_ms` are deleted, and the oldest
  // while the files of the store exceed `max_disk_bytes`.
  int64_t retain_events_ms = 0;
  int64_t max_disk_bytes = 0;
  // Finished sessions closed longer ago than this are deleted (0: never).
  int64_t retain_sessions_ms = 0;
  // Rows kept in `rejected` and in `kafka_dead_letters` (the newest).
  int64_t keep_dead_letters = 100000;
  // Retention never deletes events the Kafka relay has not delivered.
  bool relay_events = false;
  // How often retention looks.
  int64_t retention_interval_ms = 1000;
  // Closed segments are rewritten in their compact form, on a thread of
  // their own (store/compactor.h).
  bool compact_segments = true;
};

// How many events a batch of the relay's progress counts for: none.
bool IsControlBatch(const WriteBatch& b);

struct WriterStats {
  uint64_t commits = 0;
  uint64_t commit_failures = 0;
  uint64_t commit_us_total = 0;     // wall time in BEGIN…COMMIT
  LatencyHistogram commit_seconds;  // the same, one observation per successful commit
  uint64_t batches = 0;
  uint64_t events_accepted = 0;
  uint64_t events_duplicate = 0;
  uint64_t items_rejected = 0;
  uint64_t sessions_written = 0;
  uint64_t sessions_timed_out = 0;
  uint64_t sessions_server_restart = 0;
  uint64_t queue_refusals = 0;
  uint64_t pending_events = 0;  // gauge
  // Write-behind of the sessions table.
  uint64_t flushes = 0;              // flush transactions committed
  uint64_t flush_failures = 0;       // flush transactions rolled back (retried)
  uint64_t flush_us_total = 0;       // wall time in flush transactions
  int64_t flush_lag_ms = 0;          // gauge: age of the oldest change not in the table
  int64_t unflushed_events = 0;      // gauge: events merged in memory, not yet in the table
  int64_t watermark = 0;             // gauge: every event up to this seq is in the table
  int64_t open_sessions = 0;         // gauge
  int64_t live_sessions = 0;         // gauge: merged state in memory
  int64_t session_memory_bytes = 0;  // gauge: approximate
  uint64_t session_loads = 0;        // rows read back into memory
  uint64_t session_evictions = 0;    // clean sessions dropped from memory for the bound
  uint64_t replayed_events = 0;      // merged again at start
  uint64_t replay_failures = 0;      // stored events that did not parse again (skipped)
  // Failures that keep the sessions table behind the log. Each is logged
  // (rate-limited) and retried with a pause doubling from 10 ms to 5 s.
  uint64_t catch_up_failures = 0;  // merges that could not read a row back
  uint64_t restart_failures = 0;   // server restarts that could not be applied yet
  uint64_t sweep_failures = 0;     // idle sweeps that could not finish a session
  // Why the sessions table is behind the log right now ("" when it is not):
  // /readyz reports it.
  std::string sessions_error;
  // WAL checkpoints by the writer's own connection.
  uint64_t checkpoints = 0;
  uint64_t checkpoint_failures = 0;
  int64_t wal_bytes = 0;         // gauge: the WAL after the last commit or checkpoint
  std::string checkpoint_error;  // the last checkpoint's failure ("" when it worked)
  // The files on disk and retention.
  int64_t main_bytes = 0;          // gauge: the main file and its WAL
  int64_t log_bytes = 0;           // gauge: every segment, WAL included
  int64_t open_segment_bytes = 0;  // gauge: the open segment, WAL included
  int64_t segments = 0;            // gauge: segment files
  int64_t log_last_seq = 0;        // gauge
  int64_t oldest_event_at = 0;     // gauge: arrival of the oldest event kept (0: none)
  uint64_t segments_closed = 0;
  uint64_t segments_deleted = 0;
  uint64_t events_deleted = 0;    // events deleted whole with their segments
  uint64_t sessions_deleted = 0;  // finished sessions past --retain-sessions
  uint64_t dead_letters_trimmed = 0;
  uint64_t retention_failures = 0;
  uint64_t rotate_failures = 0;
  uint64_t segments_compacted = 0;  // closed segments rewritten in their compact form
  uint64_t compact_failures = 0;    // compactions that failed (retried)
  std::string compact_error;        // the last one's failure ("" once one works again)
  // Over --max-disk with nothing retention may delete: event batches get 503.
  bool disk_full = false;
  std::string retention_error;  // why retention cannot do its work ("" when it can)
  std::string log_error;        // why the open segment cannot be closed ("" when it can)
};

class Writer {
 public:
  // Opens (creating if needed) and migrates the database, replays the log
  // after the watermark, then starts the writer thread. Fails with a clear
  // message when the file cannot be used.
  static Result<std::unique_ptr<Writer>> Open(const WriterOptions& options, const Clock* clock);
  ~Writer();  // Stop()s if still running.

  using Future = std::future<Result<WriteOutcome>>;
  // Queues a batch. kUnavailable when the queue is full or the writer stopped.
  Result<Future> Submit(WriteBatch batch);

  // Commits what is queued, writes every session, refuses new batches, and
  // joins the thread.
  void Stop();

  WriterStats Stats() const;
  // False after the last transaction failed (until one succeeds again).
  bool Healthy() const { return healthy_.load(); }
  // Writes every changed session and the watermark now; returns when they
  // are committed (tests, and POST /flush).
  Status FlushNow();
  // Runs the idle sweep now, then FlushNow() (tests; the thread also runs
  // the sweep periodically).
  Status SweepNow();
  // Called on the writer thread after every successful commit of events or
  // of session rows (the relay uses it to wake up); it must not wait for
  // the writer. Pass {} to clear.
  void SetCommitListener(std::function<void()> listener);

  // Changes the idle timeout (and how often the idle sweep runs) from the
  // next sweep on: a reload. Any thread.
  void SetSessionTimeout(int64_t timeout_ms, int64_t sweep_interval_ms);

  // Closes the open segment (when it holds anything) and returns when the
  // next one is open (tests, backup). Any thread.
  Status RotateNow();

  class Impl;  // the main file and the sessions in memory; the sessions writer's.

 private:
  struct Pending {
    WriteBatch batch;
    std::promise<Result<WriteOutcome>> done;
  };
  struct Handoff;  // a committed group, from the log writer to the sessions writer
  Writer(const WriterOptions& options, const Clock* clock, std::unique_ptr<Impl> impl,
         std::unique_ptr<SegmentLog> log, std::shared_ptr<SegmentCatalog> catalog);
  void Run();     // the sessions writer
  void RunLog();  // the log writer
  void CommitGroup(std::deque<Pending>& group);
  void TakeHandoffs(std::deque<std::unique_ptr<Handoff>>& handoffs);
  void SaveProgress(std::deque<Pending>& control);
  void Retention();
  void WriteSideOnly(bool now);
  void WarnIfTheDiskFillsSoon() const;
  void LogCheckpoint(int64_t min_pages);
  void Flush(bool all);
  void CatchUp();               // retries a failed merge when its pause is over
  void ReportMergeFailure();    // logs and paces a failure Merge or CatchUp recorded
  Status Sweep();               // a step of the idle timeout
  bool SweepContinues() const;  // a sweep's next step is due
  void Checkpoint(int64_t min_pages);
  void Publish();  // copies the Impl's gauges into stats_ (writer thread)

  const WriterOptions options_;
  std::atomic<int64_t> session_timeout_ms_;  // options_' value until SetSessionTimeout
  std::atomic<int64_t> sweep_interval_ms_;
  const Clock* clock_;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t queued_events_ = 0;                         // guarded by log_mu_
  bool stopping_ = false;                            // guarded by mu_
  bool sweep_requested_ = false;                     // guarded by mu_
  std::vector<std::promise<Status>> sweep_waiters_;  // guarded by mu_
  std::vector<std::promise<Status>> flush_waiters_;  // guarded by mu_
  WriterStats stats_;                                // guarded by mu_
  int64_t unflushed_since_ms_ = -1;  // oldest change not in the table (-1: none); guarded by mu_

  // Failures of the work behind the log: writer thread only.
  Backoff flush_backoff_, catch_up_backoff_, sweep_backoff_, checkpoint_backoff_;
  LogLimit flush_log_, merge_log_, sweep_log_, checkpoint_log_;
  std::string flush_error_, sweep_error_;
  uint64_t merge_failures_logged_ = 0;
  bool sweep_more_ = false;                          // the sweep has steps left
  std::vector<std::promise<Status>> sweep_pending_;  // SweepNow() callers waiting for them
  bool catch_up_reported_ = false;

  std::function<void()> on_commit_;  // guarded by mu_
  std::atomic<bool> healthy_{true};

  // The log writer's side.
  std::shared_ptr<SegmentCatalog> catalog_;
  std::unique_ptr<SegmentLog> log_;  // the log thread's
  mutable std::mutex log_mu_;        // guards what follows
  std::condition_variable log_cv_;
  std::deque<Pending> log_queue_;
  bool log_stopping_ = false, log_stopped_ = false;
  std::vector<std::promise<Status>> rotate_waiters_;
  std::deque<std::unique_ptr<Handoff>> handoffs_;  // guarded by mu_
  std::deque<Pending> control_;                    // relay progress; guarded by mu_
  size_t handoff_events_ = 0;                      // guarded by mu_
  std::atomic<bool> disk_full_{false};
  std::atomic<bool> rotate_requested_{false};  // by retention: close the open segment
  Backoff log_checkpoint_backoff_, rotate_backoff_;
  LogLimit log_checkpoint_log_, rotate_log_, retention_log_;
  std::chrono::steady_clock::time_point next_retention_{}, next_steps_{};
  bool more_steps_ = false;  // the last step of --retain-sessions or the trim was full
  int64_t next_side_ms_ = 0;
  int64_t relay_events_cursor_ = 0;  // delivered, as saved in the main file
  std::thread log_thread_;
  // Sessions waiting to be written exceed twice the memory bound (their
  // flushes keep failing): new batches are refused.
  std::atomic<bool> sessions_full_{false};
  std::thread thread_;
  std::unique_ptr<Compactor> compactor_;  // null when compact_segments is off
};

}  // namespace sink
