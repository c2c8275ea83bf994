// SessionTable: the `sessions` table, its columns defined once.
//
// kSessionColumns below is the only list of the table's columns in the
// code: the SELECT that reads a row back, the INSERT, the UPDATEs of the
// flush and the JSON object the Kafka relay publishes are all generated from
// it, so a new column is one line here plus its migration (a test checks
// the list against the schema). A row is a StoredSession: what the merge
// shows (SessionRow) and what the store keeps beside it.
//
// Not thread-safe: a SessionTable belongs to the writer thread and its
// connection. Every method returns a non-OK Status on SQLite errors; writes
// happen inside the caller's transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/session.h"
#include "store/sqlite.h"

namespace sink {

// The seqs of a session's events in increasing order, kept as delta-encoded
// varints (about 2–3 bytes per event) for the first kMaxSeqs of them: a
// session's timeline reads its events by primary key (`events` has no index
// on session_id: it would cost a random page write per event). Later events
// are not listed; the row's event_count still counts them.
class EventSeqs {
 public:
  static constexpr int64_t kMaxSeqs = 4096;

  // REQUIRES: seq greater than every seq added before.
  void Add(int64_t seq);
  std::vector<int64_t> Decode() const;
  int64_t listed() const { return listed_; }
  int64_t last() const { return last_; }  // the last listed seq, 0 if none
  const std::string& bytes() const { return bytes_; }
  // From the column's bytes; false (and empty) when they do not decode.
  bool Assign(std::string_view bytes);
  size_t ApproximateMemoryUsage() const { return bytes_.capacity(); }

  bool operator==(const EventSeqs&) const = default;

 private:
  std::string bytes_;
  int64_t listed_ = 0;
  int64_t last_ = 0;
};

// One sessions row: the merged session and the store's bookkeeping.
struct StoredSession {
  SessionRow row;
  std::string merge_state;  // Session::MergeState()
  int64_t change_seq = 0;   // increases on every write (the relay's cursor)
  // The highest events.seq merged into the row; nullopt for rows written
  // before schema version 6 (they hold every event up to the migration's
  // watermark).
  std::optional<int64_t> last_seq;
  EventSeqs seqs;  // the session's events, for its timeline

  bool operator==(const StoredSession&) const = default;
};

// A column of the sessions table: its name, whether the sessions topic
// carries it, whether an index depends on it, and how it moves between a
// StoredSession and a statement.
struct SessionColumn {
  enum Flags : uint8_t {
    kNone = 0,
    kInJson = 1,   // part of the sessions topic's JSON (schemas/kafka)
    kIndexed = 2,  // an index depends on it: written only when it changed
  };
  std::string_view name;
  uint8_t flags;
  void (*bind)(Stmt& s, int param, const StoredSession& r);
  void (*read)(const Stmt& s, int col, StoredSession* r);
  std::string (*show)(const StoredSession& r);  // as text, for diagnostics ("NULL")
};

// Every column of `sessions`, in table order.
const std::vector<SessionColumn>& SessionColumns();

// SQL for the sessions topic: json_object(...) of the kInJson columns of
// the row `alias` (e.g. "s").
std::string SessionJsonSql(std::string_view alias);

// The first column (or "stalls") in which two rows differ, as
// "name: a vs b"; "" when they are equal (tests and the fuzzer).
std::string SessionRowDiff(const SessionRow& a, const SessionRow& b);

class SessionTable {
 public:
  // Prepares the statements on `db`, which must outlive the table.
  static Result<SessionTable> Open(Db* db, bool session_log);

  SessionTable(SessionTable&&) = default;
  SessionTable& operator=(SessionTable&&) = default;

  struct Loaded {
    int64_t rowid;
    StoredSession stored;
  };
  // The row of session `id`, if there is one.
  Result<std::optional<Loaded>> Load(std::string_view id);

  // Writes `s` with the next change_seq (set in `s`): an INSERT when
  // `*rowid` is 0 (the new rowid is stored there), else an UPDATE of that
  // row that leaves the kIndexed columns untouched unless `indexed_changed`.
  // With the session log on, the change is also listed in session_changes.
  // Writes the stall intervals when `stalls_changed`.
  Status Write(StoredSession* s, int64_t* rowid, bool indexed_changed, bool stalls_changed);

  // The newest change_seq written (restored by the caller on rollback).
  int64_t last_change_seq() const { return last_change_seq_; }
  void set_last_change_seq(int64_t v) { last_change_seq_ = v; }

  SessionTable() = default;  // unusable until assigned from Open()

 private:
  Stmt load_, insert_, update_all_, update_lean_, log_change_, delete_stalls_, insert_stall_;
  bool session_log_ = false;
  int64_t last_change_seq_ = 0;
};

}  // namespace sink
