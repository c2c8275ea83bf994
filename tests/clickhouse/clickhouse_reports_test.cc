// The golden report cases on ClickHouse: each case's bodies go through a
// sink's writer into SQLite as in golden_reports_test.cc, its session rows
// (the sessions topic's JSON, store/session_table.h) are loaded into the
// ClickHouse tables of schemas/clickhouse/, and `report NAME --clickhouse`
// must print the expected CSV, row for row. Every row is loaded twice with
// an older copy in between, as a redelivering Kafka consumer would: the
// reports see each session once. Runs a real clickhouse-server (18.16 from
// Debian in CI).
#include <set>

#include "query/clickhouse.h"
#include "query/report_sql.h"
#include "store/session_table.h"
#include "tests/clickhouse/clickhouse_server.h"
#include "tests/golden_reports_cases.h"

namespace sink {
namespace {

using namespace golden;  // NOLINT

test::ClickHouseServer* server = nullptr;
test::TempDir* server_dir = nullptr;

class ClickHouseEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    server_dir = new test::TempDir();
    server = new test::ClickHouseServer();
    ASSERT_TRUE(server->Start(server_dir->path())) << server->error();
  }
  void TearDown() override {
    delete server;
    delete server_dir;
  }
};
const auto* const env = ::testing::AddGlobalTestEnvironment(new ClickHouseEnv);

bool HasClickHouseSql(const std::string& report) {
  for (const ReportSqlFile& f : ClickHouseReportFiles()) {
    if (f.name == report) return true;
  }
  return false;
}

std::vector<Case> ClickHouseCases() {
  std::vector<Case> out;
  for (const Case& c : ListCases()) {
    if (HasClickHouseSql(c.expected.substr(0, c.expected.find('.')))) out.push_back(c);
  }
  return out;
}

// Loads a case's sessions into database `db` (once per case directory).
void Load(const std::string& dir, const std::string& db) {
  static std::set<std::string> loaded;
  if (loaded.count(dir)) return;
  test::TempDir tmp;
  const std::string path = tmp.File("reports.db");
  Ingest(kDir / dir, path);
  ClickHouseTarget t{server->url(), db};
  for (const ReportSqlFile& f : ClickHouseSchemaFiles()) {
    if (f.name != "01_database" && f.name != "02_sessions") continue;
    std::string sql(f.sql);
    for (size_t p; (p = sql.find("{database}")) != std::string::npos;) sql.replace(p, 10, db);
    Result<std::string> r = ClickHouseQuery(t, sql);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  Result<Db> sqlite = Db::Open(path, false, /*read_only=*/true);
  ASSERT_TRUE(sqlite.ok()) << sqlite.status().ToString();
  Result<Stmt> q =
      sqlite->Prepare("SELECT " + SessionJsonSql("s") + ", json_set(" + SessionJsonSql("s") +
                      ", '$.change_seq', 0, '$.state', 'establishing') "
                      "FROM sessions s ORDER BY s.id");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  std::string rows, older;
  for (;;) {
    Result<bool> row = q->Step();
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    if (!row.value()) break;
    rows.append(q->Text(0)).append("\n");
    older.append(q->Text(1)).append("\n");
  }
  // The latest rows, an older version of each, the latest again: in three
  // parts, as three Kafka blocks would be.
  for (const std::string* body : {&rows, &older, &rows}) {
    Result<std::string> r =
        ClickHouseQuery(t, "INSERT INTO " + db + ".sessions FORMAT JSONEachRow\n" + *body);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  loaded.insert(dir);
}

class ClickHouseReportTest : public ::testing::TestWithParam<Case> {};

TEST_P(ClickHouseReportTest, MatchesGolden) {
  const Case& c = GetParam();
  std::string db = "golden_" + c.dir;
  Load(c.dir, db);
  ReportRequest r = ReadRequest(kDir / c.dir / c.expected);
  const std::string want = Normalize(test::ReadFile(kDir / c.dir / c.expected));
  Result<std::string> got = RunClickHouseReportText(ClickHouseTarget{server->url(), db}, r);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Normalize(got.value()), want);
}

// Too many buckets: a clear error naming the limit, as on SQLite.
TEST(ClickHouseReportOptionsTest, ConcurrencyBucketLimit) {
  Load("concurrency", "golden_concurrency");
  ReportRequest r;
  r.name = "concurrency";
  r.bucket = "1";  // 1 ms over hours of plays
  r.now = "1800000000000";
  Result<std::string> got =
      RunClickHouseReportText(ClickHouseTarget{server->url(), "golden_concurrency"}, r);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kInvalid);
  EXPECT_NE(got.status().message().find("buckets of 1 ms"), std::string::npos)
      << got.status().ToString();
}

// Unknown reports and bad options are refused before anything runs.
TEST(ClickHouseReportOptionsTest, BadRequests) {
  ClickHouseTarget t{server->url(), "sessionsink"};
  ReportRequest r;
  r.name = "outages";  // a SQLite report without ClickHouse SQL
  Result<std::string> got = RunClickHouseReportText(t, r);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("no ClickHouse SQL"), std::string::npos);
  r.name = "media";
  r.platform = "gamelft";
  got = RunClickHouseReportText(t, r);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("platform"), std::string::npos);
  ReportRequest media;
  media.name = "media";
  got = RunClickHouseReportText(ClickHouseTarget{server->url(), "x; DROP"}, media);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("database"), std::string::npos);
  got = RunClickHouseReportText(ClickHouseTarget{"http://127.0.0.1:1", "sessionsink"}, media);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kIoError);
}

// A quote in a filter is a value, not SQL.
TEST(ClickHouseReportOptionsTest, FilterValuesAreQuoted) {
  Load("media", "golden_media");
  ReportRequest r;
  r.name = "media";
  r.format = "csv";
  r.media = "x' OR 1 = 1 OR media = '\\";
  Result<std::string> got =
      RunClickHouseReportText(ClickHouseTarget{server->url(), "golden_media"}, r);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Normalize(got.value()).find('\n'), std::string::npos) << got.value();  // no rows
}

INSTANTIATE_TEST_SUITE_P(Cases, ClickHouseReportTest, ::testing::ValuesIn(ClickHouseCases()),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           std::string name = param.param.dir + "_" + param.param.expected;
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ClickHouseReportTest);

}  // namespace
}  // namespace sink
