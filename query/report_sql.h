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

}  // namespace sink
