// The dashboard's routes on the real binary: GET / and its files, the JSON
// of GET /api/* (answers, access, bad parameters → 400), and /metrics in
// Prometheus' conventions.
#include <httplib.h>
#include <signal.h>
#include <simdjson.h>

#include <regex>
#include <sstream>

#include "query/explorer.h"
#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kT = 1700000000000;  // the scenario's first instant
constexpr int64_t kMin = 60000;

// Two sources; alice plays from two networks at once (p1 on hockey1 with a
// stall, while its source stalls; p2 on news24); bob's play is stalling;
// carol is denied. Posted out of time order.
std::string Scenario() {
  std::string b = "[";
  auto add = [&b](const std::string& event, const std::string& id, int64_t at,
                  const std::string& fields) {
    if (b.size() > 1) b += ",\n";
    b += R"({"event":")" + event + R"(","id":")" + id + R"(","server":"edge1","utc_ms":)" +
         std::to_string(at) + fields + "}";
  };
  const std::string hockey = R"(,"type":"ingest","media":"hockey1")";
  add("source_opened", "src1", kT, hockey);
  add("source_started", "src1", kT + 1000, hockey);
  add("source_stalled", "src1", kT + 10 * kMin, hockey);
  add("source_recovered", "src1", kT + 10 * kMin + 30000, hockey);
  add("source_opened", "src2", kT, R"(,"type":"ingest","media":"news24")");
  const std::string p1 =
      R"(,"media":"hockey1","user_id":"alice","ip":"10.0.0.5","proto":"hls","source_id":"src1","user_agent":"Mozilla/5.0 Chrome/120")";
  add("play_closed", "p1", kT + 20 * kMin, p1 + R"(,"reason":"normal")");
  add("play_updated", "p1", kT + 15 * kMin, p1);
  add("play_opened", "p1", kT + kMin, p1);
  add("play_stalled", "p1", kT + 10 * kMin + 2000, p1);
  add("play_started", "p1", kT + kMin + 1500, p1);
  add("play_updated", "p1", kT + 10 * kMin + 10000, p1);  // while stalling: still stalling
  add("play_recovered", "p1", kT + 10 * kMin + 31000, p1);
  const std::string p2 =
      R"(,"media":"news24","user_id":"alice","ip":"192.0.2.7","proto":"dash","source_id":"src2","user_agent":"SmartTV")";
  add("play_opened", "p2", kT + 5 * kMin, p2);
  add("play_started", "p2", kT + 5 * kMin + 900, p2);
  const std::string p3 =
      R"(,"media":"hockey1","user_id":"bob","ip":"10.0.1.9","proto":"hls","source_id":"src1")";
  add("play_opened", "p3", kT + 2 * kMin, p3);
  add("play_started", "p3", kT + 2 * kMin + 700, p3);
  add("play_stalled", "p3", kT + 25 * kMin, p3);
  const std::string p4 = R"(,"media":"news24","user_id":"carol","ip":"10.0.2.3","proto":"hls")";
  add("play_opened", "p4", kT + 3 * kMin, p4);
  add("play_denied", "p4", kT + 3 * kMin + 200, p4 + R"(,"reason":"token expired")");
  return b + "]";
}

