// The native report evaluations give exactly what the SQL files give, on
// generated data with NULLs, IPv6, sources, stream sessions and stream-level
// events, open sessions and several platforms, for every kind of option.
#include <fstream>
#include <sstream>

#include "query/native.h"
#include "store/schema.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kT0 = 1767225600000;
constexpr int64_t kDay = 86400000;

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

class NativeVsSqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<Db> db = Db::Open(tmp_.File("gen.db"), true);
    ASSERT_TRUE(db.ok());
    db_ = std::move(db.value());
    ASSERT_OK(Migrate(db_));
    std::string sql = test::ReadFile(SINK_SOURCE_DIR "/scripts/gen_sessions.sql");
    sql = Replace(sql, "@N@", "3000");
    sql = Replace(sql, "@T0@", std::to_string(kT0));
    sql = Replace(sql, "@DAY@", std::to_string(kDay));
    sql = Replace(sql, "@NOW@", std::to_string(kT0 + 30 * kDay));
    sql = Replace(sql, "@VERSION@", std::to_string(Migrations().back().version));
    ASSERT_OK(db_.Exec(sql));
    ASSERT_OK(db_.Exec(test::ReadFile(SINK_SOURCE_DIR "/tests/query/gen_platforms.sql")));
    ASSERT_OK(db_.Exec(test::ReadFile(SINK_SOURCE_DIR "/tests/query/gen_stream_events.sql")));
  }

  test::TempDir tmp_;
  Db db_;
};

TEST_F(NativeVsSqlTest, EveryNativeReportMatchesItsSql) {
  std::vector<std::pair<std::string, ReportParams>> variants;
  ReportParams base;
  base.now = kT0 + 20 * kDay;  // some sessions still open then
  base.bucket_ms = kDay;       // concurrency: 30 buckets per part, not 43,200
  variants.push_back({"all", base});
  ReportParams day = base;
  day.from = kT0 + 10 * kDay;
  day.to = kT0 + 11 * kDay;
  day.bucket_ms = 3600000;
  variants.push_back({"one day", day});
  ReportParams odd = base;
  odd.from = kT0 + 10 * kDay + 12345;
  odd.to = kT0 + 12 * kDay - 999;
  odd.bucket_ms = 3600000;
  variants.push_back({"unaligned window, 1h buckets", odd});
  ReportParams media = base;
  media.media = "ch7";
  variants.push_back({"media", media});
  ReportParams user = base;
  user.user = "u12";
  variants.push_back({"user", user});
  ReportParams server = base;
  server.server = "edge3";
  server.bucket_ms = 5 * 60000;
  server.from = kT0 + 3 * kDay;
  server.to = kT0 + 4 * kDay;
  variants.push_back({"server, 5m buckets", server});
  ReportParams limit = base;
  limit.limit = 1;
  variants.push_back({"limit 1", limit});
  ReportParams gamelift = base;
  gamelift.platform = "gamelift";
  variants.push_back({"platform", gamelift});
  ReportParams streampixel_day = day;
  streampixel_day.platform = "streampixel";
  variants.push_back({"platform, one day", streampixel_day});
  ReportParams zego_server = server;
  zego_server.platform = "zego";
  variants.push_back({"platform and server", zego_server});
  ReportParams empty = base;
  empty.from = kT0 - 10 * kDay;
  empty.to = kT0 - 9 * kDay;
  variants.push_back({"empty window", empty});

  int compared = 0;
  for (const ReportInfo& r : Reports()) {
    if (!HasNativeReport(r.name)) continue;
    for (const auto& [label, params] : variants) {
      SCOPED_TRACE(std::string(r.name) + ", " + label);
      Result<Table> sql = RunReport(db_, r.name, params);
      Result<Table> native = RunNativeReport(db_, r.name, params);
      ASSERT_TRUE(sql.ok()) << sql.status().ToString();
      ASSERT_TRUE(native.ok()) << native.status().ToString();
      EXPECT_EQ(Render(native.value(), Format::kCsv), Render(sql.value(), Format::kCsv));
      ++compared;
    }
  }
  EXPECT_EQ(compared, 9 * 11);
}

// The platform filter keeps that platform's sessions, all of them.
TEST_F(NativeVsSqlTest, PlatformFilterKeepsThatPlatform) {
  ReportParams p;
  p.platform = "zego";
  for (bool native : {false, true}) {
    SCOPED_TRACE(native ? "native" : "SQL");
    Result<Table> t = native ? RunNativeReport(db_, "endings", p) : RunReport(db_, "endings", p);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    int64_t sessions = 0;
    for (const auto& row : t->rows) {
      EXPECT_EQ(std::get<std::string>(row[0]), "zego");
      sessions += std::get<int64_t>(row[3]);
    }
    EXPECT_EQ(test::QueryRows(db_,
                              "SELECT count(*) FROM sessions WHERE kind = 'play' AND state = "
                              "'finished' AND platform = 'zego'"),
              std::vector<std::string>{std::to_string(sessions)});
    EXPECT_GT(sessions, 0);
  }
}

}  // namespace
}  // namespace sink
