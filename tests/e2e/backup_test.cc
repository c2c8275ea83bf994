// `sessionsink backup` beside a sink under load, and `sessionsink events`:
// the copy is sound, holds every event acknowledged before the backup
// began, a sink starts on it, and its sessions equal a rebuild from its
// events; the export prints those events one JSON object a line.
#include <httplib.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using Clock = std::chrono::steady_clock;

const char* kSessionColumns =
    "SELECT id, kind, state, opened_at, started_at, closed_at, stall_count, stalled_ms, "
    "event_count, bytes, close_reason FROM sessions ORDER BY id";

// Event `n` of one of 200 sessions: every event distinct (its own event_id
// and utc_ms); a session's lifecycle follows n.
std::string EventJson(int64_t n) {
  static const char* kNames[] = {"play_opened",  "play_started",   "play_updated", "play_updated",
                                 "play_stalled", "play_recovered", "play_updated", "play_closed"};
  const int64_t session = n % 200, step = (n / 200) % 8;
  return std::string(R"({"event":")") + kNames[step] + R"(","event_id":)" + std::to_string(n) +
         R"(,"utc_ms":)" + std::to_string(1767225600000 + n) + R"(,"server":"edge-)" +
         std::to_string(session % 3) + R"(","id":"s-)" + std::to_string(session) +
         R"(","type":"play","media":"m)" + std::to_string(session % 7) + R"(","bytes":)" +
         std::to_string(n * 1000) + "}";
}

// Posts 100-event batches until stopped; remembers when each was acknowledged.
class Load {
 public:
  explicit Load(int port) : port_(port) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Event numbers acknowledged before `t`.
  std::vector<int64_t> AckedBefore(Clock::time_point t) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<int64_t> out;
    for (const auto& [at, first] : acks_) {
      if (at >= t) continue;
      for (int64_t n = first; n < first + 100; ++n) out.push_back(n);
    }
    return out;
  }
  int64_t failures() const { return failures_; }
  int64_t batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(acks_.size());
  }

 private:
  void Run() {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_read_timeout(30, 0);
    for (int64_t first = 0; !stop_; first += 100) {
      std::string body = "[";
      for (int64_t n = first; n < first + 100; ++n) {
        if (n > first) body += ',';
        body += EventJson(n);
      }
      body += ']';
      auto r = cli.Post("/events", body, "application/json");
      if (!r || r->status != 200) {
        ++failures_;
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      acks_.emplace_back(Clock::now(), first);
    }
  }
  const int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> failures_{0};
  std::mutex mu_;
  std::vector<std::pair<Clock::time_point, int64_t>> acks_;  // guarded by mu_
  std::thread thread_;
};

