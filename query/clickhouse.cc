#include "query/clickhouse.h"

#include <httplib.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "query/report_sql.h"

namespace sink {

namespace {

// Statements can take a while on a large table (reports) or a busy server
// (DDL waits for the table lock).
constexpr int kReadTimeoutS = 300;
// How long `clickhouse init` waits for a server that does not answer yet.
constexpr int kStartWaitMs = 30000;

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// A ClickHouse string literal.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s->find(from, pos)) != std::string::npos; pos += to.size()) {
    s->replace(pos, from.size(), to);
  }
}

// The SQL without its leading comment lines (ClickHouse 18.16's HTTP
// interface takes them, but error messages then quote the comments).
std::string WithoutComments(std::string_view sql) {
  std::string out;
  size_t pos = 0;
  while (pos < sql.size()) {
    size_t end = sql.find('\n', pos);
    if (end == std::string_view::npos) end = sql.size();
    std::string_view line = sql.substr(pos, end - pos);
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line.substr(first, 2) != "--") {
      out.append(line).append("\n");
    }
    pos = end + 1;
  }
  return out;
}

const ReportSqlFile* FindClickHouseReport(std::string_view name) {
  for (const ReportSqlFile& f : ClickHouseReportFiles()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Result<int64_t> QueryCount(const ClickHouseTarget& t, const std::string& sql) {
  Result<std::string> r = ClickHouseQuery(t, sql);
  if (!r.ok()) return r.status();
  try {
    return std::stoll(r.value());
  } catch (...) {
    return Status::Internal("ClickHouse answered '" + r.value() + "' to " + sql);
  }
}

// The type of a result column, as a Cell alternative.
enum class ColType { kInt, kFloat, kString, kNull };

ColType TypeOf(std::string_view type) {
  for (std::string_view wrap : {"Nullable(", "LowCardinality("}) {
    if (type.substr(0, wrap.size()) == wrap) type = type.substr(wrap.size());
  }
  if (type.substr(0, 3) == "Int" || type.substr(0, 4) == "UInt") return ColType::kInt;
  if (type.substr(0, 5) == "Float" || type.substr(0, 7) == "Decimal") return ColType::kFloat;
  if (type.substr(0, 7) == "Nothing") return ColType::kNull;
  return ColType::kString;
}

Result<Table> ParseJsonCompact(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) {
    return Status::Internal("ClickHouse sent a report that is not JSON: " + body.substr(0, 200));
  }
  Table t;
  std::vector<ColType> types;
  simdjson::dom::array meta, data;
  if (doc["meta"].get(meta) != simdjson::SUCCESS || doc["data"].get(data) != simdjson::SUCCESS) {
    return Status::Internal("ClickHouse's JSONCompact has no meta or data");
  }
  for (simdjson::dom::element m : meta) {
    std::string_view name, type;
    if (m["name"].get(name) != simdjson::SUCCESS || m["type"].get(type) != simdjson::SUCCESS) {
      return Status::Internal("ClickHouse's JSONCompact meta without name or type");
    }
    t.columns.emplace_back(name);
    types.push_back(TypeOf(type));
  }
  for (simdjson::dom::element row : data) {
    std::vector<Cell> cells;
    size_t i = 0;
    for (simdjson::dom::element v : row.get_array()) {
      const ColType ct = i < types.size() ? types[i] : ColType::kString;
      ++i;
      if (v.is_null() || ct == ColType::kNull) {
        cells.emplace_back(std::monostate{});
      } else if (ct == ColType::kInt) {
        int64_t n = 0;
        uint64_t u = 0;
        double d = 0;
        std::string_view s;
        if (v.get(n) == simdjson::SUCCESS) {
          cells.emplace_back(n);
        } else if (v.get(u) == simdjson::SUCCESS) {
          cells.emplace_back(static_cast<int64_t>(u));
        } else if (v.get(s) == simdjson::SUCCESS) {  // a quoted 64-bit integer
          cells.emplace_back(static_cast<int64_t>(std::stoll(std::string(s))));
        } else if (v.get(d) == simdjson::SUCCESS) {
          cells.emplace_back(static_cast<int64_t>(d));
        } else {
          return Status::Internal("ClickHouse sent a non-number for an integer column");
        }
      } else if (ct == ColType::kFloat) {
        double d = 0;
        std::string_view s;
        if (v.get(d) == simdjson::SUCCESS) {
          cells.emplace_back(d);
        } else if (v.get(s) == simdjson::SUCCESS) {  // nan, inf
          cells.emplace_back(std::monostate{});
        } else {
          return Status::Internal("ClickHouse sent a non-number for a float column");
        }
      } else {
        std::string_view s;
        if (v.get(s) == simdjson::SUCCESS) {
          cells.emplace_back(std::string(s));
        } else {
          cells.emplace_back(simdjson::minify(v));
        }
      }
    }
    t.rows.push_back(std::move(cells));
  }
  return t;
}

}  // namespace

