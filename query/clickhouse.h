// ClickHouse: the fleet-wide side of the reports.
//
// Several sinks publish their sessions (and, with --kafka-topic-clickhouse,
// an envelope of every event) to Kafka; ClickHouse consumes both topics
// through Kafka engine tables into ReplacingMergeTree tables
// (schemas/clickhouse/). `sessionsink clickhouse init` creates that over
// ClickHouse's HTTP interface; `sessionsink report NAME --clickhouse URL`
// runs the ClickHouse SQL of a report (query/clickhouse/NAME.sql) with the
// same parameters, columns and formats as the SQLite report.
//
// Every function here is reentrant: each call opens its own HTTP client.
#pragma once

#include <string>

#include "query/report.h"
#include "query/report_command.h"
#include "store/status.h"

namespace sink {

struct ClickHouseTarget {
  std::string url;  // http://HOST:8123
  std::string database = "sessionsink";
};

// Runs one statement over HTTP (POST, the statement as the body) and returns
// the response body. kIoError when ClickHouse cannot be reached; kInvalid
// with ClickHouse's message when it refuses the statement.
Result<std::string> ClickHouseQuery(const ClickHouseTarget& t, const std::string& sql);

// Runs a SELECT (without a FORMAT clause) and returns its rows, typed by
// ClickHouse's column types, as RunClickHouseReport() does.
Result<Table> ClickHouseTable(const ClickHouseTarget& t, const std::string& sql);

// `s` as a ClickHouse string literal ('…', quotes and backslashes escaped).
std::string ClickHouseQuote(std::string_view s);

struct ClickHouseInitOptions {
  ClickHouseTarget target;
  std::string brokers;  // bootstrap servers, as ClickHouse reaches them
  std::string sessions_topic = "sessionsink.sessions";
  std::string events_topic = "sessionsink.events.ch";  // the envelopes, not the raw events
  std::string group = "sessionsink_clickhouse";        // consumer group name prefix
};

// Creates the database, the tables, the Kafka engine tables and their
// materialized views (schemas/clickhouse/*.sql) where they do not exist
// yet. Kafka tables that exist with other brokers or topics are replaced
// (with their views; the data tables stay). Returns one line per object:
// "created …", "exists …" or "replaced …". Idempotent. Waits up to 30 s
// for a server that cannot be reached yet (one just started).
Result<std::string> ClickHouseInit(const ClickHouseInitOptions& o);

// The SQL of a report with its parameters filled in, as sent to ClickHouse
// (without the FORMAT clause). kInvalid for a report that has no
// ClickHouse SQL.
Result<std::string> ClickHouseReportSql(const ClickHouseTarget& t, std::string_view name,
                                        const ReportParams& p);

// Runs a report on ClickHouse and returns its table (the same columns, in
// the same order, with the same types as the SQLite report).
Result<Table> RunClickHouseReport(const ClickHouseTarget& t, std::string_view name,
                                  const ReportParams& p);

// `sessionsink report NAME --clickhouse URL`: validates the request like
// RunReportText(), runs it on ClickHouse and renders it.
Result<std::string> RunClickHouseReportText(const ClickHouseTarget& t, const ReportRequest& r);

// Whether query/clickhouse/ has report `name`.
bool HasClickHouseReport(std::string_view name);

// The reports ClickHouse can run, comma-separated (query/clickhouse/).
std::string ClickHouseReportNames();

}  // namespace sink
