// The writer on a real SQLite file: group commit, dedup, merge across
// commits and reopen, the sink's own closes, and every failure answer.
#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

#include "ingest/platforms/platforms.h"
#include "store/schema.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kNow = 1800000000000;
constexpr int64_t kT0 = 1637094994000;

Event Ev(const std::string& name, Phase phase, const std::string& id, int64_t utc_ms,
         const std::string& server = "edge1") {
  Event e;
  e.name = name;
  e.kind = name.substr(0, name.find('_'));
  e.kind_explicit = true;
  e.phase = phase;
  e.id = id;
  e.server = server;
  e.utc_ms = utc_ms;
  e.body = "{\"event\":\"" + name + "\",\"id\":\"" + id +
           "\",\"utc_ms\":" + std::to_string(utc_ms) + "}";
  return e;
}

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // Closes the writer (if open) and opens the same file again.
  void Reopen(WriterOptions o = {}) {
    writer_.reset();
    o.db_path = path_;
    o.reparse = ReparseStoredEvent;
    if (o.session_timeout_ms == WriterOptions{}.session_timeout_ms) o.session_timeout_ms = 60000;
    auto w = Writer::Open(o, &clock_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w.value());
  }

  // Commits a batch, then writes the sessions (FlushNow) so that the rows
  // can be read; WriteOnly leaves them in memory.
  Result<WriteOutcome> Write(std::vector<Event> events, std::vector<Reject> rejects = {}) {
    Result<WriteOutcome> o = WriteOnly(std::move(events), std::move(rejects));
    if (o.ok()) EXPECT_OK(writer_->FlushNow());
    return o;
  }
  Result<WriteOutcome> WriteOnly(std::vector<Event> events, std::vector<Reject> rejects = {}) {
    WriteBatch b;
    b.received_at = clock_.NowMs();
    b.remote_addr = "192.0.2.1";
    b.events = std::move(events);
    b.rejects = std::move(rejects);
    auto f = writer_->Submit(std::move(b));
    if (!f.ok()) return f.status();
    return f->get();
  }

  std::vector<std::string> Rows(const std::string& sql) { return test::QueryRows(path_, sql); }
  // The open segment of the event log (the newest file).
  std::string OpenSegment() const {
    Result<std::vector<int64_t>> ids = ListSegments(SegmentDir(path_));
    EXPECT_TRUE(ids.ok() && !ids->empty());
    return SegmentPath(SegmentDir(path_), ids.ok() && !ids->empty() ? ids->back() : 1);
  }
  std::string One(const std::string& sql) {
    auto r = Rows(sql);
    return r.empty() ? "<no row>" : r[0];
  }

  test::TempDir tmp_;
  std::string path_ = tmp_.File("sessions.db");
  FakeClock clock_{kNow};
  std::unique_ptr<Writer> writer_;
};

TEST_F(WriterTest, StoresEventsInOrderWithBodyVerbatim) {
  Result<WriteOutcome> o = Write({Ev("play_opened", Phase::kOpened, "a", kT0),
                                  Ev("play_started", Phase::kStarted, "a", kT0 + 900)});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->accepted, 2);
  EXPECT_EQ(Rows("SELECT seq, event, kind, phase, session_id, utc_ms, received_at FROM events"),
            (std::vector<std::string>{
                "1\tplay_opened\tplay\topened\ta\t1637094994000\t1800000000000",
                "2\tplay_started\tplay\tstarted\ta\t1637094994900\t1800000000000"}));
  EXPECT_EQ(One("SELECT body FROM events WHERE seq = 1"),
            R"({"event":"play_opened","id":"a","utc_ms":1637094994000})");
  EXPECT_EQ(One("SELECT state, opened_at, started_at, event_count FROM sessions"),
            "running\t1637094994000\t1637094994900\t2");
}

TEST_F(WriterTest, DuplicatesAreCountedAndChangeNothing) {
  Event a = Ev("play_opened", Phase::kOpened, "a", kT0);
  a.event_id = 7;
  ASSERT_TRUE(Write({a}).ok());
  const std::string before = One("SELECT * FROM sessions");
  // Resent alone, and twice within one request.
  Result<WriteOutcome> o = Write({a, a, Ev("play_started", Phase::kStarted, "a", kT0 + 5)});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->accepted, 1);
  EXPECT_EQ(o->duplicates, 2);
  EXPECT_EQ(One("SELECT count(*) FROM events"), "2");
  EXPECT_EQ(One("SELECT event_count FROM sessions"), "2");
  EXPECT_EQ(One("SELECT events, duplicates FROM servers WHERE server = 'edge1'"), "2\t2");
  // Same key but a different event_id, or another server: distinct events.
  Event b = a;
  b.event_id = 8;
  Event c = a;
  c.server = "edge2";
  o = Write({b, c});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->accepted, 2);
  EXPECT_EQ(One("SELECT count(*) FROM events"), "4");
  (void)before;
}