class DashboardE2eTest : public ::testing::Test {
 protected:
  void StartSink(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--db", tmp_.File("s.db")};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(sink_.Start(args)) << sink_.log();
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", sink_.port());
  }
  void TearDown() override {
    if (sink_.pid() > 0) {
      EXPECT_EQ(sink_.Stop(SIGTERM), 0) << sink_.log();
    }
  }
  void Post(const std::string& token = "") {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    auto r = cli_->Post("/events", h, Scenario(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    // The sessions follow the events within --session-flush; make them current.
    ASSERT_TRUE(sink_.Flush(token));
  }
  // GET `path`; the answer's status and its body parsed as JSON.
  int Get(const std::string& path, simdjson::dom::element* out = nullptr,
          const std::string& token = "") {
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    auto r = cli_->Get(path, h);
    if (!r) return -1;
    body_ = r->body;
    if (out != nullptr) {
      auto doc = parser_.parse(simdjson::padded_string(body_));
      EXPECT_EQ(doc.error(), simdjson::SUCCESS) << path << ": " << body_;
      if (doc.error() == simdjson::SUCCESS) *out = doc.value();
    }
    return r->status;
  }

  test::TempDir tmp_;
  test::SinkProcess sink_;
  std::unique_ptr<httplib::Client> cli_;
  simdjson::dom::parser parser_;
  std::string body_;
};

std::string Str(simdjson::dom::element e) {
  std::string_view s;
  return e.get(s) == simdjson::SUCCESS ? std::string(s) : "(null)";
}
int64_t Int(simdjson::dom::element e) {
  int64_t v = -1;
  return e.get(v) == simdjson::SUCCESS ? v : -1;
}

TEST(StateAfterTest, ReplaysTheSessionModelInTimeOrder) {
  EXPECT_EQ(StateAfter("establishing", "opened"), "establishing");
  EXPECT_EQ(StateAfter("establishing", "authorized"), "establishing");
  EXPECT_EQ(StateAfter("establishing", "started"), "running");
  EXPECT_EQ(StateAfter("establishing", "updated"), "running");
  EXPECT_EQ(StateAfter("running", "stalled"), "stalling");
  EXPECT_EQ(StateAfter("stalling", "updated"), "stalling") << "only a recovery ends a stall";
  EXPECT_EQ(StateAfter("stalling", "recovered"), "running");
  EXPECT_EQ(StateAfter("running", "authorized"), "running") << "never back to establishing";
  EXPECT_EQ(StateAfter("running", "closed"), "finished");
  EXPECT_EQ(StateAfter("establishing", "denied"), "finished");
  EXPECT_EQ(StateAfter("finished", "started"), "finished") << "a finished session never reopens";
  EXPECT_EQ(StateAfter("running", ""), "running");
}

TEST_F(DashboardE2eTest, ThePageAndItsFilesNeedNoToken) {
  StartSink({"--token", "ingest-t", "--read-token", "read-t"});
  auto r = cli_->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("<title>sessionsink</title>"), std::string::npos);
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  for (const char* asset : {"/assets/app.js", "/assets/app.css", "/assets/uPlot.iife.min.js",
                            "/assets/uPlot.min.css"}) {
    r = cli_->Get(asset);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << asset;
    EXPECT_GT(r->body.size(), 1000u) << asset;
  }
  r = cli_->Get("/assets/uPlot.iife.min.js");
  EXPECT_NE(r->body.find("uPlot"), std::string::npos);
  r = cli_->Get("/assets/secret.db");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(DashboardE2eTest, TheApiNeedsReadAccess) {
  StartSink({"--token", "ingest-t", "--read-token", "read-t"});
  Post("ingest-t");
  const std::string window = "from=" + std::to_string(kT) + "&to=" + std::to_string(kT + 3600000);
  for (const std::string& path : std::vector<std::string>{
           "/api/now", "/api/sessions", "/api/session?id=p1", "/api/concurrency?" + window,
           "/api/users?q=a", "/api/user?id=alice", "/api/stalls"}) {
    EXPECT_EQ(Get(path), 401) << path;
    EXPECT_NE(body_.find("missing credentials"), std::string::npos) << path;
    EXPECT_EQ(Get(path, nullptr, "wrong"), 401) << path;
    EXPECT_EQ(Get(path, nullptr, "read-t"), 200) << path << ": " << body_;
    EXPECT_EQ(Get(path, nullptr, "ingest-t"), 200) << path << ": " << body_;
  }
  EXPECT_EQ(sink_.log().find("read-t"), std::string::npos) << "a token in the log";
}

TEST_F(DashboardE2eTest, NowCountsLiveSessionsAndTraffic) {
  StartSink();
  Post();
  simdjson::dom::element now;
  ASSERT_EQ(Get("/api/now", &now), 200) << body_;
  int64_t live = 0, stalling = 0, ingest = 0;
  for (simdjson::dom::element g : now["live"].get_array()) {
    live += Int(g["sessions"]);
    if (Str(g["state"]) == "stalling") stalling += Int(g["sessions"]);
    if (Str(g["kind"]) == "ingest") ingest += Int(g["sessions"]);
  }
  EXPECT_EQ(live, 4) << body_;  // src1, src2, p2, p3
  EXPECT_EQ(stalling, 1) << body_;
  EXPECT_EQ(ingest, 2) << body_;
  EXPECT_EQ(Int(now["totals"]["events_accepted"]), 19);
  int64_t events = 0, ok = 0;
  for (simdjson::dom::element p : now["traffic"]["points"].get_array()) {
    events += Int(p["events"]);
    ok += Int(p["2xx"]);
  }
  EXPECT_EQ(events, 19) << body_;
  EXPECT_EQ(ok, 1) << body_;
  EXPECT_TRUE(now["kafka"].is_null());
  EXPECT_EQ(Int(now["flush_lag"]["events"]), 0);

  ASSERT_EQ(Get("/api/now?platform=zego", &now), 200);
  EXPECT_EQ(now["live"].get_array().size(), 0u);
}

TEST_F(DashboardE2eTest, TheExplorerFiltersSortsAndPages) {
  StartSink();
  Post();
  simdjson::dom::element page;
  auto ids = [&](const std::string& query) {
    std::vector<std::string> out;
    EXPECT_EQ(Get("/api/sessions" + query, &page), 200) << query << ": " << body_;
    for (simdjson::dom::element s : page["sessions"].get_array()) out.push_back(Str(s["id"]));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("").size(), 6u);
  EXPECT_EQ(ids("?kind=play"), (V{"p2", "p4", "p3", "p1"})) << "latest first";
  EXPECT_EQ(ids("?kind=play&order=asc"), (V{"p1", "p3", "p4", "p2"}));
  EXPECT_EQ(ids("?user=alice"), (V{"p2", "p1"}));
  EXPECT_EQ(ids("?state=live&kind=play"), (V{"p2", "p3"}));
  EXPECT_EQ(ids("?state=stalling"), (V{"p3"}));
  EXPECT_EQ(ids("?ip=10.0.*&kind=play"), (V{"p4", "p3", "p1"}));
  EXPECT_EQ(ids("?ip=10.0.0.5"), (V{"p1"}));
  EXPECT_EQ(ids("?user_agent=chrome"), (V{"p1"})) << "a case-insensitive substring";
  EXPECT_EQ(ids("?proto=dash&media=news24&server=edge1&platform=flussonic"), (V{"p2"}));
  EXPECT_EQ(ids("?sort=watch_ms&order=desc&kind=play"), (V{"p3", "p1", "p2", "p4"}))
      << "open plays watch until their last event; the denied play has none (last)";
  // Paging: the second page of two.
  EXPECT_EQ(ids("?kind=play&limit=2"), (V{"p2", "p4"}));
  EXPECT_TRUE(page["more"].get_bool().value());
  EXPECT_EQ(ids("?kind=play&limit=2&offset=2"), (V{"p3", "p1"}));
  EXPECT_FALSE(page["more"].get_bool().value());
  // The window: sessions overlapping [from, to).
  EXPECT_EQ(ids("?from=" + std::to_string(kT + 21 * kMin) + "&kind=play"), (V{"p2", "p3"}))
      << "p1 ended and p4 was denied before";
  EXPECT_EQ(ids("?to=" + std::to_string(kT + 2 * kMin) + "&kind=play"), (V{"p1"}));
  ASSERT_EQ(ids("?user=alice&limit=1").size(), 1u);
  simdjson::dom::element s = page["sessions"].at(0);
  EXPECT_EQ(Str(s["media"]), "news24");
  EXPECT_EQ(Str(s["state"]), "running");
  EXPECT_EQ(Str(s["source_id"]), "src2");
}

TEST_F(DashboardE2eTest, ATimelineListsTheEventsInTimeOrderWithTheirStates) {
  StartSink();
  Post();
  simdjson::dom::element t;
  ASSERT_EQ(Get("/api/session?id=p1", &t), 200) << body_;
  EXPECT_EQ(Str(t["session"]["state"]), "finished");
  EXPECT_TRUE(t["session"]["merge_state"].error() == simdjson::NO_SUCH_FIELD);
  std::vector<std::string> got;
  int64_t last = 0;
  for (simdjson::dom::element e : t["events"].get_array()) {
    got.push_back(Str(e["event"]) + ">" + Str(e["state"]));
    EXPECT_GE(Int(e["utc_ms"]), last);
    last = Int(e["utc_ms"]);
    EXPECT_NE(Str(e["body"]).find("\"id\":\"p1\""), std::string::npos);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"play_opened>establishing", "play_started>running",
                                           "play_stalled>stalling", "play_updated>stalling",
                                           "play_recovered>running", "play_updated>running",
                                           "play_closed>finished"}));
  EXPECT_TRUE(t["events_complete"].get_bool().value());
  ASSERT_EQ(t["stalls"].get_array().size(), 1u);
  EXPECT_EQ(Int(t["stalls"].at(0)["start_at"]), kT + 10 * kMin + 2000);
  EXPECT_EQ(Int(t["stalls"].at(0)["end_at"]), kT + 10 * kMin + 31000);
  EXPECT_EQ(Str(t["session"]["close_reason"]), "normal");
  EXPECT_EQ(Str(t["source"]["session"]["id"]), "src1");
  ASSERT_EQ(t["source"]["stalls"].get_array().size(), 1u);
  EXPECT_EQ(Int(t["source"]["stalls"].at(0)["start_at"]), kT + 10 * kMin);

