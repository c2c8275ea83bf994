// Reports three ways — the CLI, GET /reports over HTTP, and the SQL file run
// by the sqlite3 shell as a user would copy it — give the same numbers.
#include <httplib.h>
#include <signal.h>

#include <array>
#include <cstdio>
#include <memory>

#include "query/report.h"
#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kT = 1700000000000;
constexpr const char* kNow = "1700003600000";

std::string Shell(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  return out;
}

std::string Unix(std::string s) {
  std::string out;
  for (char c : s) {
    if (c != '\r') out += c;
  }
  return out;
}

// A day of varied traffic: plays with stalls, denials, probes, a source, a
// stream's outage.
std::string Traffic() {
  std::string b = "[";
  auto add = [&b](const std::string& e) { b += (b.size() > 1 ? "," : "") + e; };
  add(R"({"event":"source_opened","id":"src","type":"ingest","server":"edge1","media":"ch0","utc_ms":)" +
      std::to_string(kT - 5000) + "}");
  add(R"({"event":"source_started","id":"src","type":"ingest","server":"edge1","media":"ch0","utc_ms":)" +
      std::to_string(kT - 4000) + "}");
  add(R"({"event":"source_stalled","id":"src","type":"ingest","server":"edge1","media":"ch0","utc_ms":)" +
      std::to_string(kT + 600000) + "}");
  add(R"({"event":"source_recovered","id":"src","type":"ingest","server":"edge1","media":"ch0","utc_ms":)" +
      std::to_string(kT + 660000) + "}");
  // Flussonic 21.x stream-level events (no session id): ch1 on edge0 is
  // down for a minute.
  add(R"({"event":"stream_started","event_id":1,"server":"edge0","media":"ch1","utc_ms":)" +
      std::to_string(kT - 3000) + "}");
  add(R"({"event":"source_lost","event_id":2,"reason":"source_down","server":"edge0","media":"ch1","utc_ms":)" +
      std::to_string(kT + 300000) + "}");
  add(R"({"event":"source_ready","event_id":3,"server":"edge0","media":"ch1","utc_ms":)" +
      std::to_string(kT + 360000) + "}");
  for (int i = 0; i < 40; ++i) {
    const std::string id = "p" + std::to_string(i);
    const std::string common = R"("id":")" + id + R"(","server":"edge)" + std::to_string(i % 2) +
                               R"(","media":"ch)" + std::to_string(i % 3) + R"(","ip":"10.)" +
                               std::to_string(i % 5) + ".0." + std::to_string(i) +
                               R"(","source_id":"src")" +
                               (i % 7 ? R"(,"user_id":"u)" + std::to_string(i % 6) + "\"" : "");
    const int64_t t = kT + i * 60000;
    add(R"({"event":"play_opened",)" + common + R"(,"utc_ms":)" + std::to_string(t) + "}");
    if (i % 9 == 0) {
      add(R"({"event":"play_denied",)" + common + R"(,"utc_ms":)" + std::to_string(t + 50) + "}");
      continue;
    }
    add(R"({"event":"play_started",)" + common + R"(,"utc_ms":)" +
        std::to_string(t + 300 + i * 37) + "}");
    if (i % 4 == 0) {
      add(R"({"event":"play_stalled",)" + common + R"(,"utc_ms":)" + std::to_string(t + 20000) +
          "}");
      add(R"({"event":"play_recovered",)" + common + R"(,"utc_ms":)" + std::to_string(t + 23500) +
          "}");
    }
    if (i % 5 != 0) {
      add(R"({"event":"play_closed",)" + common + R"(,"bytes":)" + std::to_string(i * 1000) +
          R"(,"utc_ms":)" + std::to_string(t + 180000 + i * 1000) + "}");
    }
  }
  return b + "]";
}