TEST_F(WriterTest, MissingFieldsTakePartInTheDedupKey) {
  Event a = Ev("server_started", Phase::kNone, "", kT0);
  a.kind.clear();
  a.id.reset();
  a.utc_ms.reset();
  Result<WriteOutcome> o = Write({a, a});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->accepted, 1);
  EXPECT_EQ(o->duplicates, 1);
}

TEST_F(WriterTest, RejectsAreKeptWithReason) {
  Result<WriteOutcome> o =
      Write({Ev("play_opened", Phase::kOpened, "a", kT0)},
            {Reject{3, "missing \"event\" field", R"({"id":"x"})", std::string("edge1")},
             Reject{-1, "invalid JSON", "[{", std::nullopt}});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->rejected, 2);
  EXPECT_EQ(
      Rows("SELECT remote_addr, reason, item_index, server, body FROM rejected ORDER BY id"),
      (std::vector<std::string>{"192.0.2.1\tmissing \"event\" field\t3\tedge1\t{\"id\":\"x\"}",
                                "192.0.2.1\tinvalid JSON\tNULL\tNULL\t[{"}));
}

TEST_F(WriterTest, MigrationSetsUserVersionAndReopenKeepsData) {
  ASSERT_TRUE(Write({Ev("play_opened", Phase::kOpened, "a", kT0)}).ok());
  EXPECT_EQ(One("PRAGMA user_version"), std::to_string(Migrations().back().version));
  EXPECT_EQ(One("PRAGMA journal_mode"), "wal");
  Reopen();
  ASSERT_TRUE(Write({Ev("play_closed", Phase::kClosed, "a", kT0 + 10)}).ok());
  EXPECT_EQ(One("SELECT state, event_count FROM sessions"), "finished\t2");
  EXPECT_EQ(One("SELECT count(*) FROM events"), "2");
}

TEST_F(WriterTest, RefusesADatabaseFromANewerVersion) {
  writer_.reset();
  {
    Result<Db> db = Db::Open(path_, false);
    ASSERT_TRUE(db.ok());
    ASSERT_OK(db->Exec("PRAGMA user_version = 99"));
  }
  WriterOptions o;
  o.db_path = path_;
  auto w = Writer::Open(o, &clock_);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("newer"), std::string::npos) << w.status().message();
}

TEST_F(WriterTest, MergeAcrossCommitsAndReopenEqualsOneCommit) {
  std::mt19937 rng(42);
  std::vector<Event> events;
  for (int i = 0; i < 40; ++i) {
    std::vector<Event> l = test::Lifecycle(rng, "s" + std::to_string(i));
    events.insert(events.end(), l.begin(), l.end());
  }
  ASSERT_TRUE(Write(events).ok());
  const std::string cols =
      "id, kind, state, server, media, user_id, ip, opened_at, authorized_at, started_at, "
      "updated_at, closed_at, bytes, duration_ms, stall_count, stalled_ms, denied, close_reason, "
      "event_count, last_event_at";
  const std::vector<std::string> want = Rows("SELECT " + cols + " FROM sessions ORDER BY id");
  ASSERT_EQ(want.size(), 40u);

  // Again into a new file: shuffled, with duplicates, one event per commit,
  // reopening the database every 50 events.
  path_ = tmp_.File("again.db");
  Reopen();
  std::vector<Event> replay = events;
  for (const Event& e : events) {
    if (rng() % 4 == 0) replay.push_back(e);
  }
  std::shuffle(replay.begin(), replay.end(), rng);
  for (size_t i = 0; i < replay.size(); ++i) {
    ASSERT_TRUE(Write({replay[i]}).ok());
    if (i % 50 == 49) Reopen();
  }
  EXPECT_EQ(Rows("SELECT " + cols + " FROM sessions ORDER BY id"), want);
  EXPECT_EQ(One("SELECT count(*) FROM events"), std::to_string(events.size()));
}

