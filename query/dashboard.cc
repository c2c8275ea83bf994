#include "query/dashboard.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <vector>

#include "query/native.h"
#include "query/report.h"
#include "store/json_text.h"
#include "store/text.h"
#include "store/timeutil.h"

namespace sink {

namespace {

constexpr int64_t kMinute = 60000;

std::optional<std::string> Param(const QueryParams& q, std::string_view key) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

void AppendCell(std::string* out, const Cell& c) {
  if (std::holds_alternative<std::monostate>(c)) {
    *out += "null";
  } else if (std::holds_alternative<int64_t>(c)) {
    *out += std::to_string(std::get<int64_t>(c));
  } else if (std::holds_alternative<double>(c)) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::get<double>(c));
    out->append(buf, ec == std::errc() ? end : buf);
  } else {
    AppendJsonString(out, std::get<std::string>(c));
  }
}

// Row `r` of `t` as a JSON object.
void AppendTableRow(std::string* out, const Table& t, size_t r) {
  *out += '{';
  for (size_t c = 0; c < t.columns.size(); ++c) {
    if (c) *out += ',';
    AppendJsonString(out, t.columns[c]);
    *out += ':';
    AppendCell(out, t.rows[r][c]);
  }
  *out += '}';
}

// Runs `sql` and appends its rows as a JSON array of objects.
Status AppendQueryJson(std::string* out, Stmt& s) {
  *out += '[';
  for (bool first = true;; first = false) {
    Result<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    if (!first) *out += ',';
    AppendRowJson(out, s);
  }
  *out += ']';
  return Status::Ok();
}

// The report parameters of a dashboard window: from, to, platform, now.
Result<ReportParams> WindowParams(const QueryParams& q) {
  Result<SessionFilter> f = ParseSessionFilter(q);
  if (!f.ok()) return f.status();
  ReportParams p;
  p.from = f->from;
  p.to = f->to;
  p.platform = f->platform;
  p.media = f->media;
  if (std::optional<std::string> now = Param(q, "now")) {
    p.now = ParseReportTime(*now);
    if (!p.now)
      return Status::Invalid("now: expected ISO-8601 or epoch milliseconds, got '" + *now + "'");
  }
  return p;
}

}  // namespace

Result<int64_t> DashboardLimit(const QueryParams& q, int64_t def, int64_t max) {
  std::optional<std::string> l = Param(q, "limit");
  if (!l) return def;
  const std::optional<int64_t> n = WholeInt64(*l);
  const int64_t v = n.value_or(0);
  if (!n || v < 1 || v > max) {
    return Status::Invalid("limit: expected a whole number from 1 to " + std::to_string(max) +
                           ", got '" + *l + "'");
  }
  return v;
}

Result<std::string> LiveJson(Db& db, const std::optional<std::string>& platform) {
  Result<Stmt> s = db.Prepare(
      "SELECT kind, platform, state, count(*) AS sessions FROM sessions "
      "WHERE state <> 'finished' AND (?1 IS NULL OR platform = ?1) "
      "GROUP BY kind, platform, state ORDER BY sessions DESC, kind, platform, state");
  if (!s.ok()) return s.status();
  s->Bind(1, platform);
  std::string out;
  SINK_RETURN_IF_ERROR(AppendQueryJson(&out, s.value()));
  return out;
}

Result<std::string> ConcurrencyJson(Db& db, const QueryParams& q) {
  return ConcurrencyJson(
      [&db](std::string_view name, const ReportParams& p) { return RunNativeReport(db, name, p); },
      q);
}

Result<std::string> ConcurrencyJson(const ReportRunner& run, const QueryParams& q) {
  Result<ReportParams> p = WindowParams(q);
  if (!p.ok()) return p.status();
  if (!p->from || !p->to) return Status::Invalid("from and to are required");
  const int64_t span = *p->to - *p->from;
  if (std::optional<std::string> bucket = Param(q, "bucket")) {
    p->bucket_ms = ParseDuration(*bucket, /*bare_unit_ms=*/1);
    if (!p->bucket_ms || *p->bucket_ms < 1000) {
      return Status::Invalid("bucket: expected a duration of at least 1s (1m, 5m, 1h), got '" +
                             *bucket + "'");
    }
  } else {
    // About 240 points, on a round step.
    p->bucket_ms = 24 * 60 * kMinute;
    for (int64_t step : {kMinute, 5 * kMinute, 15 * kMinute, 60 * kMinute, 360 * kMinute}) {
      if (span / step <= 240) {
        p->bucket_ms = step;
        break;
      }
    }
  }
  if (span / *p->bucket_ms > kMaxConcurrencyPoints) {
    return Status::Invalid("bucket: the window holds more than " +
                           std::to_string(kMaxConcurrencyPoints) + " buckets; take a larger one");
  }
  Result<Table> t = run("concurrency", p.value());
  if (!t.ok()) return t.status();
  // With a media filter the report's '*' rows are that media's series.
  std::string ts, peaks;
  for (const auto& row : t->rows) {
    if (!std::holds_alternative<std::string>(row[1]) || std::get<std::string>(row[1]) != "*") {
      continue;
    }
    if (!ts.empty()) {
      ts += ',';
      peaks += ',';
    }
    AppendCell(&ts, row[0]);
    AppendCell(&peaks, row[2]);
  }
  std::string out = "{\"bucket_ms\":" + std::to_string(*p->bucket_ms) + ",\"media\":";
  if (p->media) {
    AppendJsonString(&out, *p->media);
  } else {
    out += "null";
  }
  out += ",\"t\":[" + ts + "],\"peak\":[" + peaks + "]}\n";
  return out;
}