TEST(ReportE2eTest, CliHttpAndCopyableSqlAgree) {
  test::TempDir tmp;
  const std::string db = tmp.File("sessions.db");
  test::SinkProcess sink;
  ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
  httplib::Client cli("127.0.0.1", sink.port());
  auto posted = cli.Post("/events", Traffic(), "application/json");
  ASSERT_TRUE(posted);
  ASSERT_EQ(posted->status, 200) << posted->body;
  ASSERT_TRUE(sink.Flush());  // the rows follow the answer by up to --session-flush

  for (const ReportInfo& r : Reports()) {
    SCOPED_TRACE(std::string(r.name));
    const std::string name(r.name);
    const std::string via_cli =
        Shell(std::string(SESSIONSINK_BIN) + " report " + name + " --db " + db +
              " --format csv --now " + kNow + " --from " + std::to_string(kT - 3600000) + " --to " +
              std::to_string(kT + 86400000) + " --bucket 10m");
    auto http = cli.Get(("/reports/" + name + "?format=csv&now=" + kNow +
                         "&from=" + std::to_string(kT - 3600000) +
                         "&to=" + std::to_string(kT + 86400000) + "&bucket=10m")
                            .c_str());
    ASSERT_TRUE(http);
    EXPECT_EQ(http->status, 200) << http->body;
    EXPECT_EQ(http->get_header_value("Content-Type"), "text/csv; charset=utf-8");
    const std::string via_sqlite = Shell(
        "sqlite3 -csv -header " + db + " '.param set :now " + kNow + "' '.param set :from " +
        std::to_string(kT - 3600000) + "' '.param set :to " + std::to_string(kT + 86400000) +
        "' '.param set :bucket_ms 600000' '.read " SINK_SOURCE_DIR "/query/sql/" + name + ".sql'");
    EXPECT_GT(Unix(via_cli).size(), 20u) << "empty report";
    EXPECT_EQ(Unix(via_cli), Unix(http->body));
    EXPECT_EQ(Unix(via_cli), Unix(via_sqlite));
  }

  // JSON over HTTP is the same data.
  auto json = cli.Get(("/reports/sessions-per-user?now=" + std::string(kNow)).c_str());
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
  EXPECT_EQ(json->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(json->body.rfind("[\n {\"user_id\":", 0), 0u) << json->body;

  // Bad requests say what is wrong.
  auto bad = cli.Get("/reports/sessions-per-user?from=yesterday");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("ISO-8601"), std::string::npos);
  bad = cli.Get("/reports/no-such-report");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 404);
  auto list = cli.Get("/reports");
  ASSERT_TRUE(list);
  EXPECT_NE(list->body.find("\"name\":\"sharing\""), std::string::npos);
  EXPECT_EQ(sink.Stop(SIGTERM), 0);
}

TEST(ReportE2eTest, ReportsNeedTheTokenWhenOneIsSet) {
  test::TempDir tmp;
  test::SinkProcess sink;
  ASSERT_TRUE(sink.Start({"--db", tmp.File("s.db"), "--token", "t0k"})) << sink.log();
  httplib::Client cli("127.0.0.1", sink.port());
  auto r = cli.Get("/reports/live");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = cli.Get("/reports/live?token=t0k");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ReportE2eTest, TheReadTokenReadsButCannotPost) {
  test::TempDir tmp;
  test::SinkProcess sink;
  ASSERT_TRUE(
      sink.Start({"--db", tmp.File("s.db"), "--token", "ingest-t0k", "--read-token", "read-t0k"}))
      << sink.log();
  httplib::Client cli("127.0.0.1", sink.port());
  const std::string batch = R"([{"event":"play_opened","id":"rt1","server":"s","utc_ms":1}])";
  auto r = cli.Post("/events?token=read-t0k", batch, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << "the read token must not post";
  r = cli.Post("/events?token=ingest-t0k", batch, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  for (const char* token : {"read-t0k", "ingest-t0k"}) {
    httplib::Headers auth = {{"Authorization", std::string("Bearer ") + token}};
    r = cli.Get("/reports/live", auth);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << token;
  }
  r = cli.Get("/reports/live?token=wrong");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(sink.Stop(SIGTERM), 0);
}

TEST(ReportE2eTest, CliListsReportsAndExplainsMistakes) {
  EXPECT_NE(Shell(std::string(SESSIONSINK_BIN) + " report --list").find("sessions-per-user"),
            std::string::npos);
  test::TempDir tmp;
  EXPECT_NE(Shell(std::string(SESSIONSINK_BIN) + " report nope --db " + tmp.File("x.db") + " 2>&1")
                .find("unknown report 'nope'"),
            std::string::npos);
  EXPECT_NE(
      Shell(std::string(SESSIONSINK_BIN) + " report live --db " + tmp.File("missing.db") + " 2>&1")
          .find("cannot open database"),
      std::string::npos);
}

}  // namespace
}  // namespace sink