  ASSERT_EQ(Get("/api/session?id=p4", &t), 200);
  EXPECT_TRUE(t["source"].is_null()) << "p4 names no source";
  EXPECT_EQ(Get("/api/session?id=nope"), 404);
  EXPECT_NE(body_.find("no session with id 'nope'"), std::string::npos);
}

TEST_F(DashboardE2eTest, ConcurrencyUsersAndStalls) {
  StartSink();
  Post();
  simdjson::dom::element c;
  const std::string window = "from=" + std::to_string(kT) + "&to=" + std::to_string(kT + 60 * kMin);
  ASSERT_EQ(Get("/api/concurrency?" + window + "&now=" + std::to_string(kT + 30 * kMin), &c), 200)
      << body_;
  EXPECT_EQ(Int(c["bucket_ms"]), kMin) << "an hour: 1-minute buckets";
  // Buckets are aligned to the epoch and kT is not: the hour touches 61.
  EXPECT_EQ(c["t"].get_array().size(), 61u);
  EXPECT_EQ(c["peak"].get_array().size(), 61u);
  int64_t peak = 0;
  for (simdjson::dom::element v : c["peak"].get_array()) peak = std::max(peak, Int(v));
  EXPECT_EQ(peak, 3) << "p1, p2 and p3";
  ASSERT_EQ(Get("/api/concurrency?" + window +
                    "&bucket=5m&media=news24&now=" + std::to_string(kT + 30 * kMin),
                &c),
            200);
  EXPECT_EQ(Str(c["media"]), "news24");
  peak = 0;
  for (simdjson::dom::element v : c["peak"].get_array()) peak = std::max(peak, Int(v));
  EXPECT_EQ(peak, 1);

  simdjson::dom::element u;
  ASSERT_EQ(Get("/api/users?q=al", &u), 200) << body_;
  ASSERT_EQ(u.get_array().size(), 1u);
  EXPECT_EQ(Str(u.at(0)["user_id"]), "alice");
  EXPECT_EQ(Int(u.at(0)["sessions"]), 2);
  ASSERT_EQ(Get("/api/users", &u), 200);
  EXPECT_EQ(u.get_array().size(), 3u) << "no prefix: every user";

  ASSERT_EQ(Get("/api/user?id=alice", &u), 200) << body_;
  EXPECT_EQ(Int(u["summary"]["sessions"]), 2);
  EXPECT_EQ(Int(u["summary"]["plays"]), 2);
  EXPECT_EQ(u["networks"].get_array().size(), 2u);
  EXPECT_EQ(u["user_agents"].get_array().size(), 2u);
  EXPECT_EQ(Int(u["sharing"]["overlapping_pairs"]), 1) << body_;
  ASSERT_EQ(Get("/api/user?id=carol", &u), 200);
  EXPECT_TRUE(u["sharing"].is_null());
  ASSERT_EQ(Get("/api/user?id=nobody", &u), 200);
  EXPECT_TRUE(u["summary"].is_null());

  simdjson::dom::element s;
  ASSERT_EQ(Get("/api/stalls", &s), 200) << body_;
  ASSERT_EQ(s.get_array().size(), 2u) << "media rows only";
  EXPECT_EQ(Str(s.at(0)["name"]), "hockey1");
  EXPECT_EQ(Str(s.at(0)["scope"]), "media");
}

