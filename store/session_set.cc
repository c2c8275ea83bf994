#include "store/session_set.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "store/fnv.h"

namespace sink {

namespace {

// Bytes an open session's index entry costs beyond its merged state: the
// slot, its id, and its places in the server and idle indexes.
constexpr int64_t kSlotBytes = 250;

// FNV-1a, for telling whether columns changed since they were written.
class Fnv {
 public:
  void Add(std::string_view s) {
    for (unsigned char c : s) Byte(c);
    Byte(0xff);
  }
  void Add(const std::optional<std::string>& s) {
    if (s) Add(std::string_view(*s));
    Byte(s ? 0x01 : 0x00);
  }
  void Add(int64_t v) {
    for (int i = 0; i < 8; ++i)
      Byte(static_cast<unsigned char>(static_cast<uint64_t>(v) >> (8 * i)));
  }
  uint64_t value() const { return h_.value() | 1; }  // never 0 (0: nothing written)

 private:
  void Byte(unsigned char c) { h_.Byte(c); }
  Fnv1a h_;  // store/fnv.h
};

// The columns an index depends on (SessionColumn::kIndexed).
uint64_t IndexHash(const SessionRow& r) {
  Fnv h;
  h.Add(std::string_view(r.state));
  h.Add(r.desc[kServer]);
  h.Add(r.desc[kSourceId]);
  return h.value();
}

uint64_t StallsHash(const SessionRow& r) {
  Fnv h;
  for (const StallInterval& i : r.stalls) {
    h.Add(i.start_at);
    h.Add(i.end_at.value_or(std::numeric_limits<int64_t>::min()));
  }
  return h.value();
}

const uint64_t kNoStalls = StallsHash(SessionRow{});

}  // namespace

SessionSet::SessionSet(SessionTable* table, int64_t memory_bytes)
    : table_(table), memory_budget_(memory_bytes) {}

Status SessionSet::Start(Db* db, int64_t watermark, std::map<std::string, int64_t> restart_times) {
  watermark_ = applied_seq_ = watermark;
  restart_at_ = std::move(restart_times);
  Result<Stmt> q = db->Prepare(
      "SELECT rowid, id, server, seen_at, last_event_at FROM sessions WHERE state <> 'finished'");
  if (!q.ok()) return q.status();
  for (;;) {
    Result<bool> row = q->Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    auto [it, inserted] = slots_.try_emplace(std::string(q->Text(1)));
    Slot& slot = it->second;
    slot.id = &it->first;
    slot.rowid = q->Int(0);
    slot.server = Intern(q->OptText(2));
    slot.seen_at = q->Int(3);
    slot.last_event_at = q->OptInt(4);
    slot.open = true;
    ++open_count_;
    if (slot.server) by_server_[slot.server].insert(&slot);
    slot.open_index = open_list_.size();
    open_list_.push_back(&slot);
  }
  return Status::Ok();
}

const std::string* SessionSet::Intern(const std::optional<std::string>& s) {
  if (!s) return nullptr;
  return &*servers_.insert(*s).first;
}

Result<SessionSet::Slot*> SessionSet::Live(const std::string& id) {
  auto [it, inserted] = slots_.try_emplace(id);
  Slot* slot = &it->second;
  if (inserted) slot->id = &it->first;
  if (slot->entry) return slot;
  Status st = Materialize(slot);
  if (!st.ok()) {
    if (inserted) slots_.erase(it);
    return st;
  }
  return slot;
}

Status SessionSet::Materialize(Slot* slot) {
  Result<std::optional<SessionTable::Loaded>> loaded = table_->Load(*slot->id);
  if (!loaded.ok()) return loaded.status();
  std::unique_ptr<Entry> entry;
  if (loaded->has_value()) {
    SessionTable::Loaded& l = *loaded.value();
    Result<Session> s = Session::FromStored(l.stored.row, l.stored.merge_state);
    if (!s.ok()) return s.status();
    entry = std::make_unique<Entry>(std::move(s.value()));
    entry->seqs = std::move(l.stored.seqs);
    entry->last_seq = l.stored.last_seq;
    const SessionRow row = entry->session.Row();
    entry->written_index = IndexHash(row);
    entry->written_stalls = StallsHash(row);
    slot->rowid = l.rowid;
    ++stats_.loads;
  } else {
    entry = std::make_unique<Entry>(Session(*slot->id));
    entry->written_stalls = kNoStalls;
  }
  entry->memory = entry->session.ApproximateMemoryUsage() + entry->seqs.ApproximateMemoryUsage();
  live_bytes_ += static_cast<int64_t>(entry->memory);
  slot->entry = std::move(entry);
  slot->lru = lru_.insert(lru_.end(), slot);
  return Status::Ok();
}

Status SessionSet::Apply(const Event& e, int64_t seq, int64_t received_at, int64_t now_ms) {
  if (!e.HasSession()) {
    applied_seq_ = std::max(applied_seq_, seq);
    return Status::Ok();
  }
  Result<Slot*> found = Live(*e.id);
  if (!found.ok()) return found.status();
  applied_seq_ = std::max(applied_seq_, seq);
  Slot* slot = found.value();
  Entry& en = *slot->entry;
  if (en.last_seq && seq <= *en.last_seq) return Status::Ok();  // replay: the row has it
  en.session.Apply(e, received_at);
  en.seqs.Add(seq);
  en.last_seq = seq;
  // A session of a server that restarted after its last event cannot still
  // be open, whatever order its events and the restart came in.
  if (const std::optional<std::string>& server = en.session.server()) {
    auto r = restart_at_.find(*server);
    const bool restarted = en.session.ApplyServerRestart(
        r == restart_at_.end() ? std::nullopt : std::optional<int64_t>(r->second));
    if (restarted) ++stats_.server_restart;
  }
  Touched(slot, now_ms);
  return Status::Ok();
}

Status SessionSet::ServerRestarted(const std::string& server, int64_t at, int64_t now_ms) {
  int64_t& latest = restart_at_.try_emplace(server, at).first->second;
  latest = std::max(latest, at);
  auto it = by_server_.find(Intern(server));
  if (it == by_server_.end()) return Status::Ok();
  std::vector<Slot*> affected;
  for (Slot* slot : it->second) {
    if (slot->last_event_at && *slot->last_event_at < latest) affected.push_back(slot);
  }
  for (Slot* slot : affected) {
    if (!slot->entry) SINK_RETURN_IF_ERROR(Materialize(slot));
    if (slot->entry->session.ApplyServerRestart(latest)) {
      ++stats_.server_restart;
      Touched(slot, now_ms);
    }
  }
  return Status::Ok();
}

Result<int64_t> SessionSet::SweepIdle(int64_t cutoff_ms, int64_t now_ms, size_t max_sessions,
                                      bool* more) {
  std::vector<Slot*> idle;
  bool beyond = false;  // idle sessions past the step
  for (Slot* slot : open_list_) {
    if (slot->seen_at >= cutoff_ms) continue;
    if (idle.size() == max_sessions) {
      beyond = true;
      break;
    }
    idle.push_back(slot);
  }
  if (more != nullptr) *more = beyond;
  int64_t n = 0;
  Status failed;  // the first session that could not be read back
  for (Slot* slot : idle) {
    if (!slot->entry) {
      Status st = Materialize(slot);
      if (!st.ok()) {
        if (failed.ok()) failed = st;
        continue;  // the others are finished all the same
      }
    }
    Session& s = slot->entry->session;
    if (s.Finished()) continue;
    s.CloseSynthetic(SyntheticClose::kSinkTimeout);
    ++n;
    Touched(slot, now_ms);
  }
  stats_.timed_out += static_cast<uint64_t>(n);
  if (!failed.ok()) return failed;
  return n;
}

void SessionSet::Touched(Slot* slot, int64_t now_ms) {
  Entry& en = *slot->entry;
  if (!en.dirty) {
    en.dirty = true;
    lru_.erase(slot->lru);
    if (dirty_since_ms_ < 0) dirty_since_ms_ = now_ms;
    dirty_.push_back(slot);
  }
  const size_t memory = en.session.ApproximateMemoryUsage() + en.seqs.ApproximateMemoryUsage();
  live_bytes_ += static_cast<int64_t>(memory) - static_cast<int64_t>(en.memory);
  en.memory = memory;
  Reindex(slot);
}

void SessionSet::Reindex(Slot* slot) {
  const Session& s = slot->entry->session;
  const bool open = !s.Finished();
  const std::string* server = open ? Intern(s.server()) : nullptr;
  if (slot->open && (!open || server != slot->server) && slot->server) {
    by_server_[slot->server].erase(slot);
  }
  if (open && (!slot->open || server != slot->server) && server) by_server_[server].insert(slot);
  if (slot->open && !open) RemoveOpen(slot);
  if (open && !slot->open) {
    slot->open_index = open_list_.size();
    open_list_.push_back(slot);
  }
  open_count_ += static_cast<int64_t>(open) - static_cast<int64_t>(slot->open);
  slot->open = open;
  slot->server = server;
  slot->seen_at = s.seen_at();
  slot->last_event_at = s.last_event_at();
}

void SessionSet::RemoveOpen(Slot* slot) {
  Slot* last = open_list_.back();
  open_list_[slot->open_index] = last;
  last->open_index = slot->open_index;
  open_list_.pop_back();
}

void SessionSet::Unindex(Slot* slot) {
  if (!slot->open) return;
  if (slot->server) by_server_[slot->server].erase(slot);
  RemoveOpen(slot);
  slot->open = false;
  --open_count_;
}

void SessionSet::Erase(Slot* slot) {
  Unindex(slot);
  if (slot->entry) live_bytes_ -= static_cast<int64_t>(slot->entry->memory);
  slots_.erase(slots_.find(*slot->id));
}

bool SessionSet::FlushDue(int64_t now_ms, int64_t age_ms) const {
  if (cycle_active_) return true;
  if (!dirty_.empty() && live_bytes_ > memory_budget_) return true;
  const int64_t lag = FlushLagMs(now_ms);
  return (lag > 0 || !dirty_.empty() || applied_seq_ > watermark_) && lag >= age_ms;
}

int64_t SessionSet::FlushLagMs(int64_t now_ms) const {
  int64_t since = std::numeric_limits<int64_t>::max();
  if (!unflushed_.empty()) since = unflushed_.front().second;
  if (dirty_since_ms_ >= 0) since = std::min(since, dirty_since_ms_);
  if (cycle_since_ms_ >= 0) since = std::min(since, cycle_since_ms_);
  return since == std::numeric_limits<int64_t>::max() ? 0 : std::max<int64_t>(0, now_ms - since);
}

void SessionSet::NoteCommit(int64_t last_seq, int64_t now_ms) {
  if (!unflushed_.empty() && unflushed_.back().first >= last_seq) return;
  unflushed_.emplace_back(last_seq, now_ms);
}

void SessionSet::BeginCycle() {
  if (cycle_active_) return;
  cycle_.swap(dirty_);
  dirty_.clear();
  // Rows in table order, so that neighbours share their page writes; new
  // sessions last, in the order they came.
  std::stable_sort(cycle_.begin(), cycle_.end(), [](const Slot* a, const Slot* b) {
    const int64_t ra = a->rowid ? a->rowid : std::numeric_limits<int64_t>::max();
    const int64_t rb = b->rowid ? b->rowid : std::numeric_limits<int64_t>::max();
    return ra < rb;
  });
  cycle_pos_ = 0;
  cycle_watermark_ = applied_seq_;
  cycle_since_ms_ = dirty_since_ms_;
  dirty_since_ms_ = -1;
  cycle_active_ = true;
}

Status SessionSet::WriteChunk(size_t max_rows, Stmt* save_watermark) {
  pending_change_seq_ = table_->last_change_seq();
  pending_.clear();
  pending_watermark_ = false;
  const size_t end = std::min(cycle_.size(), cycle_pos_ + max_rows);
  for (size_t i = cycle_pos_; i < end; ++i) {
    Slot* slot = cycle_[i];
    Entry& en = *slot->entry;  // dirty sessions stay in memory
    StoredSession s;
    s.row = en.session.Row();
    s.merge_state = en.session.MergeState();
    s.last_seq = en.last_seq;
    s.seqs = en.seqs;
    const uint64_t index = IndexHash(s.row);
    const uint64_t stalls = StallsHash(s.row);
    int64_t rowid = slot->rowid;
    SINK_RETURN_IF_ERROR(
        table_->Write(&s, &rowid, index != en.written_index, stalls != en.written_stalls));
    pending_.push_back(Written{slot, rowid, index, stalls});
  }
  pending_end_ = end;
  if (end == cycle_.size()) {
    save_watermark->Bind(1, cycle_watermark_);
    SINK_RETURN_IF_ERROR(save_watermark->RunAndReset());
    pending_watermark_ = true;
  }
  return Status::Ok();
}

void SessionSet::Committed(int64_t now_ms) {
  (void)now_ms;
  for (const Written& w : pending_) {
    Slot* slot = w.slot;
    Entry& en = *slot->entry;
    slot->rowid = w.rowid;
    en.written_index = w.index;
    en.written_stalls = w.stalls;
    en.dirty = false;
    ++stats_.sessions_written;
    if (en.session.Finished()) {
      Erase(slot);  // written and finished: its row has it
    } else {
      slot->lru = lru_.insert(lru_.end(), slot);
    }
  }
  pending_.clear();
  cycle_pos_ = pending_end_;
  if (pending_watermark_) {
    watermark_ = cycle_watermark_;
    while (!unflushed_.empty() && unflushed_.front().first <= watermark_) unflushed_.pop_front();
    cycle_.clear();
    cycle_pos_ = 0;
    cycle_since_ms_ = -1;
    cycle_active_ = false;
    pending_watermark_ = false;
  }
}

void SessionSet::RolledBack() {
  table_->set_last_change_seq(pending_change_seq_);
  pending_.clear();
  pending_watermark_ = false;
}

void SessionSet::Evict() {
  while (live_bytes_ > memory_budget_ && !lru_.empty()) {
    Slot* slot = lru_.front();
    lru_.pop_front();
    ++stats_.evictions;
    if (slot->open) {
      live_bytes_ -= static_cast<int64_t>(slot->entry->memory);
      slot->entry.reset();
    } else {
      Erase(slot);
    }
  }
}

SessionSetStats SessionSet::Stats() const {
  SessionSetStats s = stats_;
  s.open_sessions = open_count_;
  s.live_sessions =
      static_cast<int64_t>(lru_.size() + dirty_.size() + (cycle_.size() - cycle_pos_));
  s.dirty_sessions = static_cast<int64_t>(dirty_.size() + (cycle_.size() - cycle_pos_));
  s.memory_bytes = live_bytes_ + open_count_ * kSlotBytes;
  s.live_bytes = live_bytes_;
  return s;
}

}  // namespace sink
