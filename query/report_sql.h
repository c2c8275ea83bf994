// The query/sql/*.sql files, compiled in by query/embed_reports.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace sink {

struct ReportSqlFile {
  std::string_view name;  // file name without .sql
  std::string_view sql;
};

const std::vector<ReportSqlFile>& ReportSqlFiles();
// schemas/clickhouse/*.sql (the DDL `sessionsink clickhouse init` runs) and
// query/clickhouse/*.sql (the reports in ClickHouse SQL), in file-name order.
const std::vector<ReportSqlFile>& ClickHouseSchemaFiles();
const std::vector<ReportSqlFile>& ClickHouseReportFiles();

}  // namespace sink
