#include "store/session_table.h"

#include <utility>

namespace sink {

void EventSeqs::Add(int64_t seq) {
  if (listed_ >= kMaxSeqs) return;
  uint64_t d = static_cast<uint64_t>(seq - last_);
  while (d >= 0x80) {
    bytes_.push_back(static_cast<char>((d & 0x7f) | 0x80));
    d >>= 7;
  }
  bytes_.push_back(static_cast<char>(d));
  last_ = seq;
  ++listed_;
}

std::vector<int64_t> EventSeqs::Decode() const {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(listed_));
  int64_t v = 0;
  uint64_t d = 0;
  int shift = 0;
  for (char c : bytes_) {
    const auto b = static_cast<unsigned char>(c);
    d |= static_cast<uint64_t>(b & 0x7f) << shift;
    shift += 7;
    if (b & 0x80) continue;
    v += static_cast<int64_t>(d);
    out.push_back(v);
    d = 0;
    shift = 0;
  }
  return out;
}

bool EventSeqs::Assign(std::string_view bytes) {
  *this = EventSeqs();
  int64_t v = 0;
  uint64_t d = 0;
  int shift = 0;
  int64_t n = 0;
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    if (shift > 56) return false;
    d |= static_cast<uint64_t>(b & 0x7f) << shift;
    shift += 7;
    if (b & 0x80) continue;
    if (d == 0 && n > 0) return false;  // seqs strictly increase
    v += static_cast<int64_t>(d);
    ++n;
    d = 0;
    shift = 0;
  }
  if (shift != 0 || n > kMaxSeqs) return false;
  bytes_ = std::string(bytes);
  listed_ = n;
  last_ = v;
  return true;
}