Result<std::string> StallsByMediaJson(Db& db, const QueryParams& q) {
  return StallsByMediaJson(
      [&db](std::string_view name, const ReportParams& p) { return RunNativeReport(db, name, p); },
      q);
}

Result<std::string> StallsByMediaJson(const ReportRunner& run, const QueryParams& q) {
  Result<ReportParams> p = WindowParams(q);
  if (!p.ok()) return p.status();
  Result<int64_t> limit = DashboardLimit(q, 20, 1000);
  if (!limit.ok()) return limit.status();
  Result<Table> t = run("stalls", p.value());
  if (!t.ok()) return t.status();
  auto col = [&t](std::string_view name) {
    return static_cast<size_t>(std::find(t->columns.begin(), t->columns.end(), name) -
                               t->columns.begin());
  };
  const size_t scope = col("scope"), stalled = col("stalled_ms");
  if (scope >= t->columns.size() || stalled >= t->columns.size()) {
    return Status::Internal("the stalls report has no scope or stalled_ms column");
  }
  std::vector<size_t> rows;
  for (size_t r = 0; r < t->rows.size(); ++r) {
    const Cell& c = t->rows[r][scope];
    if (std::holds_alternative<std::string>(c) && std::get<std::string>(c) == "media") {
      rows.push_back(r);
    }
  }
  auto ms = [&](size_t r) {
    const Cell& c = t->rows[r][stalled];
    return std::holds_alternative<int64_t>(c) ? std::get<int64_t>(c) : 0;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) { return ms(a) > ms(b); });
  if (rows.size() > static_cast<size_t>(limit.value())) rows.resize(limit.value());
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) out += ",\n";
    AppendTableRow(&out, t.value(), rows[i]);
  }
  out += "]\n";
  return out;
}

Result<std::string> UsersJson(Db& db, const QueryParams& q) {
  Result<SessionFilter> f = ParseSessionFilter(q);
  if (!f.ok()) return f.status();
  Result<int64_t> limit = DashboardLimit(q, 20, 100);
  if (!limit.ok()) return limit.status();
  const std::string prefix = Param(q, "q").value_or("");
  if (prefix.size() > 256) return Status::Invalid("q: longer than 256 bytes");
  Result<Stmt> s = db.Prepare(
      "SELECT user_id, count(*) AS sessions, max(last_event_at) AS last_event_at "
      "FROM sessions WHERE +kind = 'play' AND user_id IS NOT NULL "
      "AND substr(user_id, 1, length(?1)) = ?1 "
      "AND (?2 IS NULL OR coalesce(opened_at, first_event_at) >= ?2) "
      "AND (?3 IS NULL OR coalesce(opened_at, first_event_at) < ?3) "
      "AND (?4 IS NULL OR platform = ?4) "
      "GROUP BY user_id ORDER BY sessions DESC, user_id LIMIT ?5");
  if (!s.ok()) return s.status();
  s->Bind(1, std::string_view(prefix));
  s->Bind(2, f->from);
  s->Bind(3, f->to);
  s->Bind(4, f->platform);
  s->Bind(5, limit.value());
  std::string out;
  SINK_RETURN_IF_ERROR(AppendQueryJson(&out, s.value()));
  out += '\n';
  return out;
}

std::string TableRowsJson(const Table& t, std::string_view separator) {
  std::string out = "[";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    if (r) out += separator;
    AppendTableRow(&out, t, r);
  }
  out += "]\n";
  return out;
}

Result<ReportParams> UserParams(const QueryParams& q) {
  const std::optional<std::string> user = Param(q, "id");
  if (!user) return Status::Invalid("id: the user id is required");
  Result<ReportParams> p = WindowParams(q);
  if (!p.ok()) return p.status();
  p->user = user;
  p->media.reset();
  return p;
}

