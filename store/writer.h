// Writer: the single thread that owns the SQLite connection and commits.
//
// HTTP handlers Submit() batches; the writer drains everything queued into
// one transaction (group commit): it appends distinct events to `events`,
// merges each touched session once, stores rejects, and COMMITs. Only then
// are the futures of all batches in the group fulfilled, so a successful
// outcome means the data is durable (to the configured synchronous level).
// A failed transaction is rolled back whole and every batch in it fails with
// kUnavailable: nothing is half-applied and senders retry.
//
// Between groups the writer finishes sessions idle for longer than
// `session_timeout_ms` (close_reason 'sink_timeout').
//
// Thread-safety: Submit(), Stats() and Healthy() may be called from any
// thread. Stop() is called once, by the owner.
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
#include "store/histogram.h"
#include "store/status.h"

namespace sink {

struct WriterOptions {
  std::string db_path;
  // synchronous=FULL survives power loss; NORMAL (WAL) survives a process crash.
  bool synchronous_full = false;
  // Sessions without events for this long are finished by the sink (within
  // a tenth of it more, at most 60 s: seen_at is stored in steps).
  int64_t session_timeout_ms = 10 * 60 * 1000;
  // Keep the session_changes log the Kafka relay reads (fan-out configured).
  bool session_log = false;
  // How often the idle sweep runs.
  int64_t sweep_interval_ms = 1000;
  // Bound on queued, not yet committed events. A batch that would exceed it
  // is refused (kUnavailable → HTTP 503), except into an empty queue, so a
  // single large batch can always make progress.
  size_t max_pending_events = 200000;
  // SQLite page cache for the writer connection.
  int64_t cache_bytes = 64ll << 20;
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
};

// A message Kafka refused for good; kept in `kafka_dead_letters`.
struct KafkaDeadLetter {
  std::string topic;
  std::optional<int64_t> seq;
  std::optional<std::string> key;
  std::string reason;
};

// One request's worth of input, or the relay's progress (cursors, dead
// letters). Everything in a batch commits together or not at all.
struct WriteBatch {
  int64_t received_at = 0;  // sink clock, ms
  std::string remote_addr;
  std::vector<Event> events;    // readable events, in request order
  std::vector<Reject> rejects;  // items or bodies to keep as dead letters
  // Relay progress: cursor name → delivered up to this seq (never moves back).
  std::vector<std::pair<std::string, int64_t>> cursors;
  std::vector<KafkaDeadLetter> kafka_dead_letters;
};

struct WriteOutcome {
  int64_t accepted = 0;    // distinct events newly stored
  int64_t duplicates = 0;  // events already stored before (or earlier in the group)
  int64_t rejected = 0;    // items stored in `rejected`
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
};

class Writer {
 public:
  // Opens (creating if needed) and migrates the database, then starts the
  // writer thread. Fails with a clear message when the file cannot be used.
  static Result<std::unique_ptr<Writer>> Open(const WriterOptions& options, const Clock* clock);
  ~Writer();  // Stop()s if still running.

  using Future = std::future<Result<WriteOutcome>>;
  // Queues a batch. kUnavailable when the queue is full or the writer stopped.
  Result<Future> Submit(WriteBatch batch);

  // Commits what is queued, refuses new batches, and joins the thread.
  void Stop();

  WriterStats Stats() const;
  // False after the last transaction failed (until one succeeds again).
  bool Healthy() const { return healthy_.load(); }
  // Runs the idle sweep now (tests; the thread also runs it periodically).
  Status SweepNow();
  // Called on the writer thread after every successful commit (the relay
  // uses it to wake up). Set before traffic starts; pass {} to clear.
  void SetCommitListener(std::function<void()> listener);

  class Impl;  // SQLite statements and the merge; lives on the writer thread.

 private:
  Writer(const WriterOptions& options, const Clock* clock, std::unique_ptr<Impl> impl);
  void Run();

  struct Pending {
    WriteBatch batch;
    std::promise<Result<WriteOutcome>> done;
  };

  const WriterOptions options_;
  const Clock* clock_;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;        // guarded by mu_
  size_t queued_events_ = 0;         // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool sweep_requested_ = false;     // guarded by mu_
  std::promise<Status> sweep_done_;  // guarded by mu_
  WriterStats stats_;                // guarded by mu_

  std::function<void()> on_commit_;  // guarded by mu_
  std::atomic<bool> healthy_{true};
  std::thread thread_;
  std::thread checkpointer_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;  // guarded by mu_
  bool checkpoint_due_ = false;   // a commit since the last checkpoint; guarded by mu_
};

}  // namespace sink