namespace {

void BindValue(Stmt& s, int p, int64_t v) { s.Bind(p, v); }
void BindValue(Stmt& s, int p, bool v) { s.Bind(p, static_cast<int64_t>(v)); }
// The StoredSession outlives the statement's step: no copies.
void BindValue(Stmt& s, int p, const std::string& v) { s.BindView(p, v); }
void BindValue(Stmt& s, int p, const std::optional<int64_t>& v) { s.Bind(p, v); }
void BindValue(Stmt& s, int p, const std::optional<std::string>& v) { s.BindView(p, v); }

void ReadValue(const Stmt& s, int c, int64_t* v) { *v = s.Int(c); }
void ReadValue(const Stmt& s, int c, bool* v) { *v = s.Int(c) != 0; }
void ReadValue(const Stmt& s, int c, std::string* v) { *v = std::string(s.Text(c)); }
void ReadValue(const Stmt& s, int c, std::optional<int64_t>* v) { *v = s.OptInt(c); }
void ReadValue(const Stmt& s, int c, std::optional<std::string>* v) { *v = s.OptText(c); }

std::string ShowValue(int64_t v) { return std::to_string(v); }
std::string ShowValue(bool v) { return v ? "1" : "0"; }
std::string ShowValue(const std::string& v) { return "'" + v + "'"; }
std::string ShowValue(const std::optional<int64_t>& v) { return v ? ShowValue(*v) : "NULL"; }
std::string ShowValue(const std::optional<std::string>& v) { return v ? ShowValue(*v) : "NULL"; }

// A column holding SessionRow::*M.
template <auto M>
SessionColumn Row(std::string_view name, uint8_t flags = SessionColumn::kInJson) {
  return {name, flags, [](Stmt& s, int p, const StoredSession& r) { BindValue(s, p, r.row.*M); },
          [](const Stmt& s, int c, StoredSession* r) { ReadValue(s, c, &(r->row.*M)); },
          [](const StoredSession& r) { return ShowValue(r.row.*M); }};
}

// A column holding SessionRow::desc[F].
template <int F>
SessionColumn Desc(uint8_t flags = SessionColumn::kInJson) {
  return {kDescColumn[F], flags,
          [](Stmt& s, int p, const StoredSession& r) { BindValue(s, p, r.row.desc[F]); },
          [](const Stmt& s, int c, StoredSession* r) { ReadValue(s, c, &r->row.desc[F]); },
          [](const StoredSession& r) { return ShowValue(r.row.desc[F]); }};
}

// A column holding StoredSession::*M.
template <auto M>
SessionColumn Store(std::string_view name, uint8_t flags = SessionColumn::kNone) {
  return {name, flags, [](Stmt& s, int p, const StoredSession& r) { BindValue(s, p, r.*M); },
          [](const Stmt& s, int c, StoredSession* r) { ReadValue(s, c, &(r->*M)); },
          [](const StoredSession& r) { return ShowValue(r.*M); }};
}

constexpr uint8_t kJsonIndexed = SessionColumn::kInJson | SessionColumn::kIndexed;

std::vector<SessionColumn> MakeColumns() {
  using R = SessionRow;
  using S = StoredSession;
  return {
      Row<&R::id>("id"),
      Row<&R::kind>("kind"),
      Row<&R::state>("state", kJsonIndexed),  // sessions_open is WHERE state <> 'finished'
      Desc<kServer>(kJsonIndexed),            // sessions_open(server)
      Desc<kMedia>(),
      Desc<kSourceId>(kJsonIndexed),  // sessions_source(source_id)
      Desc<kParentId>(),
      Desc<kUserId>(),
      Desc<kToken>(),
      Desc<kIp>(),
      Desc<kProto>(),
      Desc<kCountry>(),
      Desc<kUserAgent>(),
      Desc<kReferer>(),
      Desc<kUrl>(),
      Row<&R::opened_at>("opened_at"),
      Row<&R::authorized_at>("authorized_at"),
      Row<&R::started_at>("started_at"),
      Row<&R::updated_at>("updated_at"),
      Row<&R::closed_at>("closed_at"),
      Row<&R::bytes>("bytes"),
      Row<&R::duration_ms>("duration_ms"),
      Row<&R::stall_count>("stall_count"),
      Row<&R::stalled_ms>("stalled_ms"),
      Row<&R::denied>("denied"),
      Row<&R::close_reason>("close_reason"),
      Row<&R::event_count>("event_count"),
      Row<&R::last_event_at>("last_event_at"),
      Row<&R::first_event_at>("first_event_at"),
      Row<&R::seen_at>("seen_at", SessionColumn::kNone),
      Store<&S::merge_state>("merge_state"),
      Store<&S::change_seq>("change_seq", SessionColumn::kInJson),
      Row<&R::ip_net>("ip_net", SessionColumn::kNone),
      Row<&R::platform>("platform"),
      Row<&R::raw_state>("raw_state"),
      Row<&R::raw_reason>("raw_reason"),
      Row<&R::end_class>("end_class"),
      Row<&R::queued_ms>("queued_ms"),
      Row<&R::reconnect_count>("reconnect_count"),
      Row<&R::reconnect_ms>("reconnect_ms"),
      Row<&R::external_id>("external_id"),
      Store<&S::last_seq>("last_seq"),
      {"event_seqs", SessionColumn::kNone,
       [](Stmt& s, int p, const StoredSession& r) {
         if (r.seqs.listed() == 0) return s.BindNull(p);
         s.BindBlob(p, r.seqs.bytes());
       },
       [](const Stmt& s, int c, StoredSession* r) {
         // Unreadable bytes leave the list empty: only the timeline reads it.
         if (!s.IsNull(c)) r->seqs.Assign(s.Blob(c));
       },
       [](const StoredSession& r) { return std::to_string(r.seqs.listed()) + " seqs"; }},
  };
}

}  // namespace

const std::vector<SessionColumn>& SessionColumns() {
  static const std::vector<SessionColumn> kColumns = MakeColumns();
  return kColumns;
}

std::string SessionJsonSql(std::string_view alias) {
  std::string sql = "json_object(";
  bool first = true;
  for (const SessionColumn& c : SessionColumns()) {
    if (!(c.flags & SessionColumn::kInJson)) continue;
    if (!first) sql += ", ";
    first = false;
    sql.append("'").append(c.name).append("', ").append(alias).append(".").append(c.name);
  }
  return sql + ")";
}

std::string SessionRowDiff(const SessionRow& a, const SessionRow& b) {
  StoredSession sa, sb;
  sa.row = a;
  sb.row = b;
  for (const SessionColumn& c : SessionColumns()) {
    const std::string x = c.show(sa), y = c.show(sb);
    if (x != y) return std::string(c.name) + ": " + x + " vs " + y;
  }
  if (a.stalls != b.stalls)
    return "stalls: " + std::to_string(a.stalls.size()) + " vs " + std::to_string(b.stalls.size()) +
           " intervals (or their times)";
  return "";
}

