#include "query/clickhouse_dashboard.h"

#include "query/dashboard.h"
#include "store/json_text.h"

namespace sink {

const char* const kFleetLocalOnly =
    "[{\"panel\":\"traffic\",\"why\":\"the requests this sink answered (no table holds them)\"},"
    "{\"panel\":\"totals\",\"why\":\"this sink's writer counters\"},"
    "{\"panel\":\"flush_lag\",\"why\":\"this sink's sessions table\"},"
    "{\"panel\":\"kafka\",\"why\":\"this sink's producer\"},"
    "{\"panel\":\"timeline\",\"why\":\"GET /api/session reads this sink's file: a session of "
    "another sink is not found there (not on ClickHouse yet)\"}]";

namespace {

bool ValidDatabase(const std::string& db) {
  if (db.empty() || db.size() > 64) return false;
  for (size_t i = 0; i < db.size(); ++i) {
    const char c = db[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
          (i > 0 && c >= '0' && c <= '9'))) {
      return false;
    }
  }
  return true;
}

// `FROM db.sessions FINAL`, as the reports read it (one row per session).
Result<std::string> Sessions(const ClickHouseTarget& t) {
  if (!ValidDatabase(t.database)) {
    return Status::Invalid("database: expected a name of letters, digits and _, got '" +
                           t.database + "'");
  }
  return t.database + ".sessions FINAL";
}

std::string Int(int64_t v) { return "toInt64(" + std::to_string(v) + ")"; }

// A condition that is false, not NULL, where a column is NULL (as SQLite's
// WHERE treats NULL).
std::string Cond(const std::string& c) { return " AND ifNull(" + c + ", 0)"; }

std::optional<std::string> Text(const Cell& c) {
  if (std::holds_alternative<std::string>(c)) return std::get<std::string>(c);
  return std::nullopt;
}

std::optional<int64_t> Number(const Cell& c) {
  if (std::holds_alternative<int64_t>(c)) return std::get<int64_t>(c);
  return std::nullopt;
}

ReportRunner Runner(const ClickHouseTarget& t) {
  return
      [t](std::string_view name, const ReportParams& p) { return RunClickHouseReport(t, name, p); };
}

}  // namespace

Result<std::string> ClickHouseLiveJson(const ClickHouseTarget& t,
                                       const std::optional<std::string>& platform) {
  Result<std::string> from = Sessions(t);
  if (!from.ok()) return from.status();
  std::string sql = "SELECT kind, platform, state, toInt64(count()) AS sessions FROM " +
                    from.value() + " WHERE state != 'finished'";
  if (platform) sql += " AND platform = " + ClickHouseQuote(*platform);
  sql += " GROUP BY kind, platform, state ORDER BY sessions DESC, kind, platform, state";
  Result<Table> rows = ClickHouseTable(t, sql);
  if (!rows.ok()) return rows.status();
  std::string out = TableRowsJson(rows.value(), ",");
  out.pop_back();  // the newline: /api/now embeds it
  return out;
}

Result<std::string> ClickHouseConcurrencyJson(const ClickHouseTarget& t, const QueryParams& q) {
  return ConcurrencyJson(Runner(t), q);
}

Result<std::string> ClickHouseStallsByMediaJson(const ClickHouseTarget& t, const QueryParams& q) {
  return StallsByMediaJson(Runner(t), q);
}

Result<std::string> ClickHouseListSessionsJson(const ClickHouseTarget& t, const ExplorerQuery& q) {
  Result<std::string> from = Sessions(t);
  if (!from.ok()) return from.status();
  const SessionFilter& f = q.filter;
  std::string where = "1";
  if (f.to) where += Cond("coalesce(opened_at, first_event_at) < " + Int(*f.to));
  if (f.from) {
    where += Cond("state != 'finished' OR coalesce(closed_at, last_event_at) >= " + Int(*f.from));
  }
  const std::pair<const char*, const std::optional<std::string>*> exact[] = {
      {"server", &f.server}, {"media", &f.media},       {"proto", &f.proto},
      {"user_id", &f.user},  {"platform", &f.platform}, {"kind", &f.kind},
  };
  for (const auto& [col, v] : exact) {
    if (*v) where += Cond(std::string(col) + " = " + ClickHouseQuote(**v));
  }
  if (f.ip && !f.ip->empty() && f.ip->back() == '*') {
    const std::string prefix = f.ip->substr(0, f.ip->size() - 1);
    where += Cond("substring(ip, 1, " + std::to_string(prefix.size()) +
                  ") = " + ClickHouseQuote(prefix));
  } else if (f.ip) {
    where += Cond("ip = " + ClickHouseQuote(*f.ip));
  }
  if (f.user_agent) {
    where += Cond("position(lower(user_agent), lower(" + ClickHouseQuote(*f.user_agent) + ")) > 0");
  }
  if (f.state && *f.state == "live") {
    where += " AND state != 'finished'";
  } else if (f.state) {
    where += " AND state = " + ClickHouseQuote(*f.state);
  }
  // The sort keys of query/explorer.cc, by name (ParseExplorerQuery checked it).
  std::string key = "coalesce(opened_at, first_event_at)";
  for (const char* k : {"started_at", "closed_at", "last_event_at", "watch_ms", "bytes",
                        "stall_count", "stalled_ms", "event_count", "media", "user_id", "server"}) {
    if (q.sort == k) key = k;
  }
  const std::string dir = q.descending ? " DESC" : " ASC";
  const std::string sql =
      "SELECT id, kind, state, platform, server, media, proto, user_id, ip, user_agent, "
      "opened_at, started_at, closed_at, last_event_at, "
      "if(isNull(started_at), NULL, "
      "greatest(toInt64(0), coalesce(closed_at, last_event_at, started_at) - started_at)) "
      "AS watch_ms, bytes, stall_count, stalled_ms, event_count, end_class, close_reason, "
      "source_id FROM " +
      from.value() + " WHERE " + where + " ORDER BY isNull(" + key + "), " + key + dir + ", id" +
      dir + " LIMIT " + std::to_string(q.offset) + ", " + std::to_string(q.limit + 1);
  Result<Table> rows = ClickHouseTable(t, sql);
  if (!rows.ok()) return rows.status();
  const bool more = rows->rows.size() > static_cast<size_t>(q.limit);
  if (more) rows->rows.resize(q.limit);
  std::string page = TableRowsJson(rows.value());
  page.pop_back();
  return "{\"sessions\":" + page + ",\"offset\":" + std::to_string(q.offset) +
         ",\"limit\":" + std::to_string(q.limit) + ",\"more\":" + (more ? "true" : "false") + "}\n";
}

