// SinkTables: what the main file keeps beside the sessions, written by the
// sessions writer (the only connection that writes the main file): the
// per-server counters, the copies of dead letters and stream-level events,
// the Kafka relay's progress and refusals, and the catalog of the log's
// segments. Everything here is written inside the caller's transaction.
//
// What a commit of the log adds here (LogSideEffects) is written in the same
// transaction as the sessions watermark that covers it, so that replay after
// a crash adds each exactly once.
//
// Not thread-safe: the sessions writer's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/log_reader.h"
#include "store/segment_log.h"
#include "store/sqlite.h"
#include "store/write_batch.h"

namespace sink {

struct ServerDelta {
  int64_t events = 0;
  int64_t duplicates = 0;
  int64_t rejected = 0;
  std::optional<int64_t> last_event_at;
  int64_t last_seen_at = 0;
  std::optional<int64_t> restart_at;
  void Add(const ServerDelta& d);
};

struct StreamEventRow {
  int64_t seq = 0;
  int64_t received_at = 0;
  std::optional<std::string> server;
  std::string event;
  std::optional<int64_t> utc_ms;
  std::string body;
  std::optional<std::string> platform;
};

// What one commit of the log adds to the main file besides sessions.
struct LogSideEffects {
  int64_t upto_seq = 0;  // the log's last seq after that commit
  std::map<std::string, ServerDelta> servers;
  std::vector<LogReject> rejects;
  std::vector<StreamEventRow> streams;
  bool empty() const { return servers.empty() && rejects.empty() && streams.empty(); }
};

class SinkTables {
 public:
  static Result<SinkTables> Open(Db* db);
  SinkTables(SinkTables&&) = default;
  SinkTables& operator=(SinkTables&&) = default;
  SinkTables() = default;

  Status Write(const LogSideEffects& e);
  // Relay progress: a cursor never moves back; delivered session changes
  // are dropped from session_changes.
  Status SaveCursor(std::string_view name, int64_t seq, int64_t at);
  Status AddKafkaDeadLetter(const KafkaDeadLetter& d, int64_t at);
  Status PutSegment(const SegmentInfo& s);
  Status DeleteSegment(int64_t id);

  // The latest restart time of every server (at start).
  Result<std::map<std::string, int64_t>> RestartTimes();
  // The delivered position of a relay cursor (0 when none).
  Result<int64_t> Cursor(std::string_view name);
  // Deletes the oldest rows past `keep` in `rejected` and
  // `kafka_dead_letters`, at most `step` each; how many went.
  Result<int64_t> Trim(int64_t keep, int64_t step);
  // Deletes at most `step` finished sessions closed before `before`.
  Result<int64_t> DeleteFinishedSessions(int64_t before, int64_t step);

 private:
  Db* db_ = nullptr;
  Stmt upsert_server_, copy_reject_, insert_stream_, save_cursor_, trim_changes_,
      insert_kafka_dead_, put_segment_, delete_segment_, cursor_;
};

}  // namespace sink