TEST_F(WriterTest, ConcurrentRequestsShareCommits) {
  // Hold the log's write lock from another connection so requests pile up.
  Result<Db> other = Db::Open(OpenSegment(), false);
  ASSERT_TRUE(other.ok());
  ASSERT_OK(other->Exec("BEGIN IMMEDIATE"));
  std::vector<Writer::Future> futures;
  for (int i = 0; i < 20; ++i) {
    WriteBatch b;
    b.received_at = kNow;
    b.events = {Ev("play_opened", Phase::kOpened, "s" + std::to_string(i), kT0 + i)};
    auto f = writer_->Submit(std::move(b));
    ASSERT_TRUE(f.ok());
    futures.push_back(std::move(f.value()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (auto& f : futures) {
    EXPECT_NE(f.wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
        << "answered before its commit";
  }
  ASSERT_OK(other->Exec("COMMIT"));
  for (auto& f : futures) {
    Result<WriteOutcome> o = f.get();
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->accepted, 1);
  }
  const WriterStats s = writer_->Stats();
  EXPECT_EQ(s.batches, 20u);
  EXPECT_LE(s.commits, 2u) << "20 queued requests should share transactions";
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT count(*) FROM sessions"), "20");
}

TEST_F(WriterTest, FullQueueIsRefusedNotDropped) {
  WriterOptions o;
  o.max_pending_events = 10;
  Reopen(o);
  Result<Db> other = Db::Open(path_, false);
  ASSERT_TRUE(other.ok());
  ASSERT_OK(other->Exec("BEGIN IMMEDIATE"));
  auto batch = [](const std::string& id, int n) {
    WriteBatch b;
    b.received_at = kNow;
    for (int i = 0; i < n; ++i)
      b.events.push_back(Ev("play_updated", Phase::kUpdated, id, kT0 + i));
    return b;
  };
  auto a = writer_->Submit(batch("a", 6));
  ASSERT_TRUE(a.ok());
  auto b = writer_->Submit(batch("b", 4));
  ASSERT_TRUE(b.ok());
  auto c = writer_->Submit(batch("c", 1));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(c.status().message().find("queue is full"), std::string::npos);
  ASSERT_OK(other->Exec("COMMIT"));
  EXPECT_TRUE(a->get().ok());
  EXPECT_TRUE(b->get().ok());
  // Drained: accepted again.
  auto d = writer_->Submit(batch("c", 1));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->get().ok());
  EXPECT_EQ(writer_->Stats().queue_refusals, 1u);
}

TEST_F(WriterTest, ABigBatchIntoAnEmptyQueueIsTaken) {
  WriterOptions o;
  o.max_pending_events = 2;
  Reopen(o);
  std::vector<Event> many;
  for (int i = 0; i < 50; ++i)
    many.push_back(Ev("play_opened", Phase::kOpened, "s" + std::to_string(i), kT0));
  Result<WriteOutcome> r = Write(many);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->accepted, 50);
}

TEST_F(WriterTest, BusyDatabaseFailsTheGroupWholeThenRecovers) {
  WriterOptions o;
  o.busy_timeout_ms = 50;
  Reopen(o);
  Result<Db> other = Db::Open(OpenSegment(), false);
  ASSERT_TRUE(other.ok());
  ASSERT_OK(other->Exec("BEGIN IMMEDIATE"));
  Result<WriteOutcome> r = Write({Ev("play_opened", Phase::kOpened, "a", kT0)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(writer_->Healthy());
  ASSERT_OK(other->Exec("COMMIT"));
  EXPECT_EQ(One("SELECT count(*) FROM events"), "0");
  r = Write({Ev("play_opened", Phase::kOpened, "a", kT0)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(writer_->Healthy());
  EXPECT_EQ(r->accepted, 1);
}

TEST_F(WriterTest, FullDatabaseIsUnavailableAndNothingIsHalfApplied) {
  WriterOptions o;
  o.max_db_bytes = 256 << 10;
  Reopen(o);
  std::string big(4000, 'x');
  int ok_batches = 0;
  Status failure;
  for (int i = 0; i < 200 && failure.ok(); ++i) {
    std::vector<Event> batch;
    for (int j = 0; j < 10; ++j) {
      Event e = Ev("play_updated", Phase::kUpdated, "s" + std::to_string(i), kT0 + j);
      e.body = "{\"pad\":\"" + big + "\"}";
      batch.push_back(e);
    }
    Result<WriteOutcome> r = Write(batch);
    if (r.ok()) {
      ++ok_batches;
    } else {
      failure = r.status();
    }
  }
  ASSERT_FALSE(failure.ok()) << "the cap was never reached";
  EXPECT_EQ(failure.code(), Status::Code::kUnavailable);
  EXPECT_FALSE(writer_->Healthy());
  // Every acknowledged batch is there, the refused one not at all.
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT count(*) FROM events"), std::to_string(ok_batches * 10));
  EXPECT_EQ(One("SELECT count(*) FROM sessions"), std::to_string(ok_batches));
  EXPECT_EQ(One("PRAGMA integrity_check"), "ok");
  // Space returns (a larger cap): ingest resumes.
  WriterOptions bigger;
  bigger.max_db_bytes = 64 << 20;
  Reopen(bigger);
  ASSERT_TRUE(Write({Ev("play_opened", Phase::kOpened, "after", kT0)}).ok());
}

TEST_F(WriterTest, IdleSessionsAreFinishedBySinkTimeout) {
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "idle", kT0),
                     Ev("play_updated", Phase::kUpdated, "idle", kT0 + 5000)})
                  .ok());
  clock_.Advance(30000);
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "busy", kT0)}).ok());
  clock_.Advance(29999);  // "idle" last seen 59.999 s ago: not yet
  ASSERT_OK(writer_->SweepNow());
  EXPECT_EQ(One("SELECT count(*) FROM sessions WHERE state = 'finished'"), "0");
  clock_.Advance(2);  // "idle" last seen 60.001 s ago, "busy" 30.001 s ago
  ASSERT_OK(writer_->SweepNow());
  EXPECT_EQ(Rows("SELECT id, state, close_reason, closed_at FROM sessions ORDER BY id"),
            (std::vector<std::string>{"busy\trunning\tNULL\tNULL",
                                      "idle\tfinished\tsink_timeout\t1637094999000"}));
  EXPECT_EQ(writer_->Stats().sessions_timed_out, 1u);

  // The real close arrives later and wins.
  Event closed = Ev("play_closed", Phase::kClosed, "idle", kT0 + 7000);
  closed.reason = "normal";
  ASSERT_TRUE(Write({closed}).ok());
  EXPECT_EQ(One("SELECT state, close_reason, closed_at FROM sessions WHERE id = 'idle'"),
            "finished\tnormal\t1637095001000");
}

