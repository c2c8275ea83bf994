// The dashboard's data API answered from ClickHouse (`serve --reports-from
// URL`): the same JSON as query/dashboard.h and query/explorer.h, computed
// over the fleet's tables (schemas/clickhouse/) instead of the local file.
//
//   live sessions          ClickHouseLiveJson         (/api/now's "live")
//   one concurrency series ClickHouseConcurrencyJson  (/api/concurrency)
//   stalls by media        ClickHouseStallsByMediaJson (/api/stalls)
//   the sessions explorer  ClickHouseListSessionsJson (/api/sessions)
//   users, one user        ClickHouseUsersJson, ClickHouseUserJson
//
// Where a report defines the numbers, the answer is that report's ClickHouse
// SQL (query/clickhouse/), narrowed as on SQLite. Differences: the explorer
// breaks ties of its sort key by session id (ClickHouse has no arrival
// order), and the user's networks are derived from the IP as the sharing
// report derives them. A session's timeline (/api/session) and the ingest
// figures of /api/now are this sink's own: see kFleetLocalOnly.
//
// Reentrant: every call opens its own HTTP client.
#pragma once

#include <optional>
#include <string>

#include "query/clickhouse.h"
#include "query/explorer.h"

namespace sink {

// What the dashboard still reads from this sink alone when pointed at
// ClickHouse, as a JSON array of {"panel","why"} objects for /api/now.
extern const char* const kFleetLocalOnly;

Result<std::string> ClickHouseLiveJson(const ClickHouseTarget& t,
                                       const std::optional<std::string>& platform);
Result<std::string> ClickHouseConcurrencyJson(const ClickHouseTarget& t, const QueryParams& q);
Result<std::string> ClickHouseStallsByMediaJson(const ClickHouseTarget& t, const QueryParams& q);
Result<std::string> ClickHouseListSessionsJson(const ClickHouseTarget& t, const ExplorerQuery& q);
Result<std::string> ClickHouseUsersJson(const ClickHouseTarget& t, const QueryParams& q);
Result<std::string> ClickHouseUserJson(const ClickHouseTarget& t, const QueryParams& q);

}  // namespace sink
