#include "store/event_log.h"

#include <utility>

#include "store/fnv.h"

namespace sink {

namespace {

// FNV-1a over the dedup key, with a terminator per field so that ("ab","c")
// and ("a","bc") differ, and a final avalanche so the low bits mix.
class KeyHash {
 public:
  void Add(const std::optional<std::string>& s) {
    if (!s) return Byte(0x00);
    Byte(0x01);
    for (unsigned char c : *s) Byte(c);
    Byte(0xff);
  }
  void Add(const std::string& s) { Add(std::optional<std::string>(s)); }
  void Add(const std::optional<int64_t>& v) {
    if (!v) return Byte(0x00);
    Byte(0x01);
    uint64_t u = static_cast<uint64_t>(*v);
    for (int i = 0; i < 8; ++i) Byte(static_cast<unsigned char>(u >> (8 * i)));
  }
  int64_t Finish() const {
    uint64_t x = h_.value();
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return static_cast<int64_t>(x);
  }

 private:
  void Byte(unsigned char c) { h_.Byte(c); }
  Fnv1a h_;  // store/fnv.h
};

bool SameOpt(const std::optional<std::string>& a, const Stmt& s, int col) {
  if (s.IsNull(col)) return !a.has_value();
  return a.has_value() && *a == s.Text(col);
}

bool SameOpt(const std::optional<int64_t>& a, const Stmt& s, int col) {
  if (s.IsNull(col)) return !a.has_value();
  return a.has_value() && *a == s.Int(col);
}

}  // namespace

DedupKey DedupKeyOf(const Event& e) { return {e.server, e.name, e.id, e.utc_ms, e.event_id}; }

int64_t DedupHash(const Event& e) {
  KeyHash h;
  std::apply([&h](const auto&... field) { (h.Add(field), ...); }, DedupKeyOf(e));
  return h.Finish();
}

bool IsStreamStateEvent(std::string_view name) {
  return name == "source_lost" || name == "source_ready" || name == "stream_started" ||
         name == "stream_stopped";
}

Result<EventLog> EventLog::Open(Db* db, bool writable) {
  EventLog l;
  l.db_ = db;
  auto prep = [db](Stmt* out, std::string_view sql) { return db->Prepare(sql, out); };
  SINK_RETURN_IF_ERROR(prep(&l.find_dup_,
                            "SELECT server, event, session_id, event_id FROM events "
                            "WHERE utc_ms IS ?1 AND dedup = ?2"));
  SINK_RETURN_IF_ERROR(prep(&l.read_after_,
                            "SELECT seq, received_at, event, platform, body FROM events "
                            "WHERE seq > ?1 ORDER BY seq"));
  if (!writable) return l;
  SINK_RETURN_IF_ERROR(prep(&l.insert_event_,
                            "INSERT INTO events(seq, received_at, server, event, kind, phase, "
                            "session_id, utc_ms, event_id, dedup, body, platform) "
                            "VALUES (?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  SINK_RETURN_IF_ERROR(prep(&l.insert_reject_,
                            "INSERT INTO rejected(received_at, remote_addr, reason, item_index, "
                            "server, body, after_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  return l;
}

Result<bool> EventLog::IsDuplicate(const Event& e, int64_t dedup) {
  Stmt& s = find_dup_;
  s.Bind(1, e.utc_ms);
  s.Bind(2, dedup);
  bool dup = false;
  for (;;) {
    Result<bool> row = s.Step();
    if (!row.ok()) {
      s.Reset();
      return row.status();
    }
    if (!row.value()) break;
    if (SameOpt(e.server, s, 0) && s.Text(1) == e.name && SameOpt(e.id, s, 2) &&
        SameOpt(e.event_id, s, 3)) {
      dup = true;
      break;
    }
  }
  s.Reset();
  return dup;
}

Status EventLog::Append(const Event& e, int64_t seq, int64_t dedup, int64_t received_at) {
  Stmt& s = insert_event_;
  s.Bind(1, received_at);
  s.BindView(2, e.server);  // the event outlives the step
  s.BindView(3, e.name);
  if (e.kind.empty()) {
    s.BindNull(4);
  } else {
    s.BindView(4, e.kind);
  }
  if (e.phase == Phase::kNone) {
    s.BindNull(5);
  } else {
    s.BindView(5, PhaseName(e.phase));
  }
  s.BindView(6, e.id);
  s.Bind(7, e.utc_ms);
  s.Bind(8, e.event_id);
  s.Bind(9, dedup);
  s.BindView(10, e.body);
  if (e.platform == kFlussonicPlatform) {
    s.BindNull(11);
  } else {
    s.BindView(11, e.platform);
  }
  s.Bind(12, seq);
  return s.RunAndReset();
}

Result<int64_t> EventLog::AddReject(const Reject& r, int64_t after_seq, int64_t received_at,
                                    std::string_view remote_addr) {
  Stmt& s = insert_reject_;
  s.Bind(1, received_at);
  s.Bind(2, remote_addr);
  s.Bind(3, std::string_view(r.reason));
  if (r.index >= 0) {
    s.Bind(4, r.index);
  } else {
    s.BindNull(4);
  }
  s.Bind(5, r.server);
  s.BindBlob(6, r.body);
  s.Bind(7, after_seq);
  SINK_RETURN_IF_ERROR(s.RunAndReset());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_->get()));
}

Status EventLog::ForEachAfter(int64_t seq, const std::function<Status(const StoredEvent&)>& fn) {
  Stmt& s = read_after_;
  s.Bind(1, seq);
  StoredEvent e;
  for (;;) {
    Result<bool> row = s.Step();
    if (!row.ok() || !row.value()) {
      s.Reset();
      return row.status();
    }
    e.seq = s.Int(0);
    e.received_at = s.Int(1);
    e.name = std::string(s.Text(2));
    e.platform = s.OptText(3);
    e.body = std::string(s.Text(4));
    Status st = fn(e);
    if (!st.ok()) {
      s.Reset();
      return st;
    }
  }
}

}  // namespace sink