TEST_F(WriterTest, ServerRestartFinishesThatServersOpenSessions) {
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "a1", kT0, "A"),
                     Ev("play_started", Phase::kStarted, "b1", kT0, "B")})
                  .ok());
  Event restart = Ev("server_started", Phase::kNone, "", kT0 + 60000, "A");
  restart.kind.clear();
  restart.id.reset();
  ASSERT_TRUE(Write({restart}).ok());
  // A session of A that started after the restart, and a late event of a1.
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "a2", kT0 + 61000, "A"),
                     Ev("play_updated", Phase::kUpdated, "a1", kT0 + 1000, "A")})
                  .ok());
  EXPECT_EQ(Rows("SELECT id, state, close_reason, closed_at FROM sessions ORDER BY id"),
            (std::vector<std::string>{"a1\tfinished\tserver_restart\t1637094995000",
                                      "a2\trunning\tNULL\tNULL", "b1\trunning\tNULL\tNULL"}));
  EXPECT_EQ(One("SELECT restart_at FROM servers WHERE server = 'A'"), std::to_string(kT0 + 60000));
}

TEST_F(WriterTest, RestartBeforeTheSessionsEventsGivesTheSameRows) {
  Event restart = Ev("server_started", Phase::kNone, "", kT0 + 60000, "A");
  restart.kind.clear();
  restart.id.reset();
  ASSERT_TRUE(Write({restart}).ok());
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "a1", kT0, "A"),
                     Ev("play_updated", Phase::kUpdated, "a1", kT0 + 1000, "A")})
                  .ok());
  EXPECT_EQ(One("SELECT state, close_reason, closed_at FROM sessions WHERE id = 'a1'"),
            "finished\tserver_restart\t1637094995000");
}

