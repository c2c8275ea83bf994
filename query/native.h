// Native evaluation of the reports whose SQL needs sorts and window
// functions over every play (SQLite takes seconds for those at a million
// sessions). Each function computes exactly what query/sql/<name>.sql
// defines — same columns, same rules, same rounding (SQLite's round()) —
// from one narrow table scan. The golden report cases run both the SQL and
// these, and a test compares them on generated data; the SQL file stays the
// definition users copy into sqlite3.
#pragma once

#include <string_view>

#include "query/report.h"

namespace sink {

// True when `name` has a native implementation.
bool HasNativeReport(std::string_view name);

// REQUIRES: HasNativeReport(name).
Result<Table> RunNativeReport(Db& db, std::string_view name, const ReportParams& params);

}  // namespace sink