Result<std::string> UserJson(Db& db, const QueryParams& q) {
  Result<ReportParams> p = UserParams(q);
  if (!p.ok()) return p.status();
  Result<Table> summary = RunNativeReport(db, "sessions-per-user", p.value());
  if (!summary.ok()) return summary.status();

  // Networks and user agents, from one pass over the user's plays (the
  // sessions-per-user window: COALESCE(opened_at, first_event_at) in [from, to)).
  Result<Stmt> s = db.Prepare(
      "SELECT coalesce(ip_net, ip), ip, started_at, closed_at, last_event_at, user_agent, "
      "coalesce(opened_at, first_event_at) FROM sessions "
      "WHERE +kind = 'play' AND user_id = ?1 "
      "AND (?2 IS NULL OR coalesce(opened_at, first_event_at) >= ?2) "
      "AND (?3 IS NULL OR coalesce(opened_at, first_event_at) < ?3) "
      "AND (?4 IS NULL OR platform = ?4)");
  if (!s.ok()) return s.status();
  s->Bind(1, std::string_view(*p->user));
  s->Bind(2, p->from);
  s->Bind(3, p->to);
  s->Bind(4, p->platform);
  std::vector<UserPlay> plays;
  for (;;) {
    Result<bool> row = s->Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    UserPlay u;
    u.network = s->OptText(0);
    u.ip = s->OptText(1);
    u.started_at = s->OptInt(2);
    u.closed_at = s->OptInt(3);
    u.last_event_at = s->OptInt(4);
    u.user_agent = s->OptText(5);
    u.opened_at = s->OptInt(6);
    plays.push_back(std::move(u));
  }
  Result<Table> sharing = RunNativeReport(db, "sharing", p.value());
  if (!sharing.ok()) return sharing.status();
  return UserPageJson(*p->user, summary.value(), plays, sharing.value());
}

std::string UserPageJson(const std::string& user, const Table& summary,
                         const std::vector<UserPlay>& plays, const Table& sharing) {
  std::string out = "{\"user\":";
  AppendJsonString(&out, user);
  out += ",\n\"summary\":";
  if (summary.rows.empty()) {
    out += "null";
  } else {
    AppendTableRow(&out, summary, 0);
  }
  struct Net {
    int64_t sessions = 0, plays = 0, watch = 0;
    std::set<std::string> ips;
    std::optional<int64_t> first, last;
  };
  std::map<std::string, Net> nets;
  std::map<std::string, int64_t> agents;
  for (const UserPlay& u : plays) {
    Net& n = nets[u.network.value_or(std::string())];
    ++n.sessions;
    if (u.ip) n.ips.insert(*u.ip);
    if (u.started_at) {
      ++n.plays;
      const int64_t start = *u.started_at;
      const int64_t end = u.closed_at ? *u.closed_at : u.last_event_at ? *u.last_event_at : start;
      n.watch += std::max<int64_t>(0, end - start);
    }
    const std::optional<int64_t> at = u.opened_at, last = u.last_event_at;
    if (at && (!n.first || *at < *n.first)) n.first = at;
    if (last && (!n.last || *last > *n.last)) n.last = last;
    ++agents[u.user_agent.value_or(std::string())];
  }
  std::vector<std::pair<const std::string*, const Net*>> order;
  for (const auto& [k, v] : nets) order.emplace_back(&k, &v);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second->sessions != b.second->sessions ? a.second->sessions > b.second->sessions
                                                    : *a.first < *b.first;
  });
  out += ",\n\"networks\":[";
  for (size_t i = 0; i < order.size(); ++i) {
    const Net& n = *order[i].second;
    out += i ? ",{\"network\":" : "{\"network\":";
    if (order[i].first->empty()) {
      out += "null";
    } else {
      AppendJsonString(&out, *order[i].first);
    }
    out += ",\"sessions\":" + std::to_string(n.sessions) + ",\"plays\":" + std::to_string(n.plays) +
           ",\"watch_ms\":" + std::to_string(n.watch) + ",\"ips\":[";
    bool first = true;
    for (const std::string& ip : n.ips) {
      if (!first) out += ',';
      first = false;
      AppendJsonString(&out, ip);
    }
    out += "],\"first_at\":" + (n.first ? std::to_string(*n.first) : "null") +
           ",\"last_at\":" + (n.last ? std::to_string(*n.last) : "null") + "}";
  }
  out += "],\n\"user_agents\":[";
  std::vector<std::pair<int64_t, const std::string*>> ua;
  for (const auto& [k, v] : agents) ua.emplace_back(v, &k);
  std::sort(ua.begin(), ua.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  for (size_t i = 0; i < ua.size(); ++i) {
    out += i ? ",{\"user_agent\":" : "{\"user_agent\":";
    if (ua[i].second->empty()) {
      out += "null";
    } else {
      AppendJsonString(&out, *ua[i].second);
    }
    out += ",\"sessions\":" + std::to_string(ua[i].first) + "}";
  }
  out += "],\n\"sharing\":";
  if (sharing.rows.empty()) {
    out += "null";
  } else {
    AppendTableRow(&out, sharing, 0);
  }
  out += "}\n";
  return out;
}

}  // namespace sink
