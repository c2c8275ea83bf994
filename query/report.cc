#include "query/report.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "query/report_sql.h"
#include "store/json_text.h"
#include "store/text.h"
#include "store/timeutil.h"

namespace sink {

namespace {

constexpr std::pair<std::string_view, std::string_view> kSummaries[] = {
    {"sessions-per-user",
     "play sessions, plays, watch time, bytes, media, IPs and stalls per user"},
    {"concurrency", "peak concurrent plays per time bucket (--bucket), in total and per media"},
    {"media",
     "per media: attempts, plays, users, watch hours, bytes, startup p50/p95, stall ratio, "
     "peak concurrency"},
    {"startup",
     "what became of play attempts (played/denied/failed/exited/probe); startup, queue/placement "
     "and connect time p50/p95/p99"},
    {"endings", "finished plays by platform, end class and raw reason: share, median duration"},
    {"durations", "finished plays by how long they played, in 13 buckets from 5 s to over 3 h"},
    {"stalls", "stall count, stalled time, stall ratio and plays with a stall, per media and user"},
    {"sharing", "users playing from different networks at once (--limit N: over N concurrent)"},
    {"sources", "publish/ingest sessions: uptime, stalls, viewers, viewers hit by stalls or close"},
    {"outages",
     "per stream (media and server): each time it was down, its cause, plays running then; "
     "count and downtime"},
    {"live", "sessions not finished, by kind, media and server, with age"},
    {"servers", "per sending server: events, duplicates, rejected, sessions, last event"},
};

}  // namespace

const std::vector<ReportInfo>& Reports() {
  static const std::vector<ReportInfo> kAll = [] {
    std::vector<ReportInfo> all;
    for (const auto& [name, summary] : kSummaries) {
      for (const ReportSqlFile& f : ReportSqlFiles()) {
        if (f.name == name) all.push_back(ReportInfo{name, summary, f.sql});
      }
    }
    return all;
  }();
  return kAll;
}

const ReportInfo* FindReport(std::string_view name) {
  for (const ReportInfo& r : Reports()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

void BindReportParams(Stmt& s, const ReportParams& p) {
  const int n = sqlite3_bind_parameter_count(s.get());
  for (int i = 1; i <= n; ++i) {
    const char* name = sqlite3_bind_parameter_name(s.get(), i);
    const std::string_view key = name != nullptr ? name : "";
    if (key == ":from") s.Bind(i, p.from);
    if (key == ":to") s.Bind(i, p.to);
    if (key == ":now") s.Bind(i, p.now);
    if (key == ":media") s.Bind(i, p.media);
    if (key == ":user") s.Bind(i, p.user);
    if (key == ":server") s.Bind(i, p.server);
    if (key == ":platform") s.Bind(i, p.platform);
    if (key == ":bucket_ms") s.Bind(i, p.bucket_ms);
    if (key == ":limit") s.Bind(i, p.limit);
  }
}

Result<Table> RunReport(Db& db, std::string_view name, const ReportParams& params) {
  const ReportInfo* info = FindReport(name);
  if (info == nullptr) {
    return Status::Invalid("unknown report '" + std::string(name) +
                           "' (sessionsink report --list shows them)");
  }
  Result<Stmt> stmt = db.Prepare(info->sql);
  if (!stmt.ok()) return stmt.status();
  Stmt& s = stmt.value();
  BindReportParams(s, params);
  Table t;
  for (int c = 0; c < s.ColumnCount(); ++c) t.columns.emplace_back(s.ColumnName(c));
  for (;;) {
    Result<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    std::vector<Cell> cells;
    cells.reserve(t.columns.size());
    for (int c = 0; c < s.ColumnCount(); ++c) {
      switch (sqlite3_column_type(s.get(), c)) {
        case SQLITE_NULL:
          cells.emplace_back(std::monostate{});
          break;
        case SQLITE_INTEGER:
          cells.emplace_back(s.Int(c));
          break;
        case SQLITE_FLOAT:
          cells.emplace_back(sqlite3_column_double(s.get(), c));
          break;
        default:
          cells.emplace_back(std::string(s.Text(c)));
      }
    }
    t.rows.push_back(std::move(cells));
  }
  return t;
}

Status CheckConcurrencySize(int64_t buckets, int64_t rows, int64_t bucket_ms) {
  if (buckets > kMaxReportBuckets) {
    return Status::Invalid("concurrency: " + std::to_string(buckets) + " buckets of " +
                           std::to_string(bucket_ms) + " ms exceed the limit of " +
                           std::to_string(kMaxReportBuckets) +
                           " per report: use a larger bucket or a shorter window");
  }
  if (rows > kMaxReportRows) {
    return Status::Invalid("concurrency: " + std::to_string(rows) +
                           " rows (buckets of each media) exceed the limit of " +
                           std::to_string(kMaxReportRows) +
                           " per report: use a larger bucket, a shorter window or --media");
  }
  return Status::Ok();
}

std::optional<Format> ParseFormat(std::string_view s) {
  if (s == "table") return Format::kTable;
  if (s == "csv") return Format::kCsv;
  if (s == "json") return Format::kJson;
  return std::nullopt;
}

namespace {

// Reals in their shortest round-trip form, always with a decimal point or
// exponent (80.0, 0.0434), as the sqlite3 shell prints them.
std::string NumberText(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, ec == std::errc() ? end : buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// Appends a cell's text (empty for NULL).
void AppendText(std::string* out, const Cell& c) {
  if (std::holds_alternative<int64_t>(c)) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::get<int64_t>(c));
    out->append(buf, ec == std::errc() ? end : buf);
  } else if (std::holds_alternative<double>(c)) {
    *out += NumberText(std::get<double>(c));
  } else if (std::holds_alternative<std::string>(c)) {
    *out += std::get<std::string>(c);
  }
}

std::string Text(const Cell& c) {
  std::string s;
  AppendText(&s, c);
  return s;
}

// RFC 4180: quoted only when it holds a comma, quote or line break.
void AppendCsv(std::string* out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

// A text cell a spreadsheet would take for a formula (OWASP's CSV injection
// rule: it starts with =, +, -, @, a tab or a carriage return) is written
// with a leading apostrophe, quoted: "'=1+1". Numbers are cells of their own
// type, so a negative number is never touched.
void AppendCsvText(std::string* out, std::string_view s) {
  if (!s.empty() && std::string_view("=+-@\t\r").find(s.front()) != std::string_view::npos) {
    out->append("\"'");
    for (char c : s) {
      if (c == '"') out->push_back('"');
      out->push_back(c);
    }
    out->push_back('"');
    return;
  }
  AppendCsv(out, s);
}

}  // namespace

std::string Render(const Table& t, Format f) {
  std::string out;
  switch (f) {
    case Format::kJson: {
      out = "[";
      for (size_t r = 0; r < t.rows.size(); ++r) {
        out += r ? ",\n {" : "\n {";
        for (size_t c = 0; c < t.columns.size(); ++c) {
          if (c) out += ',';
          AppendJsonString(&out, t.columns[c]);
          out += ':';
          const Cell& cell = t.rows[r][c];
          if (std::holds_alternative<std::monostate>(cell)) {
            out += "null";
          } else if (std::holds_alternative<std::string>(cell)) {
            AppendJsonString(&out, std::get<std::string>(cell));
          } else {
            AppendText(&out, cell);
          }
        }
        out += '}';
      }
      out += t.rows.empty() ? "]\n" : "\n]\n";
      return out;
    }
    case Format::kCsv: {
      for (size_t c = 0; c < t.columns.size(); ++c) {
        if (c) out += ',';
        AppendCsv(&out, t.columns[c]);
      }
      out += "\r\n";
      for (const auto& row : t.rows) {
        for (size_t c = 0; c < row.size(); ++c) {
          if (c) out += ',';
          if (std::holds_alternative<std::string>(row[c])) {
            AppendCsvText(&out, std::get<std::string>(row[c]));
          } else {
            AppendText(&out, row[c]);
          }
        }
        out += "\r\n";
      }
      return out;
    }
    case Format::kTable: {
      std::vector<size_t> width(t.columns.size());
      std::vector<bool> numeric(t.columns.size(), true);
      for (size_t c = 0; c < t.columns.size(); ++c) width[c] = t.columns[c].size();
      for (const auto& row : t.rows) {
        for (size_t c = 0; c < row.size(); ++c) {
          width[c] = std::max(width[c], Text(row[c]).size());
          if (std::holds_alternative<std::string>(row[c])) numeric[c] = false;
        }
      }
      auto line = [&](const std::vector<std::string>& cells) {
        for (size_t c = 0; c < cells.size(); ++c) {
          const std::string pad(width[c] - cells[c].size(), ' ');
          out += c ? "  " : "";
          out += numeric[c] ? pad + cells[c] : cells[c] + (c + 1 < cells.size() ? pad : "");
        }
        out += '\n';
      };
      line(t.columns);
      std::vector<std::string> rule;
      for (size_t w : width) rule.emplace_back(w, '-');
      line(rule);
      for (const auto& row : t.rows) {
        std::vector<std::string> cells;
        for (const Cell& c : row) cells.push_back(Text(c));
        line(cells);
      }
      if (t.rows.empty()) out += "(no rows)\n";
      return out;
    }
  }
  return out;
}

std::optional<int64_t> ParseReportTime(std::string_view s) {
  if (const std::optional<int64_t> ms = WholeInt64(s)) return ms;  // epoch ms
  return ParseIso8601(s);
}

}  // namespace sink
