// `sessionsink report`: runs a report against a database file and prints it.
#pragma once

#include <optional>
#include <string>

#include "query/report.h"

namespace sink {

// The report options as typed on the command line or in a URL query.
struct ReportRequest {
  std::string name;
  std::optional<std::string> from, to, now;  // ISO-8601 or epoch ms
  std::optional<std::string> media, user, server;
  std::optional<std::string> platform;  // flussonic, streampixel, gamelift, zego or nginx-rtmp
  std::optional<std::string> bucket;    // duration: 1m, 5m, 1h, …
  std::optional<int64_t> limit;
  std::string format = "table";
  // Run the SQL file even where a native evaluation exists (same answer, slower).
  bool sql = false;
};

// Validates and converts; kInvalid with a message naming the bad option.
Result<ReportParams> ToParams(const ReportRequest& r);

// Opens `db_path` read-only, runs the report, returns the rendered text.
Result<std::string> RunReportText(const std::string& db_path, const ReportRequest& r);

// `report --list`: one line per report.
std::string ReportList();

}  // namespace sink