Result<std::string> ClickHouseQuery(const ClickHouseTarget& t, const std::string& sql) {
  if (t.url.rfind("http://", 0) != 0 && t.url.rfind("https://", 0) != 0) {
    return Status::Invalid("ClickHouse URL: expected http://HOST:PORT, got '" + t.url + "'");
  }
  std::string base = t.url;
  std::string path = "/";
  const size_t slash = base.find('/', base.find("://") + 3);
  if (slash != std::string::npos) {
    path = base.substr(slash);
    base.resize(slash);
  }
  httplib::Client cli(base);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(kReadTimeoutS);
  // 64-bit integers as JSON numbers, whatever the server's profile says.
  const std::string target =
      path + (path.find('?') == std::string::npos ? "?" : "&") +
      "output_format_json_quote_64bit_integers=0&output_format_json_quote_denormals=0";
  httplib::Result res = cli.Post(target, sql, "text/plain; charset=utf-8");
  if (!res) {
    return Status::IoError("cannot reach ClickHouse at " + t.url + ": " +
                           httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    std::string msg = res->body;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Status::Invalid("ClickHouse at " + t.url + " (HTTP " + std::to_string(res->status) +
                           "): " + msg);
  }
  return res->body;
}

Result<Table> ClickHouseTable(const ClickHouseTarget& t, const std::string& sql) {
  Result<std::string> body = ClickHouseQuery(t, sql + "\nFORMAT JSONCompact");
  if (!body.ok()) return body.status();
  return ParseJsonCompact(body.value());
}

std::string ClickHouseQuote(std::string_view s) { return Quote(s); }

Result<std::string> ClickHouseInit(const ClickHouseInitOptions& o) {
  const ClickHouseTarget& t = o.target;
  if (!IsIdentifier(t.database)) {
    return Status::Invalid("database: expected a name of letters, digits and _, got '" +
                           t.database + "'");
  }
  if (!IsIdentifier(o.group)) {
    return Status::Invalid("group: expected a name of letters, digits and _, got '" + o.group +
                           "'");
  }
  for (const auto& [what, v] :
       {std::pair<const char*, const std::string*>{"kafka-brokers", &o.brokers},
        {"sessions topic", &o.sessions_topic},
        {"events topic", &o.events_topic}}) {
    if (v->empty() || v->find_first_of("'\\ \n") != std::string::npos) {
      return Status::Invalid(std::string(what) + ": expected a non-empty value without quotes, " +
                             "backslashes or spaces, got '" + *v + "'");
    }
  }
  auto fill = [&](std::string sql) {
    ReplaceAll(&sql, "{database}", t.database);
    ReplaceAll(&sql, "{brokers}", o.brokers);
    ReplaceAll(&sql, "{sessions_topic}", o.sessions_topic);
    ReplaceAll(&sql, "{events_topic}", o.events_topic);
    ReplaceAll(&sql, "{group}", o.group);
    return WithoutComments(sql);
  };
  // The server answers (a server started a moment ago gets up to
  // kStartWaitMs to listen).
  Result<std::string> version = ClickHouseQuery(t, "SELECT version()");
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartWaitMs);
  while (!version.ok() && version.status().code() == Status::Code::kIoError &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    version = ClickHouseQuery(t, "SELECT version()");
  }
  if (!version.ok()) return version.status();
  std::string v = version.value();
  while (!v.empty() && v.back() == '\n') v.pop_back();
  std::string out = "ClickHouse " + v + " at " + t.url + "\n";
  ClickHouseTarget sys = t;
  for (const ReportSqlFile& f : ClickHouseSchemaFiles()) {
    const std::string_view name = f.name.substr(f.name.find('_') + 1);  // 10_sessions_queue
    const bool database = name == "database";
    const std::string full = database ? t.database : t.database + "." + std::string(name);
    const std::string what = database ? "database " + full : "table " + full;
    Result<int64_t> exists =
        database ? QueryCount(sys, "SELECT count() FROM system.databases WHERE name = " +
                                       Quote(t.database))
                 : QueryCount(sys, "SELECT count() FROM system.tables WHERE database = " +
                                       Quote(t.database) + " AND name = " + Quote(name));
    if (!exists.ok()) return exists.status();
    const bool queue = name.size() > 6 && name.substr(name.size() - 6) == "_queue";
    if (exists.value() > 0 && queue) {
      // Same brokers and topic? (a restarted dev-kafka has new ports)
      const std::string topic = name == "sessions_queue" ? o.sessions_topic : o.events_topic;
      Result<int64_t> same = QueryCount(
          sys, "SELECT count() FROM system.tables WHERE database = " + Quote(t.database) +
                   " AND name = " + Quote(name) + " AND position(engine_full, " +
                   Quote("kafka_broker_list = '" + o.brokers + "'") +
                   ") > 0 AND position(engine_full, " +
                   Quote("kafka_topic_list = '" + topic + "'") + ") > 0");
      if (!same.ok()) return same.status();
      if (same.value() == 0) {
        const std::string mv = full.substr(0, full.size() - 6) + "_mv";
        Result<std::string> d1 = ClickHouseQuery(t, "DROP TABLE IF EXISTS " + mv);
        if (!d1.ok()) return d1.status();
        Result<std::string> d2 = ClickHouseQuery(t, "DROP TABLE IF EXISTS " + full);
        if (!d2.ok()) return d2.status();
        Result<std::string> c = ClickHouseQuery(t, fill(std::string(f.sql)));
        if (!c.ok()) return c.status();
        out += "replaced " + what + " (now brokers " + o.brokers + ", topic " + topic + ")\n";
        continue;
      }
    }
    if (exists.value() > 0) {
      out += "exists " + what + "\n";
      continue;
    }
    Result<std::string> c = ClickHouseQuery(t, fill(std::string(f.sql)));
    if (!c.ok()) return c.status();
    out += "created " + what + "\n";
  }
  return out;
}

