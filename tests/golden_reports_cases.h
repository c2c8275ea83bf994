// The golden report cases (tests/golden_reports/<case>/, described in
// golden_reports_test.cc): listing them, reading their options and
// ingesting their bodies into a database. Shared by the SQLite and the
// ClickHouse runs of the cases.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "query/report_command.h"
#include "store/clock.h"
#include "store/schema.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink::golden {

namespace fs = std::filesystem;

inline const fs::path kDir = fs::path(SINK_SOURCE_DIR) / "tests" / "golden_reports";

struct Case {
  std::string dir;
  std::string expected;  // file name of the .csv
};

inline std::vector<Case> ListCases() {
  std::vector<Case> cases;
  if (!fs::exists(kDir)) return cases;
  for (const auto& d : fs::directory_iterator(kDir)) {
    if (!d.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(d.path())) {
      if (f.path().extension() == ".csv") {
        cases.push_back({d.path().filename().string(), f.path().filename().string()});
      }
    }
  }
  std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) {
    return a.dir != b.dir ? a.dir < b.dir : a.expected < b.expected;
  });
  return cases;
}

inline ReportRequest ReadRequest(const fs::path& csv) {
  ReportRequest r;
  const std::string stem = csv.stem().string();
  r.name = stem.substr(0, stem.find('.'));
  r.format = "csv";
  fs::path params = csv;
  params.replace_extension(".params");
  std::ifstream in(params);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "from") r.from = v;
    if (k == "to") r.to = v;
    if (k == "now") r.now = v;
    if (k == "media") r.media = v;
    if (k == "user") r.user = v;
    if (k == "server") r.server = v;
    if (k == "platform") r.platform = v;
    if (k == "bucket") r.bucket = v;
    if (k == "limit") r.limit = std::stoll(v);
  }
  return r;
}

inline std::string Normalize(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Posts every request body of `dir` into a database at `db_path`.
inline void Ingest(const fs::path& dir, const std::string& db_path) {
  FakeClock clock(1800000000000);
  WriterOptions o;
  o.db_path = db_path;
  o.session_timeout_ms = 1000ll * 86400 * 365 * 100;
  auto w = Writer::Open(o, &clock);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<fs::path> files;
  for (const auto& f : fs::directory_iterator(dir)) {
    const std::string ext = f.path().extension().string();
    if (ext == ".json" || ext == ".ndjson" || ext == ".nginx") files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  NginxRtmp nginx({}, 1);
  for (const fs::path& f : files) {
    if (f.extension() == ".nginx") {
      for (WriteBatch& b : test::NginxBatches(nginx, test::ReadNginxCallbacks(test::ReadFile(f)))) {
        ASSERT_TRUE(b.rejects.empty()) << f << ": " << b.rejects[0].reason;
        auto fut = w.value()->Submit(std::move(b));
        ASSERT_TRUE(fut.ok());
        ASSERT_TRUE(fut->get().ok());
      }
      continue;
    }
    Result<ParsedBody> parsed = test::Parse(test::ReadFile(f));
    ASSERT_TRUE(parsed.ok()) << f << ": " << parsed.status().ToString();
    WriteBatch b;
    b.received_at = clock.NowMs();
    b.events = std::move(parsed->events);
    b.rejects = std::move(parsed->rejects);
    auto fut = w.value()->Submit(std::move(b));
    ASSERT_TRUE(fut.ok());
    ASSERT_TRUE(fut->get().ok());
  }
  w.value()->Stop();
  std::vector<fs::path> scripts;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() == ".sql") scripts.push_back(f.path());
  }
  if (scripts.empty()) return;
  std::sort(scripts.begin(), scripts.end());
  Result<Db> db = Db::Open(db_path, false);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  for (const fs::path& f : scripts) {
    const Status st = db->Exec(test::ReadFile(f));
    ASSERT_TRUE(st.ok()) << f << ": " << st.ToString();
  }
}

}  // namespace sink::golden
