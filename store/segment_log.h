// The event log as a sequence of segment files, and the log writer's side
// of it.
//
// Events live in SQLite files beside the main file, in `<db>.events/`:
// `seg-00000001.db`, `seg-00000002.db`, … (schemas/segment.sql). The one
// with the highest number is open: the log writer appends to it with the
// only connection that writes or checkpoints it. When it passes
// `segment_bytes` or its first event is `segment_ms` old, the writer closes
// it (checkpoints its WAL) and opens the next; a closed segment never
// changes again and is deleted whole by retention (store/writer.h). `seq`
// continues from one segment to the next.
//
// Dedup (the rule README.md states): an event is a duplicate when an event
// with the same (server, event, id, utc_ms, event_id) is in the open
// segment, in the segment closed before it, or in any closed segment that
// was closed within `dedup_horizon_ms` (24 h by default) and whose utc_ms
// range holds the event's utc_ms — a resend carries the original's utc_ms,
// so only segments of that time are looked at. Retention shortens the
// horizon to what it keeps.
//
// A closed segment may be rewritten in its compact form (store/compactor.h,
// store/compact_segment.h): `seg-00000007.zdb` replaces `seg-00000007.db`,
// same seqs, same dead letters. Readers take either form. The compact file
// is written under a temporary name, synced, renamed into place, and only
// then is the raw file deleted; so after a crash the directory may hold
// both forms of a segment. The compact form wins when it opens and holds
// the raw form's seq range whole (the raw files are then deleted);
// otherwise the raw form wins and the compact file is deleted (SegmentLog::
// Open). Readers that meet both prefer the compact form.
//
// SegmentCatalog is what every thread knows of the segments on disk; the
// sessions writer copies it into the main file's `log_segments`.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/event.h"
#include "store/event_log.h"
#include "store/sqlite.h"
#include "store/status.h"
#include "store/write_batch.h"

namespace sink {

// schemas/segment.sql, compiled in.
std::string_view SegmentSchemaSql();

// `<db_path>.events`: the directory of the log's segments.
std::string SegmentDir(const std::string& db_path);
// The raw form (`seg-<id>.db`, schemas/segment.sql) …
std::string SegmentPath(const std::string& dir, int64_t id);
// … and the compact form (`seg-<id>.zdb`, store/compact_segment.h).
std::string CompactSegmentPath(const std::string& dir, int64_t id);
// A segment as the directory holds it: in one form or (after a crash
// during compaction) both.
struct SegmentFile {
  int64_t id = 0;
  bool raw = false;
  bool compact = false;
  // The form a reader opens: the compact one when it is there.
  std::string Path(const std::string& dir) const {
    return compact ? CompactSegmentPath(dir, id) : SegmentPath(dir, id);
  }
};
// The segments in `dir`, ascending (none if it is missing).
Result<std::vector<SegmentFile>> ListSegmentFiles(const std::string& dir);
// Their ids, whatever their form.
Result<std::vector<int64_t>> ListSegments(const std::string& dir);
// Bytes of a SQLite file and its WAL (0 for what is missing).
int64_t SqliteFileBytes(const std::string& path);
// Removes one SQLite file and what SQLite keeps beside it (-wal, -shm,
// -journal).
Status RemoveSqliteFiles(const std::string& path);
// Removes a segment, given its raw path (SegmentPath), in both forms.
Status RemoveSegmentFiles(const std::string& path);

struct SegmentInfo {
  int64_t id = 0;
  bool closed = false;
  int64_t first_seq = 0;  // 0 while empty
  int64_t last_seq = 0;
  int64_t events = 0;
  int64_t rejected = 0;
  int64_t min_received_at = 0;
  int64_t max_received_at = 0;
  std::optional<int64_t> min_utc_ms, max_utc_ms;
  int64_t bytes = 0;
  int64_t closed_at = 0;  // sink clock; 0 while open
  bool compact = false;   // in its compact form (.zdb)

  bool empty() const { return events == 0 && rejected == 0; }
  bool operator==(const SegmentInfo&) const = default;
};

// Reads a segment's ranges from its file (read-only), in either form (by
// the name's suffix).
Result<SegmentInfo> ReadSegmentInfo(const std::string& path, int64_t id);

// The segments on disk, as the log writer made them. Thread-safe.
class SegmentCatalog {
 public:
  std::vector<SegmentInfo> Snapshot() const;
  std::optional<SegmentInfo> Get(int64_t id) const;
  void Put(const SegmentInfo& s);
  // Put() only when the catalog still holds `s.id` (the compactor: a
  // segment retention deleted meanwhile stays deleted). True when it did.
  bool Replace(const SegmentInfo& s);
  void Erase(int64_t id);
  // Bytes of every segment.
  int64_t Bytes() const;
  // Bumped on every change (the sessions writer copies changes to the main file).
  uint64_t version() const;