TEST_F(WriterTest, WalStaysBoundedAndTheDatabaseFileFills) {
  // Regression: the checkpointer once never checkpointed (its connection did
  // not know the file was in WAL mode) and a soak grew the WAL to 76 GB.
  WriterOptions o;
  o.wal_limit_pages = 200;  // 800 KiB
  o.checkpoint_interval_ms = 20;
  Reopen(o);
  const std::string pad(300, 'x');
  for (int b = 0; b < 60; ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < 100; ++i) {
      Event e = Ev("play_updated", Phase::kUpdated, "s" + std::to_string(i), kT0 + b * 100 + i);
      e.body = "{\"pad\":\"" + pad + "\"}";
      batch.push_back(e);
    }
    ASSERT_TRUE(Write(batch).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  namespace fs = std::filesystem;
  const std::string log = OpenSegment();  // where the events are
  EXPECT_LT(fs::file_size(log + "-wal"), 3u << 20) << "WAL not bounded";
  EXPECT_GT(fs::file_size(log), 1u << 20) << "nothing checkpointed into the database file";
}

TEST_F(WriterTest, AnIdleWriterCopiesWhatTheWalHoldsIntoTheFile) {
  // No second connection checkpoints: the writer does it itself, between
  // rounds, and what is left when it is idle.
  WriterOptions o;
  o.checkpoint_interval_ms = 20;
  Reopen(o);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  namespace fs = std::filesystem;
  const auto before = fs::file_size(path_);
  const uint64_t checkpoints = writer_->Stats().checkpoints;
  std::vector<Event> batch;
  for (int i = 0; i < 100; ++i) {
    Event e = Ev("play_updated", Phase::kUpdated, "s" + std::to_string(i), kT0 + i);
    e.body = "{\"pad\":\"" + std::string(300, 'x') + "\"}";
    batch.push_back(e);
  }
  ASSERT_TRUE(Write(batch).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GT(fs::file_size(path_), before + 20000) << "the WAL was not copied";
  EXPECT_GT(writer_->Stats().checkpoints, checkpoints);
  EXPECT_EQ(writer_->Stats().checkpoint_error, "");
}

TEST_F(WriterTest, SessionChangeLogForTheRelayIsKeptOnlyWithFanOutAndTrimmed) {
  // Fan-out off: no log.
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "a", kT0),
                     Ev("play_started", Phase::kStarted, "b", kT0)})
                  .ok());
  EXPECT_EQ(One("SELECT count(*) FROM session_changes"), "0");
  // Turned on: the rows written meanwhile are listed once, in change order.
  WriterOptions on;
  on.session_log = true;
  Reopen(on);
  EXPECT_EQ(Rows("SELECT change_seq, id FROM session_changes"),
            (std::vector<std::string>{"1\ta", "2\tb"}));
  ASSERT_TRUE(Write({Ev("play_updated", Phase::kUpdated, "a", kT0 + 1000)}).ok());
  EXPECT_EQ(Rows("SELECT change_seq, id FROM session_changes"),
            (std::vector<std::string>{"1\ta", "2\tb", "3\ta"}));
  // The relay's delivered cursor drops what it covers.
  WriteBatch cursor;
  cursor.received_at = kNow;
  cursor.cursors = {{"sessions", 2}};
  auto f = writer_->Submit(std::move(cursor));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->get().ok());
  EXPECT_EQ(Rows("SELECT change_seq, id FROM session_changes"), (std::vector<std::string>{"3\ta"}));
  // Reopened with fan-out: nothing listed twice.
  Reopen(on);
  EXPECT_EQ(Rows("SELECT change_seq, id FROM session_changes"), (std::vector<std::string>{"3\ta"}));
}

TEST_F(WriterTest, StallsAreKeptAsIntervalsAndNetworksAsPrefixes) {
  Event open = Ev("play_started", Phase::kStarted, "v6", kT0);
  open.ip = "2001:db8:1:2:aaaa::5";
  Event v4 = Ev("play_started", Phase::kStarted, "v4", kT0);
  v4.ip = "198.51.100.77";
  ASSERT_TRUE(Write({open, v4, Ev("play_stalled", Phase::kStalled, "v6", kT0 + 1000),
                     Ev("play_recovered", Phase::kRecovered, "v6", kT0 + 3000),
                     Ev("play_stalled", Phase::kStalled, "v6", kT0 + 5000),
                     Ev("play_updated", Phase::kUpdated, "v6", kT0 + 9000)})
                  .ok());
  EXPECT_EQ(
      Rows("SELECT session_id, start_at, end_at FROM stall_intervals ORDER BY start_at"),
      (std::vector<std::string>{"v6\t1637094995000\t1637094997000", "v6\t1637094999000\tNULL"}));
  EXPECT_EQ(
      Rows("SELECT id, ip_net, stall_count, stalled_ms FROM sessions ORDER BY id"),
      (std::vector<std::string>{"v4\t198.51.100.0/24\t0\t0", "v6\t2001:db8:1:2::/64\t2\t6000"}));
  // The close ends the open stall.
  ASSERT_TRUE(Write({Ev("play_closed", Phase::kClosed, "v6", kT0 + 10000)}).ok());
  EXPECT_EQ(One("SELECT end_at FROM stall_intervals WHERE start_at = 1637094999000"),
            "1637095004000");
}

