// Black-box tests of the real binary: HTTP in, SQLite file out.
#include <httplib.h>
#include <signal.h>
#include <zlib.h>

#include <filesystem>

#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

const char* kBatch = R"([
  {"event":"play_closed","event_id":102,"utc_ms":1637098821000,"server":"flussonic.host",
   "id":"61942414-8c15-4809-8bb6-adf1ae846027","type":"play","media":"hockey1","ip":"172.16.25.73",
   "proto":"dash","bytes":734003200,"opened_at":1637094994,"started_at":1637095014,
   "closed_at":1637098821,"duration":3827,"user_id":"5435","reason":{"code": "timeout"}},
  {"event":"play_opened","event_id":101,"utc_ms":1637094994000,"server":"flussonic.host",
   "id":"61942414-8c15-4809-8bb6-adf1ae846027","type":"play","media":"hockey1",
   "ip":"172.16.25.73","proto":"dash","bytes":0,"opened_at":1637094994}
])";

using test::Gzip;

class E2eTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {"--db", db_});
    ASSERT_TRUE(sink_.Start(args, env)) << sink_.log();
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", sink_.port());
    cli_->set_read_timeout(30, 0);
  }

  httplib::Result Post(const std::string& body, httplib::Headers headers = {},
                       const std::string& path = "/events", const char* type = "application/json") {
    return cli_->Post(path.c_str(), headers, body, type);
  }

  // The sessions table lags the answers by up to --session-flush: these
  // write it first (POST /flush), then read.
  std::vector<std::string> Rows(const std::string& sql) {
    EXPECT_TRUE(sink_.Flush(token_));
    return test::QueryRows(db_, sql);
  }
  std::string One(const std::string& sql) {
    auto rows = Rows(sql);
    return rows.empty() ? "<no row>" : rows[0];
  }

  std::string token_;  // the sink's --token, when a test sets one

  test::TempDir tmp_;
  std::string db_ = tmp_.File("sessions.db");
  test::SinkProcess sink_;
  std::unique_ptr<httplib::Client> cli_;
};

TEST_F(E2eTest, BatchBecomesOneSessionRowAfterCommit) {
  Start();
  auto r = Post(kBatch);
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->body, "{\"accepted\":2,\"duplicates\":0,\"rejected\":0,\"errors\":[]}\n");
  // The answer came after COMMIT of the events; the row follows by the flush.
  EXPECT_EQ(One("SELECT id, kind, state, media, user_id, opened_at, started_at, closed_at, bytes, "
                "duration_ms, close_reason, event_count FROM sessions"),
            "61942414-8c15-4809-8bb6-adf1ae846027\tplay\tfinished\thockey1\t5435\t1637094994000\t"
            "1637095014000\t1637098821000\t734003200\t3827000\t{\"code\":\"timeout\"}\t2");
  EXPECT_EQ(One("SELECT count(*) FROM events"), "2");
}

TEST_F(E2eTest, ReadmeExampleBatchGivesTheDocumentedRows) {
  Start();
  const std::string body = test::ReadFile(SINK_SOURCE_DIR "/docs/examples/flussonic-batch.json");
  auto r = Post(body, {}, "/events", "application/x-www-form-urlencoded");  // as curl sends it
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"accepted\":9,\"duplicates\":0,\"rejected\":0,\"errors\":[]}\n");
  EXPECT_EQ(Rows("SELECT kind, state, opened_at, started_at, closed_at, bytes, "
                 "stall_count, stalled_ms, close_reason FROM sessions ORDER BY id"),
            (std::vector<std::string>{
                "push\trunning\t1637094500000\tNULL\tNULL\tNULL\t1\t12500\tNULL",
                "play\tfinished\t1637094994000\t1637095014000\t1637098821000\t734003200\t0\t0\t"
                "{\"code\":\"timeout\",\"message\":\"no requests for 30 s\"}",
                "ingest\trunning\t1637094000000\t1637094002000\tNULL\tNULL\t0\t0\tNULL"}));
  r = Post(body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"accepted\":0,\"duplicates\":9,\"rejected\":0,\"errors\":[]}\n");
}

TEST_F(E2eTest, ResentBatchIsCountedAsDuplicates) {
  Start();
  ASSERT_EQ(Post(kBatch)->status, 200);
  auto r = Post(kBatch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"accepted\":0,\"duplicates\":2,\"rejected\":0,\"errors\":[]}\n");
  EXPECT_EQ(One("SELECT count(*), sum(event_count) FROM events, sessions"), "2\t4");
}

