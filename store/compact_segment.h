// CompactSegment: a closed segment of the event log in its compact form.
//
// One SQLite file, written once and never changed after (it is replaced
// whole or deleted whole):
//   blocks(first_seq PK, last_seq, data)   the events, 256 to a zstd block
//                                          (store/log_block.h)
//   dedup(utc_ms, hash, seq) WITHOUT ROWID the dedup key of every event,
//                                          led by time like the open log's
//   dict(id PK, bytes)                     the zstd dictionary the blocks
//                                          were made with, when one was
//   rejected(…)                            the segment's dead letters, as
//                                          the raw form keeps them
//                                          (schemas/segment.sql)
//   meta(name PK, value)                   seq and time ranges, count,
//                                          base_seq
//
// The file is built under a temporary name and renamed into place, so a
// reader (or a crash) sees the whole segment or none of it.
//
// Not thread-safe: one object per thread; any number of readers may open
// the same file.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/log_block.h"
#include "store/log_reader.h"
#include "store/sqlite.h"
#include "store/status.h"
#include "store/zstd_codec.h"

namespace sink {

struct CompactOptions {
  size_t block_records = 256;  // events per zstd block
  int level = 3;               // zstd level
  // Train a dictionary of this many bytes on the segment's first bodies
  // and compress every block with it (0: none).
  size_t dict_bytes = 0;
};

struct SegmentMeta {
  int64_t first_seq = 0;
  int64_t last_seq = 0;
  int64_t count = 0;
  int64_t min_received_at = 0;
  int64_t max_received_at = 0;
  std::optional<int64_t> min_utc_ms;
  std::optional<int64_t> max_utc_ms;
};

// Yields the next record in ascending seq order into *out; false at the end.
using RecordSource = std::function<Result<bool>(LogRecord* out)>;

// The rows of an `events` table with the log's columns (schema 7's, as an
// open segment or an older main file keeps them) with after_seq < seq <=
// up_to_seq, in seq order. `db` must outlive the source.
Result<RecordSource> EventsTableSource(Db* db, int64_t after_seq, int64_t up_to_seq);

// Writes the compact segment `path` from `next` (at least one record).
// `finish`, when given, runs on the new file's connection inside its
// transaction, after the events (the compactor copies the dead letters into
// `rejected` and the raw segment's base_seq into `meta`). Returns its
// metadata.
Result<SegmentMeta> WriteCompactSegment(const std::string& path, const RecordSource& next,
                                        const CompactOptions& options,
                                        const std::function<Status(Db&)>& finish = {});

class CompactSegment {
 public:
  static Result<CompactSegment> Open(const std::string& path);
  CompactSegment(CompactSegment&&) = default;
  CompactSegment& operator=(CompactSegment&&) = default;

  const SegmentMeta& meta() const { return meta_; }
  // Calls `fn` for every event after `seq` (at most `limit`), in seq order.
  Status ForEachAfter(int64_t seq, const std::function<Status(const LogRecord&)>& fn,
                      int64_t limit = INT64_MAX);
  // Every event received at or after `received_at` whose name matches the
  // GLOB `pattern`, in seq order (decodes every block that may hold one).
  Status ForEachReceivedSince(int64_t received_at, const std::string& pattern,
                              const std::function<Status(const LogRecord&)>& fn);
  // The event with this seq, if the segment holds it (the last block read
  // is kept: reading a session's events one by one decodes each block once).
  Result<std::optional<LogRecord>> Get(int64_t seq);
  // The dead letters committed after the event `after_seq`, by row id
  // (`segment` is left 0 for the caller to fill).
  Status ForEachRejectAfter(int64_t after_seq, const std::function<Status(const LogReject&)>& fn);
  Result<int64_t> RejectCount();
  // The seqs of the events whose (utc_ms, dedup hash) may be these: the
  // candidates a dedup check compares field by field (the table keeps 32
  // bits of the hash, so a rare candidate is another event).
  Result<std::vector<int64_t>> Candidates(std::optional<int64_t> utc_ms, int64_t dedup);

 private:
  CompactSegment() = default;
  Db db_;
  Stmt blocks_after_, block_of_, candidates_, rejects_;
  std::shared_ptr<const ZstdDict> dict_;
  std::vector<LogRecord> cached_;  // the block Get() read last
  SegmentMeta meta_;
};

}  // namespace sink
