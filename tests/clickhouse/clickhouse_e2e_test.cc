// Several sinks, one truth: the Kafka → ClickHouse path end to end.
//
// ClickHouse (Debian's 18.16 in CI) started by the test on loopback ports;
// `sessionsink dev-kafka` as the broker; `sessionsink clickhouse init`
// creates the tables. For each golden report case (tests/golden_reports)
// that events alone describe, two real sinks each receive the events of a
// different half of the media servers (of the sessions, where a case has
// one server), shuffled within each request and
// with a request sent twice; sink A is killed with SIGKILL halfway and
// restarted on its database. Then every ClickHouse report equals the
// golden CSV row for row, and no session is counted twice. Also: a session
// posted to two sinks (the deployment rule broken) is shown by the
// split-sessions report and counted once; the fuzz corpus's hostile bodies
// do not stop ClickHouse from consuming the event envelopes.
#include <httplib.h>
#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "query/clickhouse.h"
#include "query/report_sql.h"
#include "tests/clickhouse/clickhouse_server.h"
#include "tests/e2e/sink_process.h"
#include "tests/golden_reports_cases.h"

namespace sink {
namespace {

using namespace golden;  // NOLINT
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kSessionsTopic = "sessionsink.sessions";
constexpr const char* kEnvelopeTopic = "sessionsink.events.ch";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class ClickHouseE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    ch_ = new test::ClickHouseServer();
    ASSERT_TRUE(ch_->Start(dir_->File("ch"))) << ch_->error();
    kafka_ = new test::DevKafkaProcess();
    ASSERT_TRUE(kafka_->Start({"sessionsink.events", kSessionsTopic, kEnvelopeTopic}, 3));
    test::SinkProcess init;
    const std::vector<std::string> args = {
        "clickhouse", "init", "--url", ch_->url(), "--kafka-brokers", kafka_->bootstraps()};
    ASSERT_EQ(init.RunToExit(args), 0) << init.log();
    const std::string first = init.log();
    EXPECT_NE(first.find("created database sessionsink"), std::string::npos) << first;
    EXPECT_NE(first.find("created table sessionsink.sessions_queue"), std::string::npos) << first;
    // Idempotent: the second run creates nothing.
    ASSERT_EQ(init.RunToExit(args), 0) << init.log();
    EXPECT_EQ(init.log().find("created"), std::string::npos) << init.log();
    EXPECT_NE(init.log().find("exists table sessionsink.events_mv"), std::string::npos)
        << init.log();
  }
  static void TearDownTestSuite() {
    delete kafka_;
    delete ch_;
    delete dir_;
  }

  ClickHouseTarget Target() const { return ClickHouseTarget{ch_->url(), "sessionsink"}; }