TEST_F(E2eTest, AcceptsSingleObjectNdjsonAndGzip) {
  Start();
  auto r = Post(R"({"event":"play_opened","id":"s1","utc_ms":1637094994000})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post(
      "{\"event\":\"play_opened\",\"id\":\"s2\",\"utc_ms\":1637094994000}\n"
      "{\"event\":\"play_started\",\"id\":\"s2\",\"utc_ms\":1637094995000}\n",
      {}, "/events", "application/x-ndjson");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post(Gzip(R"([{"event":"play_opened","id":"s3","utc_ms":1637094994000}])"),
           {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Rows("SELECT id, state FROM sessions ORDER BY id"),
            (std::vector<std::string>{"s1\testablishing", "s2\trunning", "s3\testablishing"}));
}

TEST_F(E2eTest, LargeBodyWithoutJsonContentTypeIsAccepted) {
  // `curl --data-binary @file` sends application/x-www-form-urlencoded.
  Start();
  std::string body = "[";
  for (int i = 0; i < 200; ++i) {
    if (i) body += ',';
    body += R"({"event":"play_opened","id":"s)" + std::to_string(i) +
            R"js(","utc_ms":1637094994000,"user_agent":"Mozilla/5.0 (X11; Linux x86_64)"})js";
  }
  body += "]";
  ASSERT_GT(body.size(), 8192u);
  auto r = Post(body, {}, "/events", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(One("SELECT count(*) FROM sessions"), "200");
}

TEST_F(E2eTest, UnreadableBodyIs400AndKeptAsDeadLetter) {
  Start();
  auto r = Post(R"([{"event":"play_opened","id":"s1"},{"event": tru}])");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("\"error\":\"invalid JSON in item 1"), std::string::npos) << r->body;
  EXPECT_EQ(One("SELECT count(*) FROM events"), "0");
  EXPECT_EQ(One("SELECT remote_addr, item_index, body FROM rejected"),
            "127.0.0.1\tNULL\t[{\"event\":\"play_opened\",\"id\":\"s1\"},{\"event\": tru}]");
  r = Post("");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("empty body"), std::string::npos) << r->body;
}

TEST_F(E2eTest, PlatformRoutesStoreRowsAndKeepUnreadableBodies) {
  Start();
  auto r = Post(R"({"Arn":"arn:gl/1","Status":"CONNECTED","CreatedAt":1732406400,)"
                R"("LastUpdatedAt":1732406430,"UserId":"p"})",
                {}, "/events/gamelift");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post(
      "event=room_login&appid=1&room_id=r&user_account=a&session_id=9&login_time=1732406400000", {},
      "/events/zego", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post(R"({"key":"k1","at":1732406400000,"message":{"type":"stream-state","value":"queue-1"}})",
           {}, "/events/streampixel", "text/plain;charset=UTF-8");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Rows("SELECT id, platform, state, raw_state FROM sessions ORDER BY id"),
            (std::vector<std::string>{"gamelift/arn:gl/1\tgamelift\trunning\tCONNECTED",
                                      "streampixel/k1\tstreampixel\testablishing\tqueue-1",
                                      "zego/r/user/a/9\tzego\trunning\troom_login"}));
  // Unreadable: 400, the body kept; a record that is not one: rejected item.
  r = Post(R"([{"Arn":"x","Status":)", {}, "/events/gamelift");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = Post(R"([{"Status":"ACTIVE"}])", {}, "/events/gamelift");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("not a GameLift Streams session record"), std::string::npos) << r->body;
  r = Post("room_id=%zz", {}, "/events/zego", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(One("SELECT count(*), count(item_index) FROM rejected"), "3\t1");
}

