#include "query/report_command.h"

#include <algorithm>
#include <charconv>
#include <iterator>

#include "query/native.h"
#include "store/timeutil.h"

namespace sink {

namespace {

// The oldest schema the report SQL runs on (schemas/sql/004_platforms.sql).
constexpr int64_t kReportSchemaVersion = 4;

}  // namespace

Result<ReportParams> ToParams(const ReportRequest& r) {
  ReportParams p;
  auto time = [](const char* what, const std::optional<std::string>& in,
                 std::optional<int64_t>* out) -> Status {
    if (!in) return Status::Ok();
    *out = ParseReportTime(*in);
    if (!*out) {
      return Status::Invalid(std::string(what) + ": expected ISO-8601 (2026-11-23T10:00:00Z) or " +
                             "epoch milliseconds, got '" + *in + "'");
    }
    return Status::Ok();
  };
  SINK_RETURN_IF_ERROR(time("from", r.from, &p.from));
  SINK_RETURN_IF_ERROR(time("to", r.to, &p.to));
  SINK_RETURN_IF_ERROR(time("now", r.now, &p.now));
  if (p.from && p.to && *p.from >= *p.to) {
    return Status::Invalid("from must be earlier than to (the window is [from, to))");
  }
  if (r.bucket) {
    p.bucket_ms = ParseDuration(*r.bucket, /*bare_unit_ms=*/1);  // a bare number is ms
    if (!p.bucket_ms || *p.bucket_ms < 1) {
      return Status::Invalid("bucket: expected a duration such as 1m, 5m or 1h, got '" + *r.bucket +
                             "'");
    }
  }
  if (r.limit && *r.limit < 0) return Status::Invalid("limit must be 0 or more");
  p.limit = r.limit;
  p.media = r.media;
  p.user = r.user;
  p.server = r.server;
  if (r.platform) {
    if (std::find(std::begin(kPlatforms), std::end(kPlatforms), *r.platform) ==
        std::end(kPlatforms)) {
      std::string names;
      for (std::string_view n : kPlatforms) names += (names.empty() ? "" : ", ") + std::string(n);
      return Status::Invalid("platform: expected one of " + names + ", got '" + *r.platform + "'");
    }
    p.platform = r.platform;
  }
  return p;
}

Result<std::string> RunReportText(const std::string& db_path, const ReportRequest& r) {
  if (FindReport(r.name) == nullptr) {
    return Status::Invalid("unknown report '" + r.name + "'; available: " + [] {
      std::string names;
      for (const ReportInfo& i : Reports()) {
        names += (names.empty() ? "" : ", ") + std::string(i.name);
      }
      return names;
    }());
  }
  std::optional<Format> format = ParseFormat(r.format);
  if (!format)
    return Status::Invalid("format: expected table, csv or json, got '" + r.format + "'");
  Result<ReportParams> params = ToParams(r);
  if (!params.ok()) return params.status();
  Result<Db> db = Db::Open(db_path, false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  SINK_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout=5000"));
  // The reports read the columns of schema version 4 (platform, end_class, …).
  // A read-only report does not upgrade a file; the sink does when it opens it.
  Result<int64_t> version = db->QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  // outages reads the stream-level events through their index (schema 7).
  const int64_t needed = r.name == "outages" ? 7 : kReportSchemaVersion;
  if (version.value() < needed) {
    return Status::IoError(
        "database schema version " + std::to_string(version.value()) + " is older than the " +
        (needed == kReportSchemaVersion ? std::string("reports need") : r.name + " report needs") +
        " (" + std::to_string(needed) + "): let sessionsink serve open it once to upgrade it");
  }
  Result<Table> t = !r.sql && HasNativeReport(r.name)
                        ? RunNativeReport(db.value(), r.name, params.value())
                        : RunReport(db.value(), r.name, params.value());
  if (!t.ok()) return t.status();
  return Render(t.value(), *format);
}

std::string ReportList() {
  size_t width = 0;
  for (const ReportInfo& i : Reports()) width = std::max(width, i.name.size());
  std::string out;
  for (const ReportInfo& i : Reports()) {
    out += std::string(i.name) + std::string(width + 2 - i.name.size(), ' ') +
           std::string(i.summary) + "\n";
  }
  return out;
}

}  // namespace sink