TEST_F(WriterTest, UpgradeFromVersion2RebuildsWhatSqlCannot) {
  Event e = Ev("play_started", Phase::kStarted, "s", kT0);
  e.ip = "2001:db8::1";
  Event closed = Ev("play_closed", Phase::kClosed, "f", kT0 + 5000);
  closed.reason = "{\"error\":\"session_limit\"}";
  ASSERT_TRUE(Write({e, Ev("play_stalled", Phase::kStalled, "s", kT0 + 1000),
                     Ev("play_recovered", Phase::kRecovered, "s", kT0 + 2000),
                     Ev("play_started", Phase::kStarted, "f", kT0), closed})
                  .ok());
  writer_.reset();
  {  // Turn the file back into a version-2 database: the events in it.
    Result<Db> db = Db::Open(path_, false);
    ASSERT_TRUE(db.ok());
    Result<Stmt> attach = db->Prepare("ATTACH DATABASE ?1 AS seg");
    ASSERT_TRUE(attach.ok());
    const std::string segment = OpenSegment();
    attach->Bind(1, std::string_view(segment));
    ASSERT_OK(attach->RunAndReset());
    ASSERT_OK(db->Exec(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, server TEXT, "
        "event TEXT NOT NULL, kind TEXT, phase TEXT, session_id TEXT, utc_ms INTEGER, event_id "
        "INTEGER, dedup INTEGER NOT NULL, body TEXT NOT NULL); CREATE INDEX events_dedup ON "
        "events(utc_ms, dedup); INSERT INTO events SELECT seq, received_at, server, event, kind, "
        "phase, session_id, utc_ms, event_id, dedup, body FROM seg.events; DETACH DATABASE seg"));
    std::filesystem::remove_all(SegmentDir(path_));
    std::string drop =
        "DROP TABLE stall_intervals; DROP INDEX sessions_source; DROP TABLE session_changes; "
        "CREATE INDEX sessions_change ON sessions(change_seq); DROP TABLE store_state; "
        "ALTER TABLE sessions DROP COLUMN last_seq; ALTER TABLE sessions DROP COLUMN event_seqs; "
        "DROP TABLE stream_events; DROP TABLE log_segments; DROP INDEX rejected_log; "
        "ALTER TABLE rejected DROP COLUMN log_segment; ALTER TABLE rejected DROP COLUMN log_rowid; "
        "DROP INDEX sessions_open; "
        "CREATE INDEX sessions_open ON sessions(seen_at) WHERE state <> 'finished'; ";
    for (const char* c : {"ip_net", "platform", "raw_state", "raw_reason", "end_class", "queued_ms",
                          "reconnect_count", "reconnect_ms", "external_id"}) {
      drop += std::string("ALTER TABLE sessions DROP COLUMN ") + c + "; ";
    }
    ASSERT_OK(db->Exec(drop + "PRAGMA user_version = 2;"));
  }
  Reopen();
  EXPECT_EQ(One("PRAGMA user_version"), std::to_string(Migrations().back().version));
  // Version 4: finished Flussonic rows get their end_class.
  EXPECT_EQ(One("SELECT platform, end_class FROM sessions WHERE id = 'f'"), "flussonic\tlimit");
  EXPECT_EQ(One("SELECT platform, end_class FROM sessions WHERE id = 's'"), "flussonic\tNULL");
  EXPECT_EQ(One("SELECT ip_net FROM sessions WHERE id = 's'"), "2001:db8::/64");
  EXPECT_EQ(One("SELECT start_at, end_at FROM stall_intervals"), "1637094995000\t1637094996000");
}

}  // namespace
}  // namespace sink