TEST_F(E2eTest, FourPlatformsInOneSinkAndTheEndingsReport) {
  Start();
  auto post = [this](const std::string& path, const std::string& body) {
    auto r = Post(body, {}, path);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  };
  post(
      "/events",
      R"([{"event":"play_started","id":"f1","user_id":"u","utc_ms":1732406400000},)"
      R"({"event":"play_closed","id":"f1","user_id":"u","utc_ms":1732406460000,"reason":"normal"}])");
  post("/events/gamelift",
       R"([{"Arn":"g1","Status":"ACTIVATING","UserId":"u","CreatedAt":1732406400,)"
       R"("LastUpdatedAt":1732406400},{"Arn":"g1","Status":"ERROR","StatusReason":)"
       R"("placementTimeout","UserId":"u","CreatedAt":1732406400,"LastUpdatedAt":1732406700}])");
  post("/events/streampixel",
       R"([{"key":"k1","at":1732406400000,"user_id":"v","message":{"type":"stream-state",)"
       R"("value":"loadingComplete"}},{"key":"k1","at":1732406700000,"user_id":"v","message":)"
       R"({"type":"stream-state","value":"disconnected","code":1000}}])");
  post("/events/zego",
       R"([{"event":"room_login","room_id":"r","user_account":"z","session_id":"1",)"
       R"("login_time":1732406400000},{"event":"room_logout","room_id":"r","user_account":"z",)"
       R"("session_id":"1","logout_time":1732406500000,"reason":1}])");
  ASSERT_TRUE(sink_.Flush());
  auto r =
      cli_->Get("/reports/endings?format=csv&from=2024-11-24T00:00:00Z&to=2024-11-25T00:00:00Z");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body,
            "platform,end_class,raw_reason,sessions,pct,median_duration_ms,played,"
            "median_watch_ms\r\n"
            "flussonic,normal,normal,1,100.0,60000,1,60000\r\n"
            "gamelift,capacity,placementTimeout,1,100.0,300000,0,\r\n"
            "streampixel,normal,1000,1,100.0,300000,1,300000\r\n"
            "zego,network,1,1,100.0,100000,1,100000\r\n");
  r = cli_->Get(
      "/reports/sessions-per-user?format=csv&platform=streampixel&from=2024-11-24T00:00:00Z&"
      "to=2024-11-25T00:00:00Z");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body.substr(0, r->body.find('\r')).substr(0, 16), "user_id,sessions");
  EXPECT_NE(r->body.find("\nv,1,1,300000,"), std::string::npos) << r->body;
}