Result<SessionTable> SessionTable::Open(Db* db, bool session_log) {
  SessionTable t;
  t.session_log_ = session_log;
  const std::vector<SessionColumn>& cols = SessionColumns();
  std::string names, params, all, lean;
  for (size_t i = 0; i < cols.size(); ++i) {
    const std::string p = "?" + std::to_string(i + 1);
    names.append(i ? ", " : "").append(cols[i].name);
    params.append(i ? ", " : "").append(p);
    if (i == 0) continue;  // the id never changes
    const std::string set = std::string(cols[i].name) + " = " + p;
    all.append(all.empty() ? "" : ", ").append(set);
    if (!(cols[i].flags & SessionColumn::kIndexed))
      lean.append(lean.empty() ? "" : ", ").append(set);
  }
  const std::string rowid = "?" + std::to_string(cols.size() + 1);
  SINK_RETURN_IF_ERROR(
      db->Prepare("SELECT rowid, " + names + " FROM sessions WHERE id = ?1", &t.load_));
  SINK_RETURN_IF_ERROR(
      db->Prepare("INSERT INTO sessions(" + names + ") VALUES (" + params + ")", &t.insert_));
  SINK_RETURN_IF_ERROR(
      db->Prepare("UPDATE sessions SET " + all + " WHERE rowid = " + rowid, &t.update_all_));
  SINK_RETURN_IF_ERROR(
      db->Prepare("UPDATE sessions SET " + lean + " WHERE rowid = " + rowid, &t.update_lean_));
  SINK_RETURN_IF_ERROR(
      db->Prepare("INSERT INTO session_changes(change_seq, id) VALUES (?1, ?2)", &t.log_change_));
  SINK_RETURN_IF_ERROR(
      db->Prepare("DELETE FROM stall_intervals WHERE session_id = ?1", &t.delete_stalls_));
  SINK_RETURN_IF_ERROR(
      db->Prepare("INSERT INTO stall_intervals(session_id, start_at, end_at) VALUES (?1, ?2, ?3)",
                  &t.insert_stall_));
  Result<int64_t> change = db->QueryInt("SELECT coalesce(max(change_seq), 0) FROM sessions");
  if (!change.ok()) return change.status();
  t.last_change_seq_ = change.value();
  return t;
}

Result<std::optional<SessionTable::Loaded>> SessionTable::Load(std::string_view id) {
  load_.Bind(1, id);
  Result<bool> row = load_.Step();
  if (!row.ok() || !row.value()) {
    load_.Reset();
    if (!row.ok()) return row.status();
    return std::optional<Loaded>();
  }
  Loaded l;
  l.rowid = load_.Int(0);
  const std::vector<SessionColumn>& cols = SessionColumns();
  for (size_t i = 0; i < cols.size(); ++i) cols[i].read(load_, static_cast<int>(i + 1), &l.stored);
  load_.Reset();
  return std::optional<Loaded>(std::move(l));
}

Status SessionTable::Write(StoredSession* s, int64_t* rowid, bool indexed_changed,
                           bool stalls_changed) {
  s->change_seq = ++last_change_seq_;
  const std::vector<SessionColumn>& cols = SessionColumns();
  const bool insert = *rowid == 0;
  Stmt& st = insert ? insert_ : indexed_changed ? update_all_ : update_lean_;
  for (size_t i = insert ? 0 : 1; i < cols.size(); ++i) {
    if (!insert && !indexed_changed && (cols[i].flags & SessionColumn::kIndexed)) continue;
    cols[i].bind(st, static_cast<int>(i + 1), *s);
  }
  if (!insert) st.Bind(static_cast<int>(cols.size() + 1), *rowid);
  SINK_RETURN_IF_ERROR(st.RunAndReset());
  if (insert) *rowid = sqlite3_last_insert_rowid(sqlite3_db_handle(st.get()));
  const std::string& id = s->row.id;
  if (session_log_) {
    log_change_.Bind(1, s->change_seq);
    log_change_.Bind(2, std::string_view(id));
    SINK_RETURN_IF_ERROR(log_change_.RunAndReset());
  }
  if (!stalls_changed) return Status::Ok();
  delete_stalls_.Bind(1, std::string_view(id));
  SINK_RETURN_IF_ERROR(delete_stalls_.RunAndReset());
  for (const StallInterval& i : s->row.stalls) {
    insert_stall_.Bind(1, std::string_view(id));
    insert_stall_.Bind(2, i.start_at);
    insert_stall_.Bind(3, i.end_at);
    SINK_RETURN_IF_ERROR(insert_stall_.RunAndReset());
  }
  return Status::Ok();
}

}  // namespace sink
