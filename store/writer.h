// Writer: the single thread that owns the SQLite connection and commits.
//
// HTTP handlers Submit() batches; the writer drains everything queued into
// one transaction (group commit) that appends the distinct events to the
// log and keeps the dead letters (store/event_log.h), and COMMITs. Only then
// are the futures of all batches in the group fulfilled, so a successful
// outcome means the events are durable (to the configured synchronous
// level). A failed transaction is rolled back whole and every batch in it
// fails with kUnavailable: nothing is half-applied and senders retry.
//
// After the commit the events are merged into the sessions in memory
// (store/session_set.h), which are written to the `sessions` table behind,
// at most `session_flush_ms` later, between group commits; readers of the
// table see rows at most that far behind the log. At start, the events
// after the table's watermark are read back, re-parsed with `reparse`, and
// merged again, so the rows after a crash are exactly what they would have
// been. Between groups the writer also finishes sessions idle for longer
// than `session_timeout_ms` (close_reason 'sink_timeout').
//
// Thread-safety: Submit(), Stats(), Healthy(), FlushNow(), SweepNow() and
// SetCommitListener() may be called from any thread (FlushNow and SweepNow
// block until done; not from the commit listener). Stop() is called once,
// by the owner.
#pragma once

#include <atomic>
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
#include "store/event.h"
#include "store/event_log.h"
#include "store/histogram.h"
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
  // WAL checkpoints run on a thread of their own (a second connection) so
  // commits never wait for them: after every commit, and at least this often
  // (to finish one a reader held back). A WAL past `wal_limit_pages` makes
  // the writer checkpoint itself, which bounds the file.
  int64_t checkpoint_interval_ms = 1000;
  int64_t wal_limit_pages = 16384;  // 64 MiB of 4 KiB pages
  // Stop() writes every changed session first. Tests turn it off to leave
  // the table behind the log as a crash would.
  bool flush_on_stop = true;
  // Re-parses stored events at start (required when the log holds events
  // after the watermark: ingest/platforms/platforms.h ReparseStoredEvent).
  Reparser reparse;
};

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

  class Impl;  // SQLite, the log, the sessions in memory; lives on the writer thread.

 private:
  Writer(const WriterOptions& options, const Clock* clock, std::unique_ptr<Impl> impl);
  void Run();
  struct Pending {
    WriteBatch batch;
    std::promise<Result<WriteOutcome>> done;
  };
  void CommitGroup(std::deque<Pending>& group);
  void Flush(bool all);
  void Publish();  // copies the Impl's gauges into stats_ (writer thread)

  const WriterOptions options_;
  std::atomic<int64_t> session_timeout_ms_;  // options_' value until SetSessionTimeout
  std::atomic<int64_t> sweep_interval_ms_;
  const Clock* clock_;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;                        // guarded by mu_
  size_t queued_events_ = 0;                         // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  bool sweep_requested_ = false;                     // guarded by mu_
  std::vector<std::promise<Status>> sweep_waiters_;  // guarded by mu_
  std::vector<std::promise<Status>> flush_waiters_;  // guarded by mu_
  WriterStats stats_;                                // guarded by mu_
  int64_t unflushed_since_ms_ = -1;  // oldest change not in the table (-1: none); guarded by mu_

  std::function<void()> on_commit_;  // guarded by mu_
  std::atomic<bool> healthy_{true};
  // Sessions waiting to be written exceed twice the memory bound (their
  // flushes keep failing): new batches are refused.
  std::atomic<bool> sessions_full_{false};
  std::thread thread_;
  std::thread checkpointer_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;  // guarded by mu_
  bool checkpoint_due_ = false;   // a commit since the last checkpoint; guarded by mu_
};

}  // namespace sink