TEST_F(E2eTest, StreampixelPostsNeedAnAllowedOriginOrTheToken) {
  Start({"--streampixel-origins", "https://play.example.com,https://beta.example.com", "--token",
         "t0k"});
  const std::string item =
      R"({"key":"k","at":1732406400000,"message":{"type":"stream-state","value":"connecting"}})";
  auto r =
      Post(item, {{"Origin", "https://evil.example.net"}}, "/events/streampixel", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = Post(item, {}, "/events/streampixel", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = Post(item, {{"Origin", "https://beta.example.com"}}, "/events/streampixel", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://beta.example.com");
  r = Post(item, {}, "/events/streampixel?token=t0k", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // The other routes still need the token.
  r = Post(item, {{"Origin", "https://beta.example.com"}}, "/events/gamelift");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

TEST_F(E2eTest, InvalidItemsAreRejectedOneByOne) {
  Start();
  auto r = Post(R"([{"event":"play_opened","id":"s1"}, 42, {"id":"s2"}, {"event":7}])");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body,
            "{\"accepted\":1,\"duplicates\":0,\"rejected\":3,\"errors\":["
            "{\"index\":1,\"reason\":\"event must be a JSON object, got a number\"},"
            "{\"index\":2,\"reason\":\"missing \\\"event\\\" field\"},"
            "{\"index\":3,\"reason\":\"\\\"event\\\" must be a string\"}]}\n");
  EXPECT_EQ(Rows("SELECT item_index, body FROM rejected ORDER BY id"),
            (std::vector<std::string>{"1\t42", "2\t{\"id\":\"s2\"}", "3\t{\"event\":7}"}));
}

TEST_F(E2eTest, TokenIsRequiredAndNeverLogged) {
  Start({"--token", "s3cret-t0ken"});
  token_ = "s3cret-t0ken";
  auto r = Post(kBatch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  r = Post(kBatch, {{"Authorization", "Bearer wrong"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body.find("s3cret"), std::string::npos);
  r = Post(kBatch, {}, "/events?token=s3cret-t0ke");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(One("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM rejected)"), "0");

  r = Post(kBatch, {{"Authorization", "Bearer s3cret-t0ken"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = Post(R"([{"event":"play_updated","id":"x","utc_ms":1637094999000}])", {},
           "/events?token=s3cret-t0ken");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(One("SELECT count(*) FROM events"), "3");

  auto m = cli_->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body.find("s3cret"), std::string::npos);
  EXPECT_EQ(sink_.Stop(SIGTERM), 0);
  EXPECT_EQ(sink_.log().find("s3cret"), std::string::npos) << sink_.log();
}

TEST_F(E2eTest, TokenFromEnvironment) {
  Start({}, {"SESSIONSINK_TOKEN=envsecret"});
  EXPECT_EQ(Post(kBatch)->status, 401);
  EXPECT_EQ(Post(kBatch, {{"Authorization", "Bearer envsecret"}})->status, 200);
}

TEST_F(E2eTest, OversizedBodiesAre413AndNotStored) {
  Start({"--max-body-bytes", "64KiB"});
  std::string big = "[" + std::string(70 * 1024, ' ') + "]";
  auto r = Post(big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  // A gzip bomb: 50 MB of spaces compress to ~50 KB; the decoded size counts.
  std::string bomb = "[" + std::string(50u << 20, ' ') + "]";
  const std::string gz = Gzip(bomb);
  ASSERT_LT(gz.size(), 64u * 1024);
  r = Post(gz, {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(One("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM rejected)"), "0");
  // Still serving.
  r = Post(kBatch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(E2eTest, CorruptGzipIs400) {
  Start();
  auto r = Post("\x1f\x8b\x08\x00garbage-not-deflate", {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(E2eTest, OtherMethodsAndPaths) {
  Start();
  auto r = cli_->Get("/events");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = cli_->Put("/events", "[]", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  r = cli_->Get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = Post("[]", {}, "/elsewhere");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(E2eTest, HealthReadinessAndMetrics) {
  Start();
  auto r = cli_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = cli_->Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(Post(kBatch)->status, 200);
  ASSERT_EQ(Post(kBatch)->status, 200);
  r = cli_->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("sessionsink_events_accepted_total 2\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("sessionsink_events_duplicate_total 2\n"), std::string::npos);
  EXPECT_NE(r->body.find("sessionsink_http_requests_total{code=\"200\"} 2\n"), std::string::npos);
}

TEST_F(E2eTest, FullDatabaseAnswers503WithRetryAfter) {
  Start({"--max-db-bytes", "300KiB"});
  const std::string pad(3000, 'x');
  int acked = 0;
  int status = 0;
  std::string retry_after, answer;
  for (int i = 0; i < 300; ++i) {
    std::string body = "[";
    for (int j = 0; j < 10; ++j) {
      if (j) body += ',';
      body += R"({"event":"play_updated","id":"s)" + std::to_string(i) + R"(","utc_ms":)" +
              std::to_string(1637094994000 + j) + R"(,"pad":")" + pad + "\"}";
    }
    body += "]";
    auto r = Post(body);
    ASSERT_TRUE(r);
    status = r->status;
    retry_after = r->get_header_value("Retry-After");
    answer = r->body;
    if (status != 200) break;
    ++acked;
  }
  ASSERT_EQ(status, 503) << answer;
  EXPECT_EQ(retry_after, "1");
  auto ready = cli_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  // Exactly the acknowledged events are stored; the database is sound.
  EXPECT_EQ(One("SELECT count(*) FROM events"), std::to_string(acked * 10));
  EXPECT_EQ(One("PRAGMA integrity_check"), "ok");
}

TEST_F(E2eTest, SigtermDrainsAndExitsZero) {
  Start();
  ASSERT_EQ(Post(kBatch)->status, 200);
  EXPECT_EQ(sink_.Stop(SIGTERM), 0);
  EXPECT_NE(sink_.log().find("stopped: 2 events accepted"), std::string::npos) << sink_.log();
  // Restart on the same file: data kept, resend recognised.
  Start();
  auto r = Post(kBatch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"accepted\":0,\"duplicates\":2,\"rejected\":0,\"errors\":[]}\n");
}

TEST_F(E2eTest, StartupErrorsAreClear) {
  test::SinkProcess p;
  EXPECT_EQ(p.RunToExit({"serve", "--db", tmp_.File("missing/dir/s.db")}), 1);
  EXPECT_NE(p.log().find("does not exist"), std::string::npos) << p.log();

  Start();
  test::SinkProcess second;
  EXPECT_EQ(second.RunToExit({"serve", "--db", tmp_.File("other.db"), "--listen",
                              "127.0.0.1:" + std::to_string(sink_.port())}),
            1);
  EXPECT_NE(second.log().find("cannot listen"), std::string::npos) << second.log();

  EXPECT_NE(p.RunToExit({"serve", "--session-timeout", "soon"}), 0);
  EXPECT_NE(p.log().find("duration"), std::string::npos) << p.log();
}

TEST_F(E2eTest, HelpExplainsEveryFlagAndItsEnvironmentVariable) {
  test::SinkProcess p;
  EXPECT_EQ(p.RunToExit({"serve", "--help"}), 0);
  for (const char* flag :
       {"--db", "--listen", "--token", "--max-body-bytes", "--session-timeout", "--synchronous",
        "--http-threads", "--max-pending-events", "--max-db-bytes", "--request-timeout"}) {
    EXPECT_NE(p.log().find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(p.log().find("SESSIONSINK_TOKEN"), std::string::npos) << p.log();
  EXPECT_NE(p.log().find("SESSIONSINK_DB"), std::string::npos);
}

}  // namespace
}  // namespace sink
