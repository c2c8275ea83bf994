#include "store/log_reader.h"

#include <limits>

#include "store/compact_segment.h"

namespace sink {

Result<LogReader> LogReader::Open(const std::string& db_path) {
  LogReader r;
  Result<Db> db = Db::Open(db_path, /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  r.db_ = std::move(db.value());
  Result<int64_t> has_events =
      r.db_.QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'");
  if (!has_events.ok()) return has_events.status();
  if (has_events.value() == 0) {
    return Status::IoError(db_path + " holds no event log (not a sessionsink database?)");
  }
  return r;
}

Status LogReader::ForEachAfter(int64_t seq, const std::function<Status(const LogRecord&)>& fn) {
  // One read transaction: a snapshot, whatever the writer commits meanwhile.
  SINK_RETURN_IF_ERROR(db_.Exec("BEGIN"));
  Status st;
  {
    Result<RecordSource> src = EventsTableSource(&db_, seq, std::numeric_limits<int64_t>::max());
    if (!src.ok()) {
      st = src.status();
    } else {
      LogRecord r;
      for (;;) {
        Result<bool> more = src.value()(&r);
        if (!more.ok()) {
          st = more.status();
          break;
        }
        if (!more.value()) break;
        st = fn(r);
        if (!st.ok()) break;
      }
    }
  }
  // Ending a read transaction cannot lose anything; its error is reported
  // only when the scan itself succeeded.
  Status end = db_.Exec("COMMIT");
  return st.ok() ? end : st;
}

}  // namespace sink
