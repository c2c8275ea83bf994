// Reports: the operator's standard questions, answered by the SQL files in
// query/sql/ (compiled into the binary, and copyable into sqlite3 as they are).
//
// Each report is one named query with the parameters :from, :to (half-open
// window, ms), :now, :media, :user, :server, :platform, :bucket_ms and
// :limit; an unset parameter is bound as NULL and the SQL picks the default.
// They read schema version 4 (sessions.platform, end_class, queued_ms, …).
// RunReport() is reentrant; it needs its own (read-only) connection per thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/platform.h"
#include "store/sqlite.h"
#include "store/status.h"

namespace sink {

struct ReportInfo {
  std::string_view name;     // e.g. "sessions-per-user"
  std::string_view summary;  // one line, for --list
  std::string_view sql;      // the query/sql/<name>.sql text
};

// All reports, in the order `report --list` shows them.
const std::vector<ReportInfo>& Reports();
const ReportInfo* FindReport(std::string_view name);

// Buckets one concurrency report may span: (end − start of the window, or of
// the data's range when open-ended) ÷ bucket. More: kInvalid (HTTP 400),
// naming the limit. 100,000 is 69 days of 1-minute buckets, 11 years of hours.
inline constexpr int64_t kMaxReportBuckets = 100000;
// Rows one concurrency report may have: the total's buckets and each
// media's. More: kInvalid. About 100 MB of memory at most while answering.
inline constexpr int64_t kMaxReportRows = 500000;
// The largest --limit (sharing): more plays at once than any real user has.
inline constexpr int64_t kMaxReportLimit = 1000000000;
// kInvalid, naming the limit, when a concurrency report of `buckets` (the
// total's) and `rows` (with each media's) buckets of `bucket_ms` is too big.
Status CheckConcurrencySize(int64_t buckets, int64_t rows, int64_t bucket_ms);
// Buckets of `bucket_ms` from the one holding `lo` to the one holding the
// instant before `hi` (at least 1), as the concurrency SQL makes them. Wide:
// the window may span all of int64.
inline __int128 BucketCount(__int128 lo, __int128 hi, int64_t bucket_ms) {
  const __int128 first = (lo / bucket_ms) * bucket_ms;
  return std::max<__int128>(1, (hi - first + bucket_ms - 1) / bucket_ms);
}
// Report times (--from, --to, --now) must lie in [0, this): year 10000.
inline constexpr int64_t kMaxReportTimeMs = 253402300800000;

struct ReportParams {
  std::optional<int64_t> from, to, now;  // ms since the epoch
  std::optional<std::string> media, user, server;
  std::optional<std::string> platform;  // one of kPlatformNames (store/platform.h)
  std::optional<int64_t> bucket_ms;
  std::optional<int64_t> limit;
};

// Binds every named parameter of `s` that ReportParams defines (:from, :to,
// :now, :media, :user, :server, :platform, :bucket_ms, :limit); an absent
// value, and any other parameter, stays NULL.
void BindReportParams(Stmt& s, const ReportParams& p);

using Cell = std::variant<std::monostate, int64_t, double, std::string>;

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

// Runs report `name` on `db`. kInvalid for an unknown report.
Result<Table> RunReport(Db& db, std::string_view name, const ReportParams& params);

// Output formats. Table: aligned columns for a terminal; CSV: RFC 4180 with
// a header line; JSON: an array of objects, one per row.
enum class Format { kTable, kCsv, kJson };
std::optional<Format> ParseFormat(std::string_view s);
std::string Render(const Table& t, Format f);

// "ISO-8601 or epoch ms" for --from/--to/--now.
std::optional<int64_t> ParseReportTime(std::string_view s);

}  // namespace sink