TEST(BackupTest, ACopyTakenUnderLoadIsSoundCompleteAndServes) {
  test::TempDir dir;
  const std::string db = dir.File("sessions.db");
  test::SinkProcess sink;
  ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
  Load load(sink.port());
  while (load.batches() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  const auto began = Clock::now();
  test::SinkProcess tool;
  const std::string out = dir.File("backup");
  ASSERT_EQ(tool.RunToExit({"backup", "--db", db, "--out", out}), 0) << tool.log();
  EXPECT_NE(tool.log().find("restore: sessionsink serve --db " + out + "/sessions.db"),
            std::string::npos)
      << tool.log();
  while (load.batches() < 80) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  load.Stop();
  EXPECT_EQ(load.failures(), 0);
  ASSERT_EQ(sink.Stop(SIGTERM), 0) << sink.log();

  // A second backup into the same directory is refused, not mixed in.
  test::SinkProcess again;
  EXPECT_EQ(again.RunToExit({"backup", "--db", db, "--out", out}), 2) << again.log();
  EXPECT_NE(again.log().find("not empty"), std::string::npos) << again.log();

  const std::string copy = out + "/sessions.db";
  EXPECT_EQ(test::QueryRows(copy, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});

  // Every event acknowledged before the backup began is in the copy, once:
  // read through `sessionsink events`, one JSON object a line.
  test::SinkProcess events;
  ASSERT_EQ(events.RunToExit({"events", "--db", copy}), 0);
  std::set<int64_t> in_copy;
  std::vector<std::string> bodies;
  simdjson::dom::parser parser;
  const std::string text = events.log();
  for (size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    const std::string line = text.substr(start, nl - start);
    simdjson::dom::object o;
    ASSERT_EQ(parser.parse(line).get(o), simdjson::SUCCESS) << line;
    int64_t id;
    ASSERT_EQ(o["event_id"].get(id), simdjson::SUCCESS) << line;
    EXPECT_TRUE(in_copy.insert(id).second) << "stored twice: " << id;
    bodies.push_back(line);
  }
  const std::vector<int64_t> acked = load.AckedBefore(began);
  ASSERT_GE(acked.size(), 5000u);
  size_t missing = 0;
  for (int64_t n : acked) missing += in_copy.count(n) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged before the backup began";
  test::SinkProcess count;
  ASSERT_EQ(count.RunToExit({"events", "--db", copy, "--count"}), 0);
  EXPECT_EQ(count.log(), std::to_string(in_copy.size()) + "\n");

  // Restore: a sink starts on the copy and writes its sessions.
  test::SinkProcess restored;
  ASSERT_TRUE(restored.Start({"--db", copy})) << restored.log();
  ASSERT_TRUE(restored.Flush());
  ASSERT_EQ(restored.Stop(SIGTERM), 0) << restored.log();

  // Its sessions equal what a fresh sink makes of the copy's events.
  const std::string rebuild_db = dir.File("rebuild.db");
  test::SinkProcess fresh;
  ASSERT_TRUE(fresh.Start({"--db", rebuild_db})) << fresh.log();
  httplib::Client cli("127.0.0.1", fresh.port());
  cli.set_read_timeout(30, 0);
  for (size_t i = 0; i < bodies.size(); i += 1000) {
    std::string body;
    for (size_t j = i; j < std::min(bodies.size(), i + 1000); ++j) body += bodies[j] + "\n";
    auto r = cli.Post("/events", body, "application/x-ndjson");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
  }
  ASSERT_EQ(fresh.Stop(SIGTERM), 0) << fresh.log();
  const std::vector<std::string> got = test::QueryRows(copy, kSessionColumns);
  EXPECT_EQ(got.size(), 200u);
  EXPECT_EQ(got, test::QueryRows(rebuild_db, kSessionColumns));
}

TEST(BackupTest, EventsFiltersAndErrorsAsAnOperatorSeesThem) {
  test::TempDir dir;
  const std::string db = dir.File("sessions.db");
  test::SinkProcess sink;
  ASSERT_TRUE(sink.Start({"--db", db})) << sink.log();
  httplib::Client cli("127.0.0.1", sink.port());
  std::string body = "[";
  for (int64_t n = 0; n < 400; ++n) body += (n ? "," : "") + EventJson(n);
  body += "]";
  auto r = cli.Post("/events", body, "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;

  // Beside the running sink: session s-7 has events 7, 207.
  test::SinkProcess one;
  ASSERT_EQ(one.RunToExit({"events", "--db", db, "--session", "s-7"}), 0) << one.log();
  EXPECT_EQ(one.log(), EventJson(7) + "\n" + EventJson(207) + "\n");
  test::SinkProcess window;
  ASSERT_EQ(window.RunToExit({"events", "--db", db, "--server", "edge-1", "--from", "1767225600100",
                              "--to", "2026-01-01T00:00:00.200Z", "--count"}),
            0)
      << window.log();
  EXPECT_EQ(window.log(), "34\n");  // n in [100, 200) with n % 3 == 1: 100, 103, …, 199

  test::SinkProcess bad;
  EXPECT_EQ(bad.RunToExit({"events", "--db", db, "--from", "soon"}), 2);
  EXPECT_NE(bad.log().find("--from"), std::string::npos) << bad.log();
  test::SinkProcess none;
  EXPECT_EQ(none.RunToExit({"events", "--db", dir.File("nothing.db")}), 1);
  EXPECT_NE(none.log().find("nothing.db"), std::string::npos) << none.log();
  ASSERT_EQ(sink.Stop(SIGTERM), 0) << sink.log();
}

}  // namespace
}  // namespace sink
