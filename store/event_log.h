// EventLog: the durable log a 2xx waits for — `events` (append, with exact
// dedup), `rejected` (dead letters), the per-server counters, and the Kafka
// relay's progress (its cursors and the messages Kafka refused for good).
//
// Everything here is written inside the caller's transaction (the writer's
// group commit): the log is what a COMMIT makes durable. Sessions are not
// written here; they are merged in memory after the commit and written
// behind (store/session_set.h).
//
// Dedup: an event is a duplicate when (server, event, id, utc_ms, event_id)
// all match a stored event. The lookup goes through `events_dedup`, an
// index on (utc_ms, hash of the key): led by time, so the keys of new
// events land together at its end instead of on a random page each.
//
// Not thread-safe: owned by the writer thread, with its connection.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "store/event.h"
#include "store/sqlite.h"
#include "store/write_batch.h"

namespace sink {

// What makes two events the same event: (server, event, id, utc_ms, event_id).
using DedupKey = std::tuple<std::optional<std::string>, std::string, std::optional<std::string>,
                            std::optional<int64_t>, std::optional<int64_t>>;
DedupKey DedupKeyOf(const Event& e);
// 64-bit hash of the dedup key.
int64_t DedupHash(const Event& e);

// An event as stored, for replay: what re-parsing needs.
struct StoredEvent {
  int64_t seq = 0;
  int64_t received_at = 0;
  std::string name;
  std::optional<std::string> platform;  // nullopt: Flussonic
  std::string body;
};

class EventLog {
 public:
  static Result<EventLog> Open(Db* db);
  EventLog(EventLog&&) = default;
  EventLog& operator=(EventLog&&) = default;

  // Appends `e` unless it is a duplicate. Returns its seq, or nullopt for a
  // duplicate (counted for its server either way).
  Result<std::optional<int64_t>> Append(const Event& e, int64_t received_at);
  Status AddReject(const Reject& r, int64_t received_at, std::string_view remote_addr);
  // Relay progress: a cursor never moves back; delivered session changes
  // are dropped from session_changes.
  Status SaveCursor(std::string_view name, int64_t seq, int64_t at);
  Status AddKafkaDeadLetter(const KafkaDeadLetter& d, int64_t at);

  // Writes the per-server counters gathered since the last call (or
  // Discard()), at the end of the transaction. Returns, for every server
  // that sent server_started, the latest restart time now stored.
  Result<std::map<std::string, int64_t>> WriteServers();
  // Forgets the gathered counters (the transaction rolled back).
  void Discard() { servers_.clear(); }

  // The latest restart time of every server (at start).
  Result<std::map<std::string, int64_t>> RestartTimes();
  // Calls `fn` for every stored event after `seq`, in seq order.
  Status ForEachAfter(int64_t seq, const std::function<Status(const StoredEvent&)>& fn);
  Result<int64_t> LastSeq();

  EventLog() = default;  // unusable until assigned from Open()

 private:
  struct ServerDelta {
    int64_t events = 0;
    int64_t duplicates = 0;
    int64_t rejected = 0;
    std::optional<int64_t> last_event_at;
    int64_t last_seen_at = 0;
    std::optional<int64_t> restart_at;
  };
  Result<bool> IsDuplicate(const Event& e, int64_t dedup);

  Db* db_ = nullptr;
  Stmt find_dup_, insert_event_, insert_reject_, upsert_server_, restart_at_, save_cursor_,
      trim_changes_, insert_kafka_dead_, read_after_;
  std::map<std::string, ServerDelta> servers_;  // this transaction's counters
};

}  // namespace sink
