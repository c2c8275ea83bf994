// The nginx-rtmp endpoint over HTTP, in process: POST and GET callbacks,
// the token in the path or the query, the answers that are not 2xx (only
// for requests that are not nginx's callbacks), and 200 with a count when
// the sink cannot store a callback (nginx would drop the client otherwise).
#include <httplib.h>

#include "server/http_server.h"
#include "store/clock.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

const std::string kPublish =
    "app=live&flashver=FMLE/3.0%20(compatible%3B%20Lavf59.27&swfurl=&tcurl=rtmp://127.0.0.1:1935/"
    "live&pageurl=&addr=127.0.0.1&clientid=3&call=publish&name=cam1&type=live&token=a+b&user=u7";
constexpr const char* kForm = "application/x-www-form-urlencoded";

class NginxRtmpEndpointTest : public ::testing::Test {
 protected:
  void Start(const std::string& token = "") {
    cfg_.db_path = tmp_.File("s.db");
    cfg_.listen = "127.0.0.1:0";
    if (!token.empty()) cfg_.tokens = {token};
    WriterOptions o;
    o.db_path = cfg_.db_path;
    auto w = Writer::Open(o, &clock_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w.value());
    server_ = std::make_unique<HttpServer>(cfg_, writer_.get(), nullptr, &clock_);
    ASSERT_OK(server_->Start());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (writer_) writer_->Stop();
  }
  int Post(const std::string& path, const std::string& body) {
    auto r = client_->Post(path.c_str(), body, kForm);
    return r ? r->status : -1;
  }
  int Get(const std::string& target) {
    auto r = client_->Get(target.c_str());
    return r ? r->status : -1;
  }
  // The sessions table follows the events within --session-flush: write it
  // first, then read.
  std::vector<std::string> Rows(const std::string& sql) {
    EXPECT_OK(writer_->FlushNow());
    return test::QueryRows(cfg_.db_path, sql);
  }
  std::string Metrics() {
    auto r = client_->Get("/metrics");
    return r ? r->body : "";
  }

  test::TempDir tmp_;
  ServeConfig cfg_;
  SystemClock clock_;
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(NginxRtmpEndpointTest, PostAndGetCallbacks) {
  Start();
  EXPECT_EQ(Post("/events/nginx-rtmp/edge1", kPublish), 200);
  // GET: the callback is the query, read raw ('+' is the client's).
  const std::string play =
      "app=live&flashver=LNX%209,0,124,2&swfurl=&tcurl=&pageurl=&addr=198.51.100.7&clientid=4&"
      "call=play&name=cam1&start=0&duration=0&reset=0&token=x+y&user=v";
  EXPECT_EQ(Get("/events/nginx-rtmp/edge2?" + play), 200);
  EXPECT_EQ(Rows("SELECT kind, server, media, token, user_id, state FROM sessions ORDER BY server"),
            (std::vector<std::string>{"publish\tedge1\tlive/cam1\ta+b\tu7\trunning",
                                      // not published on edge2: waiting
                                      "play\tedge2\tlive/cam1\tx+y\tv\testablishing"}));
  // Not callbacks: a bad instance name, no `call` (kept in rejected), too large.
  EXPECT_EQ(Post("/events/nginx-rtmp/a%20b", kPublish), 404);
  EXPECT_EQ(Post("/events/nginx-rtmp/edge1", "app=live&name=x"), 400);
  EXPECT_EQ(Rows("SELECT server, reason FROM rejected"),
            std::vector<std::string>{"edge1\tnot an nginx-rtmp callback: no \"call\" field"});
  EXPECT_EQ(Post("/events/nginx-rtmp/edge1", std::string(70000, 'a')), 413);
  EXPECT_NE(Metrics().find("sessionsink_nginx_rtmp_connections 2\n"), std::string::npos);
}

TEST_F(NginxRtmpEndpointTest, TokenInThePathOrThePostQuery) {
  Start("s3cret");
  EXPECT_EQ(Post("/events/nginx-rtmp/edge1", kPublish), 401);
  EXPECT_EQ(Post("/events/nginx-rtmp/edge1/token/wrong", kPublish), 401);
  EXPECT_EQ(Post("/events/nginx-rtmp/edge1/token/s3cret", kPublish), 200);
  EXPECT_EQ(Post("/events/nginx-rtmp/edge1?token=s3cret", kPublish), 200);
  // With GET the query is the callback: a `token` there is a client's
  // stream argument, never the sink's.
  EXPECT_EQ(Get("/events/nginx-rtmp/edge1?token=s3cret&" + kPublish), 401);
  EXPECT_EQ(Get("/events/nginx-rtmp/edge1/token/s3cret?" + kPublish), 200);
  EXPECT_EQ(Rows("SELECT count(*) FROM events"), std::vector<std::string>{"3"});
}

// nginx drops the publisher or viewer on any answer but 2xx and never
// resends: a callback the sink cannot store is answered 200 and counted.
TEST_F(NginxRtmpEndpointTest, UnstorableCallbackIsStill200AndCounted) {
  Start();
  writer_->Stop();  // every Submit is refused from now on
  auto r = client_->Post("/events/nginx-rtmp/edge1", kPublish, kForm);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"recorded\":\"false\"}\n");
  const std::string m = Metrics();
  EXPECT_NE(m.find("sessionsink_unrecorded_callbacks_total{cause=\"refused\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("# TYPE sessionsink_unrecorded_callbacks_total counter"), std::string::npos);
  // Its session was forgotten, so the connection's next call starts its own.
  EXPECT_NE(m.find("sessionsink_nginx_rtmp_connections 1\n"), std::string::npos) << m;
  // Flussonic's endpoint still answers 503 (Flussonic resends).
  auto f =
      client_->Post("/events", "[{\"event\":\"play_opened\",\"id\":\"x\"}]", "application/json");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status, 503);
}

// At start the sink reads back the recent callbacks: a call after a
// restart of the sink joins the session it started before.
TEST_F(NginxRtmpEndpointTest, SinkRestartKeepsTheSessions) {
  Start();
  ASSERT_EQ(Post("/events/nginx-rtmp/edge1", kPublish), 200);
  server_->Stop();
  writer_->Stop();
  server_.reset();
  writer_.reset();
  Start();
  ASSERT_EQ(Post("/events/nginx-rtmp/edge1",
                 "app=live&flashver=x&swfurl=&tcurl=&pageurl=&addr=127.0.0.1&clientid=3&call="
                 "publish_done&name=cam1"),
            200);
  EXPECT_EQ(Rows("SELECT count(*), min(state), max(event_count) FROM sessions"),
            std::vector<std::string>{"1\tfinished\t2"});
}

}  // namespace
}  // namespace sink