  std::string Query(const std::string& sql) {
    Result<std::string> r = ClickHouseQuery(Target(), sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? Trim(r.value()) : "";
  }

  // Starts a sink publishing to the broker and the envelope topic.
  void StartSink(test::SinkProcess* p, const std::string& db, const std::string& name) {
    ASSERT_TRUE(
        p->Start({"--db", db, "--kafka-brokers", kafka_->bootstraps(), "--kafka-topic-clickhouse",
                  kEnvelopeTopic, "--sink-name", name, "--session-timeout", "1000000h",
                  "--session-flush", "50ms", "--kafka-flush-timeout", "5s"}))
        << p->log();
  }

  static void Post(const test::SinkProcess& p, const std::string& body) {
    httplib::Client cli("127.0.0.1", p.port());
    cli.set_read_timeout(30, 0);
    auto r = cli.Post("/events", body, "application/json");
    ASSERT_TRUE(r) << "no answer from the sink";
    ASSERT_EQ(r->status, 200) << r->body;
  }

  // Waits until ClickHouse holds, per session id, the latest change_seq of
  // the sinks' databases, and as many event envelopes as they stored.
  void WaitForClickHouse(const std::vector<std::string>& dbs) {
    std::map<std::string, int64_t> want;
    int64_t events = 0;
    for (const std::string& path : dbs) {
      Result<Db> db = Db::Open(path, false, /*read_only=*/true);
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      Result<Stmt> q = db->Prepare("SELECT id, change_seq FROM sessions");
      ASSERT_TRUE(q.ok());
      while (q->Step().value()) {
        int64_t& v = want[std::string(q->Text(0))];
        v = std::max(v, q->Int(1));
      }
      test::ExposeLog(db.value());
      events += db->QueryInt("SELECT count(*) FROM events").value();
    }
    std::string expected;
    for (const auto& [id, seq] : want) expected += id + "\t" + std::to_string(seq) + "\n";
    expected = Trim(expected);
    const auto deadline = SteadyClock::now() + std::chrono::seconds(60);
    std::string got, got_events;
    while (SteadyClock::now() < deadline) {
      got = Query("SELECT id, change_seq FROM sessionsink.sessions FINAL ORDER BY id");
      got_events = Query("SELECT count() FROM sessionsink.events FINAL");
      if (got == expected && got_events == std::to_string(events)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    FAIL() << "ClickHouse did not catch up in 60 s.\nwant:\n"
           << expected << "\ngot:\n"
           << got << "\nevents: want " << events << ", got " << got_events << "\n"
           << ch_->ErrorLog();
  }

  static test::TempDir* dir_;
  static test::ClickHouseServer* ch_;
  static test::DevKafkaProcess* kafka_;
};

test::TempDir* ClickHouseE2eTest::dir_ = nullptr;
test::ClickHouseServer* ClickHouseE2eTest::ch_ = nullptr;
test::DevKafkaProcess* ClickHouseE2eTest::kafka_ = nullptr;

// The events of one body file, each as JSON text with its server.
struct Ev {
  std::string server, session, json;
};

std::vector<Ev> SplitBody(const std::string& text, bool ndjson) {
  std::vector<Ev> out;
  simdjson::dom::parser parser;
  auto add = [&](simdjson::dom::element e) {
    std::string_view server;
    if (e["server"].get(server) != simdjson::SUCCESS) server = "";
    std::string session;
    for (const char* k : {"id", "session_id"}) {
      simdjson::dom::element v;
      if (!session.empty() || e[k].get(v) != simdjson::SUCCESS || v.is_null()) continue;
      std::string_view sv;
      session = v.get(sv) == simdjson::SUCCESS ? std::string(sv) : simdjson::minify(v);
    }
    out.push_back({std::string(server), session, simdjson::minify(e)});
  };
  if (ndjson) {
    simdjson::padded_string p(text);
    simdjson::dom::document_stream docs;
    if (parser.parse_many(p).get(docs) != simdjson::SUCCESS) return out;
    for (auto d : docs) add(d.value());
    return out;
  }
  simdjson::dom::element doc = parser.parse(text);
  if (doc.is_array()) {
    for (simdjson::dom::element e : doc.get_array()) add(e);
  } else {
    add(doc);
  }
  return out;
}

bool ByEventsAlone(const std::string& dir) {
  for (const auto& f : fs::directory_iterator(kDir / dir)) {
    const std::string ext = f.path().extension().string();
    if (ext == ".sql" || ext == ".nginx") return false;
  }
  return true;
}

bool HasClickHouseSql(const std::string& report) {
  for (const ReportSqlFile& f : ClickHouseReportFiles()) {
    if (f.name == report) return true;
  }
  return false;
}

TEST_F(ClickHouseE2eTest, TwoSinksOneTruthOnEveryGoldenCase) {
  std::map<std::string, std::vector<std::string>> cases;  // dir → expected CSVs
  for (const Case& c : ListCases()) {
    if (ByEventsAlone(c.dir) && HasClickHouseSql(c.expected.substr(0, c.expected.find('.')))) {
      cases[c.dir].push_back(c.expected);
    }
  }
  ASSERT_GE(cases.size(), 9u);
  std::mt19937 rng(22);
  int two_sinks = 0;
  for (const auto& [dir, expected] : cases) {
    SCOPED_TRACE(dir);
    Query("TRUNCATE TABLE sessionsink.sessions");
    Query("TRUNCATE TABLE sessionsink.events");
    // Each media server posts to one sink: the servers' halves.
    std::vector<std::string> bodies_a, bodies_b;
    std::vector<fs::path> files;
    for (const auto& f : fs::directory_iterator(kDir / dir)) {
      const std::string ext = f.path().extension().string();
      if (ext == ".json" || ext == ".ndjson") files.push_back(f.path());
    }
    std::sort(files.begin(), files.end());
    // The case's servers in name order, alternately to A and to B. A case
    // with one server stands in for a fleet: its sessions, each as if from
    // a server of its own, go alternately to A and B (every session still
    // reaches one sink only).
    std::map<std::string, bool> to_a_of;
    std::vector<std::vector<Ev>> file_events;
    std::set<std::string> servers;
    for (const fs::path& f : files) {
      file_events.push_back(SplitBody(test::ReadFile(f), f.extension() == ".ndjson"));
      for (const Ev& e : file_events.back()) servers.insert(e.server);
    }
    const bool by_server = servers.size() > 1;
    auto origin = [by_server](const Ev& e) { return by_server ? e.server : e.session; };
    for (const std::vector<Ev>& evs : file_events) {
      for (const Ev& e : evs) to_a_of[origin(e)] = false;
    }
    bool next_a = true;
    for (auto& [server, to_a] : to_a_of) {
      to_a = next_a;
      next_a = !next_a;
    }
    for (std::vector<Ev>& evs : file_events) {
      std::shuffle(evs.begin(), evs.end(), rng);
      // Requests of up to 4 events, so that A is killed between requests.
      std::string a = "[", b = "[";
      auto close = [](std::string* body, std::vector<std::string>* to) {
        if (body->size() > 1) to->push_back(*body + "]");
        *body = "[";
      };
      int na = 0, nb = 0;
      for (const Ev& e : evs) {
        const bool to_a = to_a_of[origin(e)];
        std::string& body = to_a ? a : b;
        if (body.size() > 1) body += ",";
        body += e.json;
        if (++(to_a ? na : nb) % 4 == 0) close(&body, to_a ? &bodies_a : &bodies_b);
      }
      close(&a, &bodies_a);
      close(&b, &bodies_b);
    }
    const std::string db_a = dir_->File(dir + "_a.db"), db_b = dir_->File(dir + "_b.db");
    test::SinkProcess a, b;
    StartSink(&a, db_a, "sink-a");
    StartSink(&b, db_b, "sink-b");
    // A gets its first half, is killed, restarts and gets the rest; each
    // sink gets its first request twice.
    ASSERT_FALSE(bodies_a.empty());
    if (to_a_of.size() > 1) ++two_sinks;
    const size_t half = (bodies_a.size() + 1) / 2;
    for (size_t i = 0; i < half; ++i) Post(a, bodies_a[i]);
    ASSERT_EQ(a.Stop(SIGKILL), 128 + SIGKILL);
    StartSink(&a, db_a, "sink-a");
    for (size_t i = half; i < bodies_a.size(); ++i) Post(a, bodies_a[i]);
    for (const std::string& body : bodies_b) Post(b, body);
    if (!bodies_a.empty()) Post(a, bodies_a.front());
    if (!bodies_b.empty()) Post(b, bodies_b.front());
    ASSERT_TRUE(a.Flush());
    ASSERT_TRUE(b.Flush());
    WaitForClickHouse({db_a, db_b});
    if (HasFailure()) return;
    // No session counted twice, none split between the sinks.
    EXPECT_EQ(Query("SELECT count() = uniqExact(id) FROM sessionsink.sessions FINAL"), "1");
    ReportRequest split;
    split.name = "split-sessions";
    split.format = "csv";
    Result<std::string> s = RunClickHouseReportText(Target(), split);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(Normalize(s.value()).find('\n'), std::string::npos) << s.value();
    for (const std::string& csv : expected) {
      SCOPED_TRACE(csv);
      ReportRequest r = ReadRequest(kDir / dir / csv);
      Result<std::string> got = RunClickHouseReportText(Target(), r);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(Normalize(got.value()), Normalize(test::ReadFile(kDir / dir / csv)));
    }
    a.Stop(SIGTERM);
    b.Stop(SIGTERM);
  }
  // Both sinks took part in every case.
  EXPECT_EQ(two_sinks, static_cast<int>(cases.size()));
}

// The deployment rule broken: one session's events reach two sinks. Each
// sink computes a partial row; ClickHouse keeps one row per id (counted
// once) and split-sessions names the session and both sinks.
TEST_F(ClickHouseE2eTest, SessionSeenFromTwoSinksIsShownNotDoubleCounted) {
  Query("TRUNCATE TABLE sessionsink.sessions");
  Query("TRUNCATE TABLE sessionsink.events");
  const std::string db_a = dir_->File("split_a.db"), db_b = dir_->File("split_b.db");
  test::SinkProcess a, b;
  StartSink(&a, db_a, "sink-a");
  StartSink(&b, db_b, "sink-b");
  Post(a, R"([{"event":"play_opened","id":"x1","server":"e1","media":"m","utc_ms":1700000000000},
              {"event":"play_started","id":"x1","server":"e1","media":"m","utc_ms":1700000001000},
              {"event":"play_opened","id":"ok1","server":"e1","media":"m","utc_ms":1700000000000}])");
  Post(b,
       R"([{"event":"play_closed","id":"x1","server":"e1","media":"m","utc_ms":1700000060000}])");
  ASSERT_TRUE(a.Flush());
  ASSERT_TRUE(b.Flush());
  WaitForClickHouse({db_a, db_b});
  if (HasFailure()) return;
  EXPECT_EQ(Query("SELECT count() FROM sessionsink.sessions FINAL WHERE id = 'x1'"), "1");
  ReportRequest split;
  split.name = "split-sessions";
  split.format = "csv";
  Result<std::string> s = RunClickHouseReportText(Target(), split);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Normalize(s.value()),
            "session_id,sinks,sink_names,events,first_utc_ms,last_utc_ms\n"
            "x1,2,sink-a sink-b,3,1700000000000,1700000060000");
  // A sink serving the fleet's reports (--reports-from) answers from ClickHouse.
  test::SinkProcess c;
  ASSERT_TRUE(c.Start({"--db", dir_->File("split_c.db"), "--reports-from", ch_->url()})) << c.log();
  httplib::Client cli("127.0.0.1", c.port());
  auto r = cli.Get("/reports/split-sessions?format=csv");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Normalize(r->body), Normalize(s.value()));
  r = cli.Get("/reports/media?format=csv&now=1700000100000");
  ASSERT_TRUE(r);
  ReportRequest media;
  media.name = "media";
  media.format = "csv";
  media.now = "1700000100000";
  Result<std::string> want = RunClickHouseReportText(Target(), media);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  EXPECT_EQ(r->body, want.value());
  EXPECT_NE(want.value().find("\nm,2,"), std::string::npos)
      << want.value();  // x1 and ok1, once each
}

