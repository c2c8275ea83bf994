// Golden report cases: events in, report tables out, as data
// (tests/golden_reports/<case>/).
//
// A case directory holds:
//   *.json / *.ndjson          request bodies, posted in file-name order
//   *.nginx                    nginx-rtmp callbacks, one per line (test_util.h)
//   *.sql                      optional: statements run on the database after
//                              the bodies, in file-name order (columns the
//                              Flussonic events cannot set: platform,
//                              end_class, raw_reason, queued_ms)
//   <report>[.<variant>].csv   the expected CSV of `sessionsink report <report>`
//   <report>[.<variant>].params  optional: its options, one key=value per line
//                              (from, to, now, media, user, server, platform,
//                              bucket, limit)
//   README.md                  what the case shows and how the answers were computed
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "query/report_command.h"
#include "store/clock.h"
#include "store/schema.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(SINK_SOURCE_DIR) / "tests" / "golden_reports";

struct Case {
  std::string dir;
  std::string expected;  // file name of the .csv
};

std::vector<Case> ListCases() {
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

ReportRequest ReadRequest(const fs::path& csv) {
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

std::string Normalize(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Posts every request body of `dir` into a database at `db_path`.
void Ingest(const fs::path& dir, const std::string& db_path) {
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

class GoldenReportTest : public ::testing::TestWithParam<Case> {};

TEST_P(GoldenReportTest, Matches) {
  const Case& c = GetParam();
  test::TempDir tmp;
  const std::string db = tmp.File("reports.db");
  Ingest(kDir / c.dir, db);
  ReportRequest r = ReadRequest(kDir / c.dir / c.expected);
  const std::string want = Normalize(test::ReadFile(kDir / c.dir / c.expected));
  // Both evaluations: the SQL file, and the native one (when the report has it).
  for (bool sql : {true, false}) {
    SCOPED_TRACE(sql ? "SQL file" : "native");
    r.sql = sql;
    Result<std::string> got = RunReportText(db, r);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(Normalize(got.value()), want);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenReportTest, ::testing::ValuesIn(ListCases()),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           std::string name = param.param.dir + "_" + param.param.expected;
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GoldenReportTest);

// --platform takes the platform names only: a typo is an error, not an
// empty report.
TEST(ReportOptionsTest, PlatformMustBeKnown) {
  ReportRequest r;
  r.name = "endings";
  for (const char* ok : {"flussonic", "streampixel", "gamelift", "zego", "nginx-rtmp"}) {
    r.platform = ok;
    Result<ReportParams> p = ToParams(r);
    ASSERT_TRUE(p.ok()) << ok;
    EXPECT_EQ(p->platform, std::optional<std::string>(ok));
  }
  for (const char* bad : {"gamelft", "GameLift", ""}) {
    r.platform = bad;
    Result<ReportParams> p = ToParams(r);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), Status::Code::kInvalid);
    EXPECT_NE(p.status().message().find("platform"), std::string::npos);
  }
}

// A file the sink has not upgraded yet gets a message, not "no such column".
TEST(ReportOptionsTest, OlderSchemaIsNamed) {
  test::TempDir tmp;
  const std::string path = tmp.File("v3.db");
  {
    Result<Db> db = Db::Open(path, true);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    for (const Migration& m : Migrations()) {
      if (m.version <= 3) ASSERT_OK(db->Exec(m.sql));
    }
    ASSERT_OK(db->Exec("PRAGMA user_version = 3"));
  }
  ReportRequest r;
  r.name = "live";
  Result<std::string> got = RunReportText(path, r);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("schema version 3"), std::string::npos)
      << got.status().ToString();
}

}  // namespace
}  // namespace sink
