// EventLog: one segment of the durable log a 2xx waits for — `events`
// (append, with exact dedup) and `rejected` (dead letters) of one segment
// file (schemas/segment.sql). store/segment_log.h strings the segments
// together; the per-server counters and the relay's progress live in the
// main file (store/sink_tables.h).
//
// Writes happen inside the caller's transaction (the log writer's group
// commit): the log is what a COMMIT makes durable.
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

// The stream-level events the main file keeps whole (the outages report).
bool IsStreamStateEvent(std::string_view name);

class EventLog {
 public:
  // Prepares the statements on a segment's connection (schemas/segment.sql);
  // `db` must outlive the object. Without `writable`, only IsDuplicate and
  // the reads work (a closed segment).
  static Result<EventLog> Open(Db* db, bool writable);
  EventLog(EventLog&&) = default;
  EventLog& operator=(EventLog&&) = default;

  // Whether an event with `e`'s dedup key (and hash `dedup`) is stored here.
  Result<bool> IsDuplicate(const Event& e, int64_t dedup);
  // Appends `e` with `seq`, inside the caller's transaction.
  Status Append(const Event& e, int64_t seq, int64_t dedup, int64_t received_at);
  // Keeps a dead letter; returns its row id in the segment.
  Result<int64_t> AddReject(const Reject& r, int64_t after_seq, int64_t received_at,
                            std::string_view remote_addr);

  // Calls `fn` for every stored event after `seq`, in seq order.
  Status ForEachAfter(int64_t seq, const std::function<Status(const StoredEvent&)>& fn);

  EventLog() = default;  // unusable until assigned from Open()

 private:
  Db* db_ = nullptr;
  Stmt find_dup_, insert_event_, insert_reject_, read_after_;
};

}  // namespace sink