// One dashboard for the fleet: the golden cases of the media, per-user
// and sharing reports, each session posted to one of two sinks (A, B).
// A third sink with an empty file, pointed at ClickHouse with
// --reports-from, answers the dashboard's API as one sink that received
// every event does (R, no Kafka): the same live sessions, concurrency
// series, stalls, users, user pages and explorer rows. Answers say where
// they come from; the timeline, which is not on ClickHouse, says so.
TEST_F(ClickHouseE2eTest, DashboardFromClickHouseShowsTheFleet) {
  Query("TRUNCATE TABLE sessionsink.sessions");
  Query("TRUNCATE TABLE sessionsink.events");
  std::string all = "[", to_a = "[", to_b = "[";
  auto add = [](std::string* body, const std::string& json) {
    if (body->size() > 1) *body += ",";
    *body += json;
  };
  for (const char* dir : {"media", "per_user", "sharing"}) {
    for (const auto& f : fs::directory_iterator(kDir / dir)) {
      if (f.path().extension() != ".json") continue;
      for (const Ev& e : SplitBody(test::ReadFile(f.path()), false)) {
        add(&all, e.json);
        add(std::hash<std::string>()(e.session) % 2 ? &to_a : &to_b, e.json);
      }
    }
  }
  const std::string db_a = dir_->File("dash_a.db"), db_b = dir_->File("dash_b.db");
  test::SinkProcess a, b, ref, fleet;
  StartSink(&a, db_a, "sink-a");
  StartSink(&b, db_b, "sink-b");
  Post(a, to_a + "]");
  Post(b, to_b + "]");
  ASSERT_TRUE(ref.Start({"--db", dir_->File("dash_ref.db"), "--session-timeout", "1000000h"}))
      << ref.log();
  Post(ref, all + "]");
  ASSERT_TRUE(a.Flush());
  ASSERT_TRUE(b.Flush());
  ASSERT_TRUE(ref.Flush());
  WaitForClickHouse({db_a, db_b});
  if (HasFailure()) return;
  ASSERT_TRUE(fleet.Start({"--db", dir_->File("dash_fleet.db"), "--reports-from", ch_->url()}))
      << fleet.log();

  auto get = [](const test::SinkProcess& p, const std::string& path, int want = 200) {
    httplib::Client cli("127.0.0.1", p.port());
    cli.set_read_timeout(30, 0);
    auto r = cli.Get(path.c_str());
    EXPECT_TRUE(r) << path;
    if (!r) return std::pair<std::string, std::string>();
    EXPECT_EQ(r->status, want) << path << ": " << r->body;
    return std::pair(r->body, r->get_header_value("Sessionsink-Data-Source"));
  };
  // The same answer from the fleet's ClickHouse as from the reference sink.
  auto same = [&](const std::string& path) {
    SCOPED_TRACE(path);
    auto [want, want_source] = get(ref, path);
    auto [got, got_source] = get(fleet, path);
    EXPECT_EQ(want_source, "local");
    EXPECT_EQ(got_source, "clickhouse");
    EXPECT_EQ(got, want);
    return got;
  };
  const std::string w = "from=1700000000000&to=1700086400000&now=1700013600000";
  const std::string users = same("/api/users?" + w + "&limit=100");
  EXPECT_NE(users.find("\"alice\""), std::string::npos) << users;
  same("/api/users?q=a&" + w);
  for (const char* u : {"alice", "u1", "bob", "cat", "dave", "fay", "nobody"}) {
    same(std::string("/api/user?id=") + u + "&" + w);
  }
  const std::string conc = same("/api/concurrency?" + w + "&bucket=15m");
  EXPECT_NE(conc.find("\"peak\":[0,"), std::string::npos) << conc;
  same("/api/concurrency?" + w + "&media=ch_a");
  const std::string stalls = same("/api/stalls?" + w);
  EXPECT_NE(stalls.find("ch_a"), std::string::npos) << stalls;
  // The explorer: the same rows, in the same order where the sort key
  // has no ties (ties are broken by id on ClickHouse, by arrival in a file).
  same("/api/sessions?" + w + "&sort=last_event_at&limit=3&offset=2");
  auto rows = [](const std::string& page) {
    std::multiset<std::string> out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(page);
    for (simdjson::dom::element s : doc["sessions"].get_array()) out.insert(simdjson::minify(s));
    return out;
  };
  for (const char* q : {"&limit=500", "&kind=play&sort=stalled_ms&limit=500",
                        "&user=alice&sort=media&order=asc", "&ip=10.0.0.*&state=finished",
                        "&state=live&user_agent=", "&server=edge2&platform=flussonic"}) {
    SCOPED_TRACE(q);
    const std::string page = get(fleet, "/api/sessions?" + w + q).first;
    EXPECT_EQ(rows(page), rows(get(ref, "/api/sessions?" + w + q).first));
    EXPECT_FALSE(rows(page).empty());
  }
  EXPECT_GE(rows(get(fleet, "/api/sessions?limit=500&" + w).first).size(), 30u);

  // /api/now: the live sessions are the fleet's; what stays local is listed.
  auto live = [](const std::string& now) {
    simdjson::dom::parser parser;
    return simdjson::minify(parser.parse(now)["live"]);
  };
  const auto [fleet_now, fleet_source] = get(fleet, "/api/now");
  EXPECT_EQ(fleet_source, "clickhouse");
  EXPECT_EQ(live(fleet_now), live(get(ref, "/api/now").first));
  EXPECT_NE(fleet_now.find("\"fleet\":{\"source\":\"clickhouse\",\"database\":\"sessionsink\","
                           "\"local_only\":[{\"panel\":\"traffic\""),
            std::string::npos)
      << fleet_now;
  EXPECT_NE(get(ref, "/api/now").first.find("\"fleet\":null"), std::string::npos);
  // The timeline is this sink's own, and says so.
  const auto [missing, timeline_source] = get(fleet, "/api/session?id=a1", 404);
  EXPECT_EQ(timeline_source, "local");
  EXPECT_NE(missing.find("the timeline is not on ClickHouse"), std::string::npos) << missing;
  // A report ClickHouse does not have is answered from the file, and says so.
  EXPECT_EQ(get(fleet, "/reports/media?" + w).second, "clickhouse");
  EXPECT_EQ(get(fleet, "/reports/servers").second, "local");
  a.Stop(SIGTERM);
  b.Stop(SIGTERM);
}

