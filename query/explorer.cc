#include "query/explorer.h"

#include "store/log_reader.h"

#include <algorithm>
#include <charconv>
#include <iterator>

#include "query/report.h"
#include "store/json_text.h"
#include "store/log_reader.h"
#include "store/session_table.h"
#include "store/text.h"

namespace sink {

namespace {

constexpr std::string_view kStates[] = {"establishing", "running", "stalling", "finished", "live"};
constexpr std::string_view kKinds[] = {"play", "publish", "ingest", "push", "stream"};

// The sort keys and the SQL expression each sorts by.
constexpr std::pair<std::string_view, std::string_view> kSortKeys[] = {
    {"opened_at", "coalesce(opened_at, first_event_at)"},
    {"started_at", "started_at"},
    {"closed_at", "closed_at"},
    {"last_event_at", "last_event_at"},
    {"watch_ms", "watch_ms"},
    {"bytes", "bytes"},
    {"stall_count", "stall_count"},
    {"stalled_ms", "stalled_ms"},
    {"event_count", "event_count"},
    {"media", "media"},
    {"user_id", "user_id"},
    {"server", "server"},
};

// The longest text filter accepted (a user agent is the longest field people paste).
constexpr size_t kMaxFilterBytes = 1024;

template <typename Names>
std::string OneOf(const Names& names) {
  std::string s;
  for (std::string_view n : names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

template <typename Names>
bool In(const Names& names, std::string_view v) {
  return std::find(std::begin(names), std::end(names), v) != std::end(names);
}

std::optional<std::string> Param(const QueryParams& q, std::string_view key) {
  auto it = q.find(key);
  if (it == q.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<int64_t>> IntParam(const QueryParams& q, std::string_view key, int64_t lo,
                                        int64_t hi) {
  std::optional<std::string> v = Param(q, key);
  if (!v) return std::optional<int64_t>();
  const std::optional<int64_t> whole = WholeInt64(*v);
  const int64_t n = whole.value_or(0);
  if (!whole || n < lo || n > hi) {
    return Status::Invalid(std::string(key) + ": expected a whole number from " +
                           std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + *v + "'");
  }
  return std::optional<int64_t>(n);
}

// Binds the SessionFilter's values to ?1…?13 (see kFilterWhere).
void BindFilter(Stmt& s, const SessionFilter& f) {
  s.Bind(1, f.from);
  s.Bind(2, f.to);
  s.Bind(3, f.server);
  s.Bind(4, f.media);
  s.Bind(5, f.proto);
  s.Bind(6, f.user);
  std::optional<std::string> ip_exact, ip_prefix;
  if (f.ip && !f.ip->empty() && f.ip->back() == '*') {
    ip_prefix = f.ip->substr(0, f.ip->size() - 1);
  } else {
    ip_exact = f.ip;
  }
  s.Bind(7, ip_exact);
  s.Bind(8, ip_prefix);
  s.Bind(9, f.user_agent);
  s.Bind(10, f.platform);
  const bool live = f.state && *f.state == "live";
  s.Bind(11, live ? std::nullopt : f.state);
  s.Bind(12, live ? std::optional<int64_t>(1) : std::nullopt);
  s.Bind(13, f.kind);
}

// The explorer's WHERE clause over `sessions`, parameters as BindFilter binds them.
constexpr const char* kFilterWhere =
    " WHERE (?2 IS NULL OR coalesce(opened_at, first_event_at) < ?2)"
    " AND (?1 IS NULL OR state <> 'finished' OR coalesce(closed_at, last_event_at) >= ?1)"
    " AND (?3 IS NULL OR server = ?3) AND (?4 IS NULL OR media = ?4)"
    " AND (?5 IS NULL OR proto = ?5) AND (?6 IS NULL OR user_id = ?6)"
    " AND (?7 IS NULL OR ip = ?7) AND (?8 IS NULL OR substr(ip, 1, length(?8)) = ?8)"
    " AND (?9 IS NULL OR instr(lower(user_agent), lower(?9)) > 0)"
    " AND (?10 IS NULL OR platform = ?10) AND (?11 IS NULL OR state = ?11)"
    " AND (?12 IS NULL OR state <> 'finished') AND (?13 IS NULL OR kind = ?13)";

void AppendStallsJson(std::string* out, Db& db, std::string_view id) {
  *out += '[';
  Result<Stmt> s = db.Prepare(
      "SELECT start_at, end_at FROM stall_intervals WHERE session_id = ?1 ORDER BY start_at");
  if (s.ok()) {
    s->Bind(1, id);
    bool first = true;
    for (;;) {
      Result<bool> row = s->Step();
      if (!row.ok() || !row.value()) break;
      if (!first) *out += ',';
      first = false;
      AppendRowJson(out, s.value());
    }
  }
  *out += ']';
}

// The row of session `id` (every column but merge_state) as a JSON object
// into *out; false when there is none.
Result<bool> AppendSessionJson(std::string* out, Db& db, std::string_view id) {
  Result<Stmt> s = db.Prepare("SELECT * FROM sessions WHERE id = ?1");
  if (!s.ok()) return s.status();
  s->Bind(1, id);
  Result<bool> row = s->Step();
  if (!row.ok()) return row.status();
  if (!row.value()) return false;
  AppendRowJson(out, s.value(), "merge_state");
  return true;
}

// The length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&s](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

void AppendJsonUtf8(std::string* out, std::string_view s) {
  size_t i = 0;
  while (i < s.size() && Utf8Length(s, i) > 0) i += Utf8Length(s, i);
  if (i == s.size()) return AppendJsonString(out, s);
  // Bytes that are not UTF-8 (an nginx-rtmp name's %FF, say) become U+FFFD.
  std::string clean;
  clean.reserve(s.size() + 8);
  for (i = 0; i < s.size();) {
    const size_t n = Utf8Length(s, i);
    if (n == 0) {
      clean += "\xEF\xBF\xBD";
      ++i;
    } else {
      clean.append(s.substr(i, n));
      i += n;
    }
  }
  AppendJsonString(out, clean);
}

namespace {

void AppendOptText(std::string* out, const std::optional<std::string>& v) {
  if (v) {
    AppendJsonString(out, *v);
  } else {
    *out += "null";
  }
}

void AppendOptInt(std::string* out, const std::optional<int64_t>& v) {
  *out += v ? std::to_string(*v) : "null";
}

}  // namespace

void AppendRowJson(std::string* out, const Stmt& s, std::string_view skip) {
  *out += '{';
  bool first = true;
  for (int c = 0; c < s.ColumnCount(); ++c) {
    const std::string_view name = s.ColumnName(c);
    if (!skip.empty() && name == skip) continue;
    // BLOB columns (event_seqs) are the store's internal encodings, not text.
    if (sqlite3_column_type(s.get(), c) == SQLITE_BLOB) continue;
    if (!first) *out += ',';
    first = false;
    AppendJsonString(out, name);
    *out += ':';
    switch (sqlite3_column_type(s.get(), c)) {
      case SQLITE_NULL:
        *out += "null";
        break;
      case SQLITE_INTEGER:
        *out += std::to_string(s.Int(c));
        break;
      case SQLITE_FLOAT: {
        char buf[32];
        const double d = sqlite3_column_double(s.get(), c);
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
        out->append(buf, ec == std::errc() ? end : buf);
        break;
      }
      default:
        AppendJsonUtf8(out, s.Text(c));
    }
  }
  *out += '}';
}

Result<SessionFilter> ParseSessionFilter(const QueryParams& q) {
  SessionFilter f;
  for (const char* key : {"from", "to"}) {
    std::optional<std::string> v = Param(q, key);
    if (!v) continue;
    std::optional<int64_t> t = ParseReportTime(*v);
    if (!t) {
      return Status::Invalid(std::string(key) +
                             ": expected ISO-8601 (2026-11-23T10:00:00Z) or epoch milliseconds, "
                             "got '" +
                             *v + "'");
    }
    (key[0] == 'f' ? f.from : f.to) = t;
  }
  if (f.from && f.to && *f.from >= *f.to) {
    return Status::Invalid("from must be earlier than to (the window is [from, to))");
  }
  const std::pair<const char*, std::optional<std::string>*> text[] = {
      {"server", &f.server},     {"media", &f.media}, {"proto", &f.proto},
      {"user", &f.user},         {"ip", &f.ip},       {"user_agent", &f.user_agent},
      {"platform", &f.platform}, {"state", &f.state}, {"kind", &f.kind},
  };
  for (const auto& [key, out] : text) {
    std::optional<std::string> v = Param(q, key);
    if (!v || v->empty()) continue;  // an empty field in a form means no filter
    if (v->size() > kMaxFilterBytes) {
      return Status::Invalid(std::string(key) + ": longer than " + std::to_string(kMaxFilterBytes) +
                             " bytes");
    }
    *out = std::move(v);
  }
  if (f.platform && !In(kPlatformNames, *f.platform)) {
    return Status::Invalid("platform: expected one of " + OneOf(kPlatformNames) + ", got '" +
                           *f.platform + "'");
  }
  if (f.state && !In(kStates, *f.state)) {
    return Status::Invalid("state: expected one of " + OneOf(kStates) + ", got '" + *f.state + "'");
  }
  if (f.kind && !In(kKinds, *f.kind)) {
    return Status::Invalid("kind: expected one of " + OneOf(kKinds) + ", got '" + *f.kind + "'");
  }
  return f;
}

Result<ExplorerQuery> ParseExplorerQuery(const QueryParams& q) {
  ExplorerQuery e;
  Result<SessionFilter> f = ParseSessionFilter(q);
  if (!f.ok()) return f.status();
  e.filter = std::move(f.value());
  if (std::optional<std::string> sort = Param(q, "sort"); sort && !sort->empty()) {
    auto it = std::find_if(std::begin(kSortKeys), std::end(kSortKeys),
                           [&](const auto& k) { return k.first == *sort; });
    if (it == std::end(kSortKeys)) {
      std::string names;
      for (const auto& k : kSortKeys) names += (names.empty() ? "" : ", ") + std::string(k.first);
      return Status::Invalid("sort: expected one of " + names + ", got '" + *sort + "'");
    }
    e.sort = *sort;
  }
  if (std::optional<std::string> order = Param(q, "order")) {
    if (*order != "asc" && *order != "desc") {
      return Status::Invalid("order: expected asc or desc, got '" + *order + "'");
    }
    e.descending = *order == "desc";
  }
  Result<std::optional<int64_t>> limit = IntParam(q, "limit", 1, kExplorerMaxLimit);
  if (!limit.ok()) return limit.status();
  if (limit.value()) e.limit = *limit.value();
  Result<std::optional<int64_t>> offset = IntParam(q, "offset", 0, kExplorerMaxOffset);
  if (!offset.ok()) return offset.status();
  if (offset.value()) e.offset = *offset.value();
  return e;
}

Result<std::string> ListSessionsJson(Db& db, const ExplorerQuery& q) {
  std::string_view key = "coalesce(opened_at, first_event_at)";
  for (const auto& k : kSortKeys) {
    if (k.first == q.sort) key = k.second;
  }
  // NULLs sort last either way; ties by rowid (arrival order), newest first.
  const std::string dir = q.descending ? " DESC" : " ASC";
  const std::string sql =
      "SELECT id, kind, state, platform, server, media, proto, user_id, ip, user_agent, "
      "opened_at, started_at, closed_at, last_event_at, "
      "CASE WHEN started_at IS NULL THEN NULL "
      "ELSE max(0, coalesce(closed_at, last_event_at, started_at) - started_at) END AS watch_ms, "
      "bytes, stall_count, stalled_ms, event_count, end_class, close_reason, source_id "
      "FROM sessions" +
      std::string(kFilterWhere) + " ORDER BY " + std::string(key) + " IS NULL, " +
      std::string(key) + dir + ", rowid" + dir + " LIMIT ?14 OFFSET ?15";
  Result<Stmt> s = db.Prepare(sql);
  if (!s.ok()) return s.status();
  BindFilter(s.value(), q.filter);
  s->Bind(14, q.limit + 1);
  s->Bind(15, q.offset);
  std::string out = "{\"sessions\":[";
  int64_t n = 0;
  bool more = false;
  for (;;) {
    Result<bool> row = s->Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    if (n == q.limit) {
      more = true;
      break;
    }
    if (n++) out += ",\n";
    AppendRowJson(&out, s.value());
  }
  out += "],\"offset\":" + std::to_string(q.offset) + ",\"limit\":" + std::to_string(q.limit) +
         ",\"more\":" + (more ? "true" : "false") + "}\n";
  return out;
}

namespace {

TimelineEvent FromRecord(const LogRecord& r) {
  TimelineEvent e;
  e.seq = r.seq;
  e.received_at = r.received_at;
  e.server = r.server;
  e.event = r.event;
  e.kind = r.kind;
  e.phase = r.phase;
  e.utc_ms = r.utc_ms;
  e.body = r.body;
  return e;
}

}  // namespace

Result<SessionEventList> SessionEvents(Db& db, std::string_view id, size_t max_events,
                                       std::chrono::milliseconds budget) {
  Result<Stmt> row =
      db.Prepare("SELECT event_seqs, event_count, last_seq FROM sessions WHERE id = ?1");
  if (!row.ok()) return row.status();
  row->Bind(1, id);
  Result<bool> has = row->Step();
  if (!has.ok()) return has.status();
  SessionEventList list;
  if (!has.value()) return list;
  EventSeqs seqs;
  const bool listed = !row->IsNull(0) && seqs.Assign(row->Blob(0));
  const int64_t count = row->Int(1);
  const std::optional<int64_t> last_seq = row->OptInt(2);
  row->Reset();

  // The events are in the log's segments beside the main file.
  const char* main_file = sqlite3_db_filename(db.get(), "main");
  Result<LogReader> log = LogReader::Open(main_file ? main_file : "");
  if (!log.ok()) return log.status();
  const auto until = std::chrono::steady_clock::now() + budget;
  // Ends a scan early: the list is full or the budget is spent.
  const Status stop = Status::Unavailable("timeline: stop");
  auto add = [&](const LogRecord& r) -> Status {
    if (list.events.size() >= max_events || std::chrono::steady_clock::now() >= until) {
      list.complete = false;
      return stop;
    }
    list.events.push_back(FromRecord(r));
    return Status::Ok();
  };
  auto scan = [&](int64_t after, std::optional<int64_t> upto) {
    Status st = log->ForEachAfter(after, [&](const LogRecord& r) {
      if (upto && r.seq > *upto) return stop;
      if (r.session_id != id) return Status::Ok();
      return add(r);
    });
    return st.message() == stop.message() ? Status::Ok() : st;
  };
  Status st = Status::Ok();
  if (listed) {
    // The row lists its events' seqs (store/session_table.h): read them by
    // seq; past the list's bound, the rest lie after its last seq. Events
    // retention deleted are missing.
    for (int64_t seq : seqs.Decode()) {
      if (!list.complete) break;
      Result<std::optional<LogRecord>> e = log->Get(seq);
      if (!e.ok()) return e.status();
      if (!e->has_value()) continue;
      st = add(*e.value());
      if (!st.ok()) break;
    }
    st = st.message() == stop.message() ? Status::Ok() : st;
    if (st.ok() && list.complete && seqs.listed() < count && last_seq) {
      st = scan(seqs.last(), *last_seq);
    }
  } else {
    // A row written before schema version 6 lists nothing: walk the log.
    st = scan(0, last_seq);
  }
  if (!st.ok()) return st;
  std::stable_sort(list.events.begin(), list.events.end(),
                   [](const TimelineEvent& x, const TimelineEvent& y) {
                     if (x.utc_ms.has_value() != y.utc_ms.has_value()) return x.utc_ms.has_value();
                     if (x.utc_ms != y.utc_ms) return *x.utc_ms < *y.utc_ms;
                     return x.seq < y.seq;
                   });
  return list;
}

std::string_view StateAfter(std::string_view previous, std::string_view phase) {
  if (previous == "finished") return "finished";
  if (phase == "closed" || phase == "denied") return "finished";
  if (phase == "stalled") return "stalling";
  if (phase == "recovered") return "running";
  if (phase == "started" || phase == "updated") {
    return previous == "stalling" ? "stalling" : "running";
  }
  return previous;
}

Result<std::optional<std::string>> SessionTimelineJson(Db& db, std::string_view id) {
  std::string out = "{\"session\":";
  Result<bool> found = AppendSessionJson(&out, db, id);
  if (!found.ok()) return found.status();
  if (!found.value()) return std::optional<std::string>();
  out += ",\n\"stalls\":";
  AppendStallsJson(&out, db, id);

  Result<SessionEventList> events = SessionEvents(db, id);
  if (!events.ok()) return events.status();
  out += ",\n\"events\":[";
  std::string_view state = "establishing";
  for (size_t i = 0; i < events->events.size(); ++i) {
    const TimelineEvent& e = events->events[i];
    state = StateAfter(state, e.phase.value_or(""));
    out += i ? ",\n{" : "\n{";
    out += "\"seq\":" + std::to_string(e.seq) +
           ",\"received_at\":" + std::to_string(e.received_at) + ",\"utc_ms\":";
    AppendOptInt(&out, e.utc_ms);
    out += ",\"server\":";
    AppendOptText(&out, e.server);
    out += ",\"event\":";
    AppendJsonString(&out, e.event);
    out += ",\"phase\":";
    AppendOptText(&out, e.phase);
    out += ",\"state\":";
    AppendJsonString(&out, state);
    out += ",\"body\":";
    AppendJsonString(&out, e.body);
    out += '}';
  }
  out += "],\n\"events_complete\":";
  out += events->complete ? "true" : "false";

  // The source feeding this session, with its stalls: what the viewer saw upstream.
  out += ",\n\"source\":";
  std::optional<std::string> source_id;
  {
    Result<Stmt> s = db.Prepare("SELECT source_id FROM sessions WHERE id = ?1");
    if (!s.ok()) return s.status();
    s->Bind(1, id);
    Result<bool> row = s->Step();
    if (!row.ok()) return row.status();
    if (row.value()) source_id = s->OptText(0);
  }
  std::string source;
  if (source_id) {
    source = "{\"session\":";
    Result<bool> has = AppendSessionJson(&source, db, *source_id);
    if (!has.ok()) return has.status();
    if (has.value()) {
      source += ",\"stalls\":";
      AppendStallsJson(&source, db, *source_id);
      source += '}';
    } else {
      source.clear();
    }
  }
  out += source.empty() ? "null" : source;
  out += "}\n";
  return std::optional<std::string>(std::move(out));
}

}  // namespace sink
