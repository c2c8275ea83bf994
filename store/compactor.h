// Compactor: rewrites each closed segment of the event log in its compact
// form (store/compact_segment.h), a quarter of the bytes or less.
//
// It runs on a thread of its own, at a lower CPU priority (nice 10). Not on
// the log writer's thread, which answers requests; nor on the sessions
// writer's, which a 256 MiB segment's compaction (seconds of zstd and
// SQLite work) would hold up for that long — its flushes, merges and
// retention, and, through the hand-off bound, the requests. Everything it
// shares with the other threads goes through the SegmentCatalog and the
// files, with the order below.
//
// Compacting segment N (closed, with events, not yet compact):
//   1. `seg-N.zdb.tmp` is built from a read-only connection to `seg-N.db`
//      (its events, dead letters and base_seq), synced, renamed to
//      `seg-N.zdb`, and the directory synced;
//   2. the file is opened again and must hold N's seq range whole;
//   3. the catalog entry becomes compact, with the new size — only if
//      retention did not delete N meanwhile (then the new file goes too);
//   4. `seg-N.db` and its -wal/-shm are deleted.
// From step 3 on, the log writer's dedup look-ups and the readers open the
// compact form; a connection still open on the raw form keeps reading it
// until it lets it go. A crash between 1 and 4 leaves both forms: the
// compact one wins at the next start (SegmentLog::Open).
//
// A failure is logged (at most once per 10 s), counted, and retried with a
// pause doubling from 10 ms to 5 s; the raw segment stays as it was.
//
// Thread-safety: compacted(), failures() and Stop() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/compact_segment.h"
#include "store/segment_log.h"
#include "store/status.h"

namespace sink {

struct CompactorOptions {
  std::string dir;  // SegmentDir(db_path)
  // Blocks of 256 without a dictionary: docs/performance.md, "Bytes on disk".
  CompactOptions compact;
  // How often the catalog is looked at for a closed segment to compact.
  int64_t poll_ms = 1000;
  // Lower the thread's CPU priority (nice 10).
  bool nice = true;
};

class Compactor {
 public:
  // Starts the thread. `catalog` is shared with the writer.
  Compactor(CompactorOptions o, std::shared_ptr<SegmentCatalog> catalog);
  ~Compactor();  // Stop()s

  // Stops the thread; a compaction under way is abandoned (its temporary
  // file removed, the raw segment kept). Idempotent.
  void Stop();
  // Looks at the catalog now instead of at the next poll.
  void Wake();

  uint64_t compacted() const { return compacted_.load(); }
  uint64_t failures() const { return failures_.load(); }
  // The last compaction's failure ("" once one succeeds again).
  std::string error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

  // Compacts segment `s` (closed, with events) now, on the caller's thread
  // (tests; the thread calls it). `stop`, when set, abandons it.
  static Status CompactOne(const std::string& dir, const SegmentInfo& s,
                           const CompactOptions& options, SegmentCatalog* catalog,
                           const std::atomic<bool>* stop = nullptr);

 private:
  void Run();

  const CompactorOptions o_;
  std::shared_ptr<SegmentCatalog> catalog_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> compacted_{0}, failures_{0};
  std::string error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace sink
