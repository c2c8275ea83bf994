// Upgrade in place: a database the previous release wrote (schema 7, the
// events in the main file, five of them after the sessions watermark when
// it was killed: tests/upgrade/README.md) is opened by today's sink. The
// events move to the log's first segment unchanged, the main file keeps the
// sessions, the dead letter and the stream-level events, the events after
// the watermark are replayed, and the sessions equal those of a fresh sink
// that received the same requests.
#include <httplib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

// What the fixture's sink received, in order (tests/upgrade/README.md).
const std::vector<std::string> kRequests = {
    "golden/multi_server_resent_and_late_batches/01_edge1_batch.json",
    "golden/multi_server_resent_and_late_batches/02_edge2_batch.json",
    "golden/multi_server_resent_and_late_batches/03_edge1_batch_resent.json",
    "golden/multi_server_resent_and_late_batches/04_edge1_closes.json",
    "golden/flussonic_21_stream_events/01_captured.ndjson",
    "",  // the dead letter
    "golden/multi_server_resent_and_late_batches/05_edge1_late_updates.json",
    "golden/multi_server_resent_and_late_batches/06_edge2_batch2_with_resends.json",
    "golden/flussonic_21_stream_events/02_resent.ndjson",
};

// Columns a session's events decide (not the sink's clock or write order).
const char* kSessions =
    "SELECT id, kind, state, server, media, source_id, user_id, token, ip, proto, country, "
    "opened_at, started_at, closed_at, bytes, duration_ms, stall_count, stalled_ms, close_reason, "
    "event_count, last_event_at, platform, end_class FROM sessions ORDER BY id";
const char* kEvents =
    "SELECT seq, received_at, server, event, kind, phase, session_id, utc_ms, event_id, dedup, "
    "body, coalesce(platform, '') FROM events ORDER BY seq";
const char* kStreamEvents =
    "SELECT seq, received_at, server, event, utc_ms, body FROM events WHERE event IN "
    "('source_lost', 'source_ready', 'stream_started', 'stream_stopped') ORDER BY seq";

TEST(UpgradeTest, AFileThePreviousReleaseWroteIsUpgradedInPlace) {
  test::TempDir tmp;
  const std::string old_db = tmp.File("sessions.db");
  std::filesystem::copy_file(SINK_SOURCE_DIR "/tests/upgrade/schema7.db", old_db);
  ASSERT_EQ(test::QueryRows(old_db, "PRAGMA user_version")[0], "7");
  const std::vector<std::string> events = test::QueryRows(old_db, kEvents);
  const std::vector<std::string> streams = test::QueryRows(old_db, kStreamEvents);
  const std::vector<std::string> rejected =
      test::QueryRows(old_db, "SELECT received_at, remote_addr, reason, body FROM rejected");
  ASSERT_EQ(events.size(), 25u);
  ASSERT_EQ(test::QueryRows(old_db, "SELECT value FROM store_state")[0], "20");

  const std::vector<std::string> flags = {"--session-timeout", "1000d"};
  test::SinkProcess sink;
  std::vector<std::string> args = {"--db", old_db};
  args.insert(args.end(), flags.begin(), flags.end());
  ASSERT_TRUE(sink.Start(args)) << sink.log();
  ASSERT_TRUE(sink.Flush());
  EXPECT_EQ(test::QueryRows(old_db, "PRAGMA user_version")[0], "8");
  EXPECT_EQ(test::QueryRows(old_db, "SELECT count(*) FROM sqlite_master WHERE name = 'events'")[0],
            "0")
      << "the events left the main file";
  EXPECT_TRUE(std::filesystem::exists(tmp.File("sessions.db.events/seg-00000001.db")));
  EXPECT_EQ(test::QueryRows(old_db, kEvents), events) << "every event moved as it was";
  EXPECT_EQ(test::QueryRows(old_db,
                            "SELECT seq, received_at, server, event, utc_ms, body FROM "
                            "stream_events ORDER BY seq"),
            streams);
  EXPECT_EQ(test::QueryRows(old_db, "SELECT received_at, remote_addr, reason, body FROM rejected"),
            rejected);
  EXPECT_EQ(test::QueryRows(old_db, "SELECT value FROM store_state")[0], "25")
      << "the events after the watermark were replayed";

  // The same requests, posted to a fresh sink.
  const std::string fresh_db = tmp.File("fresh.db");
  test::SinkProcess fresh;
  args = {"--db", fresh_db};
  args.insert(args.end(), flags.begin(), flags.end());
  ASSERT_TRUE(fresh.Start(args)) << fresh.log();
  httplib::Client cli("127.0.0.1", fresh.port());
  for (const std::string& f : kRequests) {
    const std::string body =
        f.empty() ? "not json at all" : test::ReadFile(SINK_SOURCE_DIR "/tests/" + f);
    auto r = cli.Post("/events", body, "application/json");
    ASSERT_TRUE(r);
  }
  ASSERT_TRUE(fresh.Flush());
  EXPECT_EQ(test::QueryRows(old_db, kSessions), test::QueryRows(fresh_db, kSessions));
  EXPECT_EQ(test::QueryRows(old_db, "SELECT server, events, duplicates, rejected FROM servers"),
            test::QueryRows(fresh_db, "SELECT server, events, duplicates, rejected FROM servers"));

  // New events continue the log after the old ones.
  httplib::Client up("127.0.0.1", sink.port());
  auto r =
      up.Post("/events", R"({"event":"play_opened","id":"after-upgrade","utc_ms":1700000999000})",
              "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(test::QueryRows(old_db, "SELECT max(seq), count(*) FROM events")[0], "26\t26");
  EXPECT_EQ(sink.Stop(SIGTERM), 0) << sink.log();
  EXPECT_EQ(fresh.Stop(SIGTERM), 0) << fresh.log();
}

}  // namespace
}  // namespace sink