TEST_F(DashboardE2eTest, BadParametersAre400) {
  StartSink();
  Post();
  const std::string w = "from=" + std::to_string(kT) + "&to=" + std::to_string(kT + 3600000);
  const std::pair<std::string, std::string> cases[] = {
      {"/api/sessions?limit=0", "limit"},
      {"/api/sessions?limit=501", "limit"},
      {"/api/sessions?limit=ten", "limit"},
      {"/api/sessions?offset=-1", "offset"},
      {"/api/sessions?offset=100001", "offset"},
      {"/api/sessions?sort=id;drop", "sort"},
      {"/api/sessions?order=up", "order"},
      {"/api/sessions?state=broken", "state"},
      {"/api/sessions?kind=movie", "kind"},
      {"/api/sessions?platform=twitch", "platform"},
      {"/api/sessions?from=yesterday", "from"},
      {"/api/sessions?from=2000&to=1000", "from must be earlier"},
      {"/api/sessions?user_agent=" + std::string(1025, 'x'), "user_agent"},
      {"/api/session", "id"},
      {"/api/now?platform=twitch", "platform"},
      {"/api/concurrency", "from and to are required"},
      {"/api/concurrency?" + w + "&bucket=fast", "bucket"},
      {"/api/concurrency?" + w + "&bucket=500ms", "bucket"},
      {"/api/concurrency?from=0&to=" + std::to_string(kT) + "&bucket=1m", "bucket"},
      {"/api/concurrency?" + w + "&now=later", "now"},
      {"/api/users?limit=101", "limit"},
      {"/api/users?q=" + std::string(300, 'u'), "q"},
      {"/api/user", "id"},
      {"/api/user?id=alice&to=never", "to"},
      {"/api/stalls?limit=0", "limit"},
  };
  for (const auto& [path, says] : cases) {
    simdjson::dom::element e;
    EXPECT_EQ(Get(path, &e), 400) << path << ": " << body_;
    EXPECT_NE(Str(e["error"]).find(says), std::string::npos) << path << ": " << body_;
  }
}