// Whatever the media servers send, what ClickHouse reads parses: every
// body of the fuzz corpus goes through a sink, and the envelope table
// keeps consuming (every stored event arrives, and a last good one too).
TEST_F(ClickHouseE2eTest, HostileBodiesDoNotStallTheEventsTable) {
  Query("TRUNCATE TABLE sessionsink.sessions");
  Query("TRUNCATE TABLE sessionsink.events");
  const std::string db = dir_->File("hostile.db");
  test::SinkProcess p;
  StartSink(&p, db, "sink-h");
  httplib::Client cli("127.0.0.1", p.port());
  cli.set_read_timeout(30, 0);
  int posted = 0;
  for (const auto& f : fs::directory_iterator(fs::path(SINK_SOURCE_DIR) / "tests/fuzz/corpus")) {
    auto r = cli.Post("/events", test::ReadFile(f.path()), "application/json");
    ASSERT_TRUE(r);
    ++posted;
  }
  ASSERT_GT(posted, 20);
  Post(p, R"({"event":"play_opened","id":"last-good","server":"e9","utc_ms":1700000000000})");
  ASSERT_TRUE(p.Flush());
  WaitForClickHouse({db});
  if (HasFailure()) return;
  EXPECT_EQ(Query("SELECT count() FROM sessionsink.events WHERE session_id = 'last-good' "
                  "AND event = 'play_opened' AND sink = 'sink-h'"),
            "1");
}

}  // namespace
}  // namespace sink