Result<std::string> ClickHouseReportSql(const ClickHouseTarget& t, std::string_view name,
                                        const ReportParams& p) {
  const ReportSqlFile* f = FindClickHouseReport(name);
  if (f == nullptr) {
    return Status::Invalid("report '" + std::string(name) +
                           "' has no ClickHouse SQL; on ClickHouse: " + ClickHouseReportNames());
  }
  if (!IsIdentifier(t.database)) {
    return Status::Invalid("database: expected a name of letters, digits and _, got '" +
                           t.database + "'");
  }
  const int64_t now = p.now.value_or(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  std::string filters = "1";
  auto add = [&](const char* col, const std::optional<std::string>& v) {
    if (v) filters += std::string(" AND ifNull(") + col + " = " + Quote(*v) + ", 0)";
  };
  add("media", p.media);
  add("user_id", p.user);
  add("server", p.server);
  add("platform", p.platform);
  std::string sql = WithoutComments(f->sql);
  ReplaceAll(&sql, "{db}", t.database);
  ReplaceAll(&sql, "{filters}", "(" + filters + ")");
  // Int64 literals: ClickHouse types a bare 1800000000000 as UInt64, which
  // has no common type with the Int64 columns.
  auto int64 = [](int64_t v) { return "toInt64(" + std::to_string(v) + ")"; };
  ReplaceAll(&sql, "{from}", int64(p.from.value_or(-9223372036854775807)));
  ReplaceAll(&sql, "{to}", int64(p.to.value_or(9223372036854775807)));
  ReplaceAll(&sql, "{from_given}", p.from ? "1" : "0");
  ReplaceAll(&sql, "{to_given}", p.to ? "1" : "0");
  ReplaceAll(&sql, "{now}", int64(now));
  ReplaceAll(&sql, "{bucket_ms}", int64(p.bucket_ms.value_or(60000)));
  ReplaceAll(&sql, "{limit}", int64(p.limit.value_or(-1)));
  ReplaceAll(&sql, "{has_limit}", p.limit ? "1" : "0");
  while (!sql.empty() && (sql.back() == '\n' || sql.back() == ';' || sql.back() == ' ')) {
    sql.pop_back();
  }
  return sql;
}

Result<Table> RunClickHouseReport(const ClickHouseTarget& t, std::string_view name,
                                  const ReportParams& p) {
  Result<std::string> sql = ClickHouseReportSql(t, name, p);
  if (!sql.ok()) return sql.status();
  Result<std::string> body = ClickHouseQuery(t, sql.value() + "\nFORMAT JSONCompact");
  if (!body.ok() && name == "concurrency" &&
      body.status().message().find("throwIf") != std::string::npos) {
    // The SQL's bucket limit (kMaxReportBuckets), said as on SQLite.
    const int64_t w = p.bucket_ms.value_or(60000);
    return Status::Invalid("concurrency: more than " + std::to_string(kMaxReportBuckets) +
                           " buckets (or " + std::to_string(kMaxReportRows) +
                           " for one media) of " + std::to_string(w) +
                           " ms: use a larger bucket or a shorter window");
  }
  if (!body.ok()) return body.status();
  return ParseJsonCompact(body.value());
}

Result<std::string> RunClickHouseReportText(const ClickHouseTarget& t, const ReportRequest& r) {
  std::optional<Format> format = ParseFormat(r.format);
  if (!format) {
    return Status::Invalid("format: expected table, csv or json, got '" + r.format + "'");
  }
  if (FindReport(r.name) == nullptr && FindClickHouseReport(r.name) == nullptr) {
    return Status::Invalid("unknown report '" + r.name +
                           "'; on ClickHouse: " + ClickHouseReportNames());
  }
  Result<ReportParams> params = ToParams(r);
  if (!params.ok()) return params.status();
  Result<Table> table = RunClickHouseReport(t, r.name, params.value());
  if (!table.ok()) return table.status();
  return Render(table.value(), *format);
}

bool HasClickHouseReport(std::string_view name) { return FindClickHouseReport(name) != nullptr; }

std::string ClickHouseReportNames() {
  std::string names;
  for (const ReportSqlFile& f : ClickHouseReportFiles()) {
    names += (names.empty() ? "" : ", ") + std::string(f.name);
  }
  return names;
}

}  // namespace sink
