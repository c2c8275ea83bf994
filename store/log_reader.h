// LogReader: the stored events, read-only, in seq order, wherever they are
// kept — the segment files beside the main file (store/segment_log.h). For
// the sessions writer's replay, the Kafka relay, the timeline, the tools an
// operator runs beside a live sink (`sessionsink events`, `backup`), and
// anything else that reads the log without writing it.
//
// Every connection it opens is read-only: it never takes a writer's lock or
// checkpoints (one writer per file). A segment deleted by retention while
// it is read is skipped, as if it had been deleted before. A closed segment
// may be in its compact form (store/compactor.h): it is read as such, and
// one compacted while it is read is found again in its new form. The
// connections to closed segments are let go after each scan (not after
// Get()), so that the space of a file deleted meanwhile comes back.
//
// Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/log_block.h"
#include "store/sqlite.h"
#include "store/status.h"

namespace sink {

// A dead letter as the log keeps it.
struct LogReject {
  int64_t segment = 0;
  int64_t rowid = 0;
  int64_t after_seq = 0;
  int64_t received_at = 0;
  std::optional<std::string> remote_addr;
  std::string reason;
  std::optional<int64_t> item_index;
  std::optional<std::string> server;
  std::string body;
};

// Reads a segment's `rejected` row (raw or compact form) selected as
// "id, after_seq, received_at, remote_addr, reason, item_index, server,
// body" into `r` (its `segment` is the caller's).
void ReadLogReject(const Stmt& q, LogReject* r);

class LogReader {
 public:
  // The log of the database whose main file is `db_path`. kIoError naming
  // the file when it is not a sessionsink database.
  static Result<LogReader> Open(const std::string& db_path);
  LogReader(LogReader&&) noexcept;
  LogReader& operator=(LogReader&&) noexcept;
  ~LogReader();

  // Calls `fn` for every stored event after `seq` (at most `limit` of
  // them), in seq order.
  Status ForEachAfter(int64_t seq, const std::function<Status(const LogRecord&)>& fn,
                      int64_t limit = INT64_MAX);
  // The event with this seq, if it is still stored.
  Result<std::optional<LogRecord>> Get(int64_t seq);
  // Every event received at or after `received_at` whose name matches the
  // GLOB `pattern`, in seq order.
  Status ForEachReceivedSince(int64_t received_at, const std::string& pattern,
                              const std::function<Status(const LogRecord&)>& fn);
  // Dead letters committed after the event `after_seq`, in log order.
  Status ForEachRejectAfter(int64_t after_seq, const std::function<Status(const LogReject&)>& fn);
  // The newest seq stored (0 when there is none).
  Result<int64_t> LastSeq();
  // The oldest event still stored: its seq and arrival time.
  Result<std::optional<std::pair<int64_t, int64_t>>> Oldest();

 private:
  struct Segment;
  explicit LogReader(std::string dir);
  Status Refresh();  // the directory's segments now
  Result<Segment*> Use(Segment* s);
  Status OpenSegment(Segment* s);
  bool Gone(const Segment* s) const;  // deleted in both forms
  void Release();                     // closes the closed segments' connections

  std::string dir_;
  std::vector<std::unique_ptr<Segment>> segments_;  // by id
};

}  // namespace sink
