// SessionSet: the sessions merged in memory, which the `sessions` table
// follows at most one flush behind (the store's memtable).
//
// Committed events are applied here, in seq order, after their COMMIT:
// each touched session is merged (store/session.h) and marked dirty. A
// flush cycle writes every session dirty when it starts, in rowid order, in
// chunks of its own transactions between the writer's group commits; the
// last chunk also records the watermark — the highest seq applied when the
// cycle started — so that every event at or below it is in the table. Rows
// record the highest seq they hold (last_seq), so replaying the events after
// the watermark at start skips what a row written ahead of it already has:
// the rows after replay are exactly what they would have been.
//
// Memory: every open session has a small index entry (id, row, server,
// when it was last seen and its newest event time: about 250 bytes) so that
// the idle timeout and server restarts work from memory (the sweep looks
// at every open session's last-seen time; a restart at its server's). The merged state
// itself is kept for at most `memory_bytes` of sessions: clean sessions
// beyond that leave memory, least recently used first, and are read back
// from their row on their next event; finished sessions leave memory once
// written. Dirty sessions stay until written.
//
// Not thread-safe: owned by the writer thread. Methods that read or write
// rows use the writer's connection, inside transactions the caller runs.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store/event.h"
#include "store/session.h"
#include "store/session_table.h"

namespace sink {

struct SessionSetStats {
  int64_t open_sessions = 0;      // open, in memory or not
  int64_t live_sessions = 0;      // merged state in memory
  int64_t dirty_sessions = 0;     // changed since written
  int64_t memory_bytes = 0;       // approximate, live sessions and the open index
  int64_t live_bytes = 0;         // approximate, live sessions only
  uint64_t loads = 0;             // rows read back (evicted or finished sessions)
  uint64_t evictions = 0;         // clean sessions that left memory for the budget
  uint64_t sessions_written = 0;  // rows written by flushes
  uint64_t timed_out = 0;         // finished by the idle timeout
  uint64_t server_restart = 0;    // finished because their server restarted
};

class SessionSet {
 public:
  SessionSet(SessionTable* table, int64_t memory_bytes);
  SessionSet(const SessionSet&) = delete;
  SessionSet& operator=(const SessionSet&) = delete;

  // At start: the watermark, the servers' restart times and the index of
  // every open row (a read of the table through its sessions_open index).
  Status Start(Db* db, int64_t watermark, std::map<std::string, int64_t> restart_times);

  // Merges one committed event. REQUIRES: seq greater than every seq
  // applied before. During replay, an event a row already holds is skipped.
  // `now_ms` (sink clock) dates the change for the flush lag.
  Status Apply(const Event& e, int64_t seq, int64_t received_at, int64_t now_ms);
  // Applies the restart rule after `server` restarted at `at`.
  Status ServerRestarted(const std::string& server, int64_t at, int64_t now_ms);
  // Finishes (sink_timeout) the open sessions last seen before `cutoff_ms`.
  // A session whose row cannot be read back is left open and the others are
  // finished; the first such failure is returned.
  // At most `max_sessions` per call (a step): `*more` tells whether idle
  // sessions are left for the next.
  Result<int64_t> SweepIdle(int64_t cutoff_ms, int64_t now_ms,
                            size_t max_sessions = static_cast<size_t>(-1), bool* more = nullptr);

  // Flush. A cycle is due when something changed at least `age_ms` ago (or
  // the budget is exceeded by dirty sessions).
  bool FlushDue(int64_t now_ms, int64_t age_ms) const;
  bool CycleActive() const { return cycle_active_; }
  // Starts a cycle over what is dirty now (no-op when one is active).
  void BeginCycle();
  // Writes the next up to `max_rows` sessions of the cycle, and the
  // watermark when they are its last. The caller runs the transaction and
  // then calls Committed() or RolledBack().
  Status WriteChunk(size_t max_rows, Stmt* save_watermark);
  void Committed(int64_t now_ms);
  void RolledBack();
  // The last WriteChunk wrote the watermark: the transaction moves it to
  // cycle_watermark() (what else the log's commits up to it changed goes in
  // the same transaction).
  bool WatermarkPending() const { return pending_watermark_; }
  int64_t cycle_watermark() const { return cycle_watermark_; }
  // Sessions beyond the budget leave memory (clean ones only).
  void Evict();