TEST_F(DashboardE2eTest, MetricsFollowPrometheusConventions) {
  StartSink();
  Post();
  ASSERT_EQ(Get("/api/now"), 200);
  auto r = cli_->Get("/metrics");
  ASSERT_TRUE(r);
  const std::string& m = r->body;
  EXPECT_NE(m.find("# TYPE sessionsink_http_request_duration_seconds histogram"),
            std::string::npos);
  EXPECT_NE(
      m.find("sessionsink_http_request_duration_seconds_bucket{route=\"events\",le=\"+Inf\"} 1\n"),
      std::string::npos)
      << m;
  EXPECT_NE(m.find("sessionsink_http_request_duration_seconds_count{route=\"dashboard\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sessionsink_commit_duration_seconds_bucket{le=\"0.0005\"} "),
            std::string::npos);
  EXPECT_NE(m.find("sessionsink_commit_duration_seconds_count 1\n"), std::string::npos) << m;
  // Names: base units only, _total only on counters, cumulative buckets.
  std::istringstream lines(m);
  std::string line, histogram;
  uint64_t previous = 0;
  const std::regex type(R"(# TYPE (\S+) (\S+))");
  while (std::getline(lines, line)) {
    std::smatch t;
    if (std::regex_match(line, t, type)) {
      const std::string name = t[1], kind = t[2];
      EXPECT_EQ(name.ends_with("_total"), kind == "counter") << line;
      EXPECT_FALSE(name.ends_with("_ms") || name.ends_with("_us") ||
                   name.find("_ms_") != std::string::npos || name.find("_us_") != std::string::npos)
          << line;
      histogram = kind == "histogram" ? name : "";
      continue;
    }
    if (!histogram.empty() && line.rfind(histogram + "_bucket", 0) == 0) {
      const uint64_t v = std::stoull(line.substr(line.rfind(' ') + 1));
      if (line.find("le=\"0.0005\"") == std::string::npos) {
        EXPECT_GE(v, previous) << line;
      }
      previous = v;
    }
  }
}

}  // namespace
}  // namespace sink