 private:
  mutable std::mutex mu_;
  std::map<int64_t, SegmentInfo> segments_;  // guarded by mu_
  std::atomic<uint64_t> version_{0};         // changed under mu_
};

struct SegmentLogOptions {
  std::string db_path;  // the main file; segments go to SegmentDir(db_path)
  bool synchronous_full = false;
  int64_t busy_timeout_ms = 5000;
  int64_t cache_bytes = 16ll << 20;
  // The open segment is closed past this size (file and WAL) …
  int64_t segment_bytes = 256ll << 20;
  // … or when its first event is this old.
  int64_t segment_ms = 60ll * 60 * 1000;
  // Closed segments are looked at for dedup this long after their close.
  int64_t dedup_horizon_ms = 24ll * 60 * 60 * 1000;
  int64_t wal_limit_pages = 16384;
  // Cap on one segment file (max_page_count; 0: none).
  int64_t max_file_bytes = 0;
  // When the closed segments were closed (sink clock), as the main file's
  // catalog says; a segment missing here is dated by its file's mtime.
  std::map<int64_t, int64_t> closed_at;
};

// One accepted event of a group, for what runs after the commit.
struct AppendedEvent {
  const Event* event;
  int64_t seq;
  int64_t received_at;
};

// The log writer's side: the open segment's connection, the dedup look-ups
// into closed ones, closing and opening segments. Not thread-safe: the log
// writer thread's (and Open's, before it starts).
class SegmentLog {
 public:
  // Opens the directory (creating it), reads the segments there into
  // `catalog`, and opens the newest for appending (a new one if there is
  // none). `catalog` must outlive the log.
  static Result<std::unique_ptr<SegmentLog>> Open(const SegmentLogOptions& o,
                                                  SegmentCatalog* catalog);
  ~SegmentLog();

  // Closes the open segment and opens the next when it is due (between
  // groups; never inside a transaction).
  Status MaybeRotate(int64_t now_ms);
  // Closes the open segment now if it holds anything (tests, backup).
  Status Rotate(int64_t now_ms);

  // Starts a group commit at `now_ms` (sink clock).
  Status Begin(int64_t now_ms);
  // Appends `e` unless it is a duplicate within the horizon; its seq, or
  // nullopt for a duplicate.
  Result<std::optional<int64_t>> Append(const Event& e, int64_t received_at, int64_t now_ms);
  // Keeps a dead letter in the open segment; its row id there.
  Result<int64_t> AddReject(const Reject& r, int64_t received_at, std::string_view remote_addr);
  Status Commit();
  void Rollback();  // forgets what Append/AddReject did since Begin

  int64_t last_seq() const { return last_seq_; }
  int64_t open_id() const { return open_.id; }
  Db* open_db() { return &open_db_; }
  // Pages in the open segment's WAL after the last commit.
  int64_t wal_pages() const { return wal_pages_; }
  // PASSIVE checkpoint of the open segment once `min_pages` wait.
  Status Checkpoint(int64_t min_pages);
  uint64_t checkpoints() const { return checkpoints_; }

 private:
  struct Closed;  // a closed segment's read connection, for dedup
  explicit SegmentLog(const SegmentLogOptions& o, SegmentCatalog* catalog);
  Status OpenSegment(int64_t id, bool create);
  Status CloseOpen(int64_t now_ms);
  Result<bool> DuplicateInClosed(const Event& e, int64_t dedup, int64_t now_ms);
  Result<Closed*> ClosedSegment(const SegmentInfo& s);
  static int OnWal(void* self, sqlite3*, const char*, int pages);

  SegmentLogOptions o_;
  std::string dir_;
  SegmentCatalog* catalog_;
  Db open_db_;
  EventLog open_log_;
  SegmentInfo open_;      // the open segment as committed
  SegmentInfo pending_;   // … plus the transaction under way
  int64_t last_seq_ = 0;  // committed
  int64_t next_seq_ = 1;  // inside the transaction
  // Sink clock when the open segment got its first event (0: none yet; -1:
  // it held events at start, dated at the next look).
  int64_t first_event_at_ = 0;
  int64_t now_ms_ = 0;                                 // of the group commit under way
  std::map<int64_t, std::unique_ptr<Closed>> closed_;  // read connections, by id
  std::vector<SegmentInfo> snapshot_;                  // the catalog at snapshot_version_
  uint64_t snapshot_version_ = ~0ull;
  int64_t wal_pages_ = 0, checkpointed_ = 0;
  uint64_t checkpoints_ = 0;
};

}  // namespace sink