  int64_t applied_seq() const { return applied_seq_; }
  int64_t watermark() const { return watermark_; }
  // How long the oldest change not yet in the table has waited (0: none).
  int64_t FlushLagMs(int64_t now_ms) const;
  void NoteCommit(int64_t last_seq, int64_t now_ms);
  SessionSetStats Stats() const;

 private:
  struct Entry;
  // Every session known here: open ones (indexed) and live ones.
  struct Slot {
    std::unique_ptr<Entry> entry;  // null: only the row has it
    int64_t rowid = 0;             // 0: no row yet
    const std::string* id = nullptr;
    // The index of open sessions (valid while `open`).
    bool open = false;
    const std::string* server = nullptr;  // interned; null: none
    int64_t seen_at = 0;                  // sink clock
    size_t open_index = 0;                // its place in open_list_
    std::optional<int64_t> last_event_at;
    std::list<Slot*>::iterator lru;  // valid while live and clean
  };
  struct Entry {
    explicit Entry(Session s) : session(std::move(s)) {}
    Session session;
    EventSeqs seqs;
    std::optional<int64_t> last_seq;
    uint64_t written_index = 0;   // IndexHash of the row as written (0: none)
    uint64_t written_stalls = 0;  // StallsHash of the row as written
    bool dirty = false;
    size_t memory = 0;  // ApproximateMemoryUsage at the last change
  };

  // The slot of `id`, its merged state read back or created when absent.
  Result<Slot*> Live(const std::string& id);
  Status Materialize(Slot* slot);
  // After `slot`'s session changed: dirty, memory, open index.
  void Touched(Slot* slot, int64_t now_ms);
  void Reindex(Slot* slot);
  void Unindex(Slot* slot);
  void RemoveOpen(Slot* slot);  // from open_list_
  void Erase(Slot* slot);
  const std::string* Intern(const std::optional<std::string>& s);

  SessionTable* table_;
  const int64_t memory_budget_;

  std::unordered_map<std::string, Slot> slots_;
  std::unordered_set<std::string> servers_;  // interned server names
  std::unordered_map<const std::string*, std::unordered_set<Slot*>> by_server_;
  std::vector<Slot*> open_list_;  // every open session, for the idle sweep
  std::list<Slot*> lru_;          // live clean sessions, oldest first
  std::vector<Slot*> dirty_;      // live dirty sessions not in the cycle
  std::map<std::string, int64_t> restart_at_;

  bool cycle_active_ = false;
  std::vector<Slot*> cycle_;  // the cycle's sessions, rowid order
  size_t cycle_pos_ = 0;      // written and committed up to here
  int64_t cycle_watermark_ = 0;
  struct Written {
    Slot* slot;
    int64_t rowid;
    uint64_t index, stalls;
  };
  std::vector<Written> pending_;  // written in the open transaction
  bool pending_watermark_ = false;
  int64_t pending_change_seq_ = 0;  // the table's change_seq before the chunk

  int64_t applied_seq_ = 0;
  int64_t watermark_ = 0;
  std::deque<std::pair<int64_t, int64_t>> unflushed_;  // (last seq, commit time) per commit
  // When the oldest change without a seq (an idle or restart close) was
  // made, of the sessions in dirty_ and of those in the cycle (-1: none).
  int64_t dirty_since_ms_ = -1, cycle_since_ms_ = -1;
  size_t pending_end_ = 0;
  int64_t open_count_ = 0;
  int64_t live_bytes_ = 0;
  SessionSetStats stats_;
};

}  // namespace sink