Result<std::string> ClickHouseUsersJson(const ClickHouseTarget& t, const QueryParams& q) {
  Result<std::string> from = Sessions(t);
  if (!from.ok()) return from.status();
  Result<SessionFilter> f = ParseSessionFilter(q);
  if (!f.ok()) return f.status();
  Result<int64_t> limit = DashboardLimit(q, 20, 100);
  if (!limit.ok()) return limit.status();
  auto it = q.find("q");
  const std::string prefix = it == q.end() ? std::string() : it->second;
  if (prefix.size() > 256) return Status::Invalid("q: longer than 256 bytes");
  std::string where = "kind = 'play' AND isNotNull(user_id)";
  if (!prefix.empty()) {
    where += Cond("substring(user_id, 1, " + std::to_string(prefix.size()) +
                  ") = " + ClickHouseQuote(prefix));
  }
  if (f->from) where += Cond("coalesce(opened_at, first_event_at) >= " + Int(*f->from));
  if (f->to) where += Cond("coalesce(opened_at, first_event_at) < " + Int(*f->to));
  if (f->platform) where += " AND platform = " + ClickHouseQuote(*f->platform);
  Result<Table> rows = ClickHouseTable(
      t,
      "SELECT u AS user_id, sessions, last_event_at FROM (SELECT assumeNotNull(user_id) AS u, "
      "toInt64(count()) AS sessions, max(last_event_at) AS last_event_at FROM " +
          from.value() + " WHERE " + where + " GROUP BY u) ORDER BY sessions DESC, u LIMIT " +
          std::to_string(limit.value()));
  if (!rows.ok()) return rows.status();
  return TableRowsJson(rows.value(), ",");
}

Result<std::string> ClickHouseUserJson(const ClickHouseTarget& t, const QueryParams& q) {
  Result<std::string> from = Sessions(t);
  if (!from.ok()) return from.status();
  Result<ReportParams> p = UserParams(q);
  if (!p.ok()) return p.status();
  Result<Table> summary = RunClickHouseReport(t, "sessions-per-user", p.value());
  if (!summary.ok()) return summary.status();
  std::string where = "kind = 'play' AND user_id = " + ClickHouseQuote(*p->user);
  if (p->from) where += Cond("coalesce(opened_at, first_event_at) >= " + Int(*p->from));
  if (p->to) where += Cond("coalesce(opened_at, first_event_at) < " + Int(*p->to));
  if (p->platform) where += " AND platform = " + ClickHouseQuote(*p->platform);
  // The network as the sink computes ip_net (store/session.cc IpNetwork):
  // the /24 of an IPv4 address, the /64 of an IPv6 one, else the IP itself.
  Result<Table> rows = ClickHouseTable(
      t,
      "SELECT if(isNull(ip) OR ip = '', NULL, "
      "if(match(assumeNotNull(ip), '^[0-9]{1,3}\\\\.[0-9]{1,3}\\\\.[0-9]{1,3}\\\\.[0-9]{1,3}$'), "
      "concat(IPv4NumToString(bitAnd(IPv4StringToNum(assumeNotNull(ip)), 4294967040)), '/24'), "
      "if(position(assumeNotNull(ip), ':') > 0 "
      "AND IPv6StringToNum(assumeNotNull(ip)) != toFixedString('', 16), "
      "concat(IPv6NumToString(toFixedString(concat(substring(IPv6StringToNum(assumeNotNull(ip)), "
      "1, 8), unhex('0000000000000000')), 16)), '/64'), ip))) AS network, "
      "ip, started_at, closed_at, last_event_at, user_agent, "
      "coalesce(opened_at, first_event_at) AS opened FROM " +
          from.value() + " WHERE " + where);
  if (!rows.ok()) return rows.status();
  std::vector<UserPlay> plays;
  for (const std::vector<Cell>& r : rows->rows) {
    if (r.size() < 7) return Status::Internal("ClickHouse sent a short row for the user's plays");
    UserPlay u;
    u.network = Text(r[0]);
    u.ip = Text(r[1]);
    u.started_at = Number(r[2]);
    u.closed_at = Number(r[3]);
    u.last_event_at = Number(r[4]);
    u.user_agent = Text(r[5]);
    u.opened_at = Number(r[6]);
    plays.push_back(std::move(u));
  }
  Result<Table> sharing = RunClickHouseReport(t, "sharing", p.value());
  if (!sharing.ok()) return sharing.status();
  return UserPageJson(*p->user, summary.value(), plays, sharing.value());
}

}  // namespace sink
