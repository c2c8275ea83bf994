// LogReader: the stored events, read-only, in seq order — for the tools an
// operator runs beside a live sink (`sessionsink events`, `sessionsink
// backup`) and for anything else that reads the log without writing it.
//
// It hides where the events are kept: today the `events` table of the main
// file; closed log segments (store/compact_segment.h) are read through the
// same calls. It opens its own read-only connection, so it never takes the
// writer's lock or checkpoints (one writer per file).
//
// Not thread-safe: one per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "store/log_block.h"
#include "store/sqlite.h"
#include "store/status.h"

namespace sink {

class LogReader {
 public:
  // kIoError naming the file when it cannot be opened or holds no log.
  static Result<LogReader> Open(const std::string& db_path);
  LogReader(LogReader&&) = default;
  LogReader& operator=(LogReader&&) = default;

  // Calls `fn` for every stored event after `seq`, in seq order, as of one
  // snapshot (events committed meanwhile are not seen).
  Status ForEachAfter(int64_t seq, const std::function<Status(const LogRecord&)>& fn);

 private:
  LogReader() = default;
  Db db_;
};

}  // namespace sink
