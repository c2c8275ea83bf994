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
#include "tests/golden_reports_cases.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using namespace golden;  // NOLINT

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
