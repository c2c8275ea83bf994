// The dashboard's own answers that no report gives as such: live sessions by
// kind, platform and state; one concurrency series; the users matching a
// search; one user's page. JSON text for GET /api/live, /api/concurrency,
// /api/users and /api/user (server/dashboard_routes.cc).
//
// Each function takes a read-only connection owned by the caller and runs
// one or two scans of `sessions`. Where a report defines the numbers
// (concurrency, sessions-per-user, sharing) the answer is that report's
// native evaluation, narrowed: the same definitions as the CLI's.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "query/explorer.h"
#include "query/report.h"

namespace sink {

// [{"kind","platform","state","sessions"}, …]: every session not finished,
// counted by kind, platform and state (establishing, running, stalling).
Result<std::string> LiveJson(Db& db, const std::optional<std::string>& platform);

// The most points one concurrency series has; a window too long for its
// bucket is refused (kInvalid) rather than drawn as a wall of points.
inline constexpr int64_t kMaxConcurrencyPoints = 5000;

// Reads from, to (required), bucket (a duration; default: the window / 240,
// rounded up to 1m, 5m, 15m, 1h, 6h or 1d), media, platform, now.
// {"bucket_ms":N, "media":…|null, "t":[bucket starts…], "peak":[…]}: the
// concurrency report's total ('*'), or the series of one media.
Result<std::string> ConcurrencyJson(Db& db, const QueryParams& q);

// Runs a report: the local file's native evaluation, or ClickHouse's SQL
// (query/clickhouse_dashboard.h). The same answers from either.
using ReportRunner = std::function<Result<Table>(std::string_view name, const ReportParams& p)>;
Result<std::string> ConcurrencyJson(const ReportRunner& run, const QueryParams& q);

// Reads from, to, platform, limit (1…1000, default 20).
// [{stalls report row}, …]: the stalls report's media rows ('media' scope),
// most stalled time first — the report without its (many) user rows.
Result<std::string> StallsByMediaJson(Db& db, const QueryParams& q);
Result<std::string> StallsByMediaJson(const ReportRunner& run, const QueryParams& q);

// Reads q (a user id prefix; may be empty), from, to, platform, limit
// (1…100, default 20). [{"user_id","sessions","last_event_at"}, …]: users
// with play sessions in the window whose id starts with q, most sessions
// first.
Result<std::string> UsersJson(Db& db, const QueryParams& q);

// Reads id (required), from, to, platform.
// {"user":…, "summary":{sessions-per-user row}|null,
//  "networks":[{"network","sessions","plays","watch_ms","ips","first_at","last_at"}],
//  "user_agents":[{"user_agent","sessions"}],
//  "sharing":{sharing row}|null}
// over the user's play sessions in the window.
Result<std::string> UserJson(Db& db, const QueryParams& q);

// The parts of UserJson, for another store (ClickHouse): the report
// parameters of the user's page (kInvalid without an id), and the page
// assembled from the sessions-per-user and sharing reports and the user's
// play sessions in the window.
Result<ReportParams> UserParams(const QueryParams& q);
struct UserPlay {
  std::optional<std::string> network, ip, user_agent;
  std::optional<int64_t> started_at, closed_at, last_event_at;
  std::optional<int64_t> opened_at;  // COALESCE(opened_at, first_event_at)
};
std::string UserPageJson(const std::string& user, const Table& summary,
                         const std::vector<UserPlay>& plays, const Table& sharing);

// [{row}, …]: the rows of `t` as JSON objects (column names as keys),
// separated by `separator`, and a newline.
std::string TableRowsJson(const Table& t, std::string_view separator = ",\n");

// The `limit` parameter of a dashboard answer: default `def`, 1 … `max`.
Result<int64_t> DashboardLimit(const QueryParams& q, int64_t def, int64_t max);

}  // namespace sink
