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
#include <optional>
#include <string>

#include "query/explorer.h"

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

// Reads from, to, platform, limit (1…1000, default 20).
// [{stalls report row}, …]: the stalls report's media rows ('media' scope),
// most stalled time first — the report without its (many) user rows.
Result<std::string> StallsByMediaJson(Db& db, const QueryParams& q);

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

}  // namespace sink
