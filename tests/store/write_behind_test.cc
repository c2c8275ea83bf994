// The sessions table written behind the event log, on a real SQLite file:
// rows follow the log by a flush, a crash before the flush is made good by
// replay, rows written ahead of the watermark are not merged twice, sessions
// that left memory come back exactly, and the sink's own closes reach them.
#include <random>

#include "ingest/platforms/platforms.h"
#include "store/session_table.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kNow = 1800000000000;

// Every column but change_seq (which counts writes, not events).
std::string AllColumns() {
  std::string cols;
  for (const SessionColumn& c : SessionColumns()) {
    if (c.name == "change_seq") continue;
    cols += cols.empty() ? "" : ", ";
    cols += c.name == "event_seqs" ? "hex(event_seqs)" : std::string(c.name);
  }
  return "SELECT " + cols + " FROM sessions ORDER BY id";
}

// Generated lifecycles: the body of each event is the Flussonic JSON that
// parses back to it (replay re-parses bodies).
std::vector<Event> Traffic(int sessions, uint64_t seed, const std::string& server = "edge1") {
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::vector<Event> out;
  for (int i = 0; i < sessions; ++i) {
    const std::string id = "s" + std::to_string(seed) + "-" + std::to_string(i);
    const int64_t t0 = 1700000000000 + static_cast<int64_t>(rng() % 100000);
    const char* phases[] = {"play_opened",    "play_started", "play_updated", "play_stalled",
                            "play_recovered", "play_updated", "play_closed"};
    const int n = 2 + static_cast<int>(rng() % 6);
    for (int k = 0; k < n; ++k) {
      const std::string body =
          R"({"event":")" + std::string(phases[k]) + R"(","id":")" + id + R"(","server":")" +
          server + R"(","media":"m)" + std::to_string(i % 7) + R"(","user_id":"u)" +
          std::to_string(i % 13) + R"(","utc_ms":)" + std::to_string(t0 + k * 1000) +
          R"(,"bytes":)" + std::to_string(k * 100) + "}";
      Result<ParsedBody> p = test::Parse(body);
      EXPECT_TRUE(p.ok() && p->events.size() == 1) << body;
      if (p.ok()) out.push_back(std::move(p->events[0]));
    }
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

class WriteBehindTest : public ::testing::Test {
 protected:
  void Open(WriterOptions o = {}) {
    writer_.reset();
    o.db_path = path_;
    o.reparse = ReparseStoredEvent;
    if (o.session_flush_ms == WriterOptions{}.session_flush_ms) o.session_flush_ms = 600000;
    auto w = Writer::Open(o, &clock_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w.value());
  }
  // Stops a writer opened with flush_on_stop = false: the sessions stay
  // unwritten, as after a SIGKILL that follows the commit.
  void Crash() { writer_.reset(); }
  // Posts `events`, the ones from `first` on of a traffic, in batches of 50
  // of that traffic: a batch's receive time depends only on its place in
  // it, so that runs that post the same traffic in parts agree.
  void Post(const std::vector<Event>& events, size_t first = 0) {
    constexpr size_t kPerBatch = 50;
    for (size_t i = 0; i < events.size();) {
      const size_t g = first + i;
      const size_t end = std::min(events.size(), i + kPerBatch - g % kPerBatch);
      WriteBatch b;
      b.received_at = kNow + static_cast<int64_t>(g / kPerBatch) * 7;
      b.events.assign(events.begin() + static_cast<long>(i),
                      events.begin() + static_cast<long>(end));
      auto f = writer_->Submit(std::move(b));
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      ASSERT_TRUE(f->get().ok());
      i = end;
    }
  }
  std::vector<std::string> Rows(const std::string& sql) { return test::QueryRows(path_, sql); }
  std::string One(const std::string& sql) {
    auto r = Rows(sql);
    return r.empty() ? "<no row>" : r[0];
  }

  // The rows `events` give when posted to a fresh file with no crash.
  std::vector<std::string> Reference(const std::vector<Event>& events) {
    test::TempDir dir;
    const std::string saved = path_;
    path_ = dir.File("reference.db");
    Open();
    Post(events);
    writer_.reset();  // Stop() writes every session
    std::vector<std::string> rows = Rows(AllColumns());
    path_ = saved;
    return rows;
  }

  test::TempDir tmp_;
  std::string path_ = tmp_.File("sessions.db");
  FakeClock clock_{kNow};
  std::unique_ptr<Writer> writer_;
};

TEST_F(WriteBehindTest, RowsFollowTheLogAtTheFlush) {
  Open();
  Post(Traffic(20, 1));
  EXPECT_EQ(One("SELECT count(*) FROM sessions"), "0") << "written before the flush";
  const WriterStats before = writer_->Stats();
  EXPECT_GT(before.unflushed_events, 0);
  EXPECT_EQ(before.watermark, 0);
  ASSERT_OK(writer_->FlushNow());
  const WriterStats after = writer_->Stats();
  EXPECT_EQ(One("SELECT count(*) FROM sessions"), "20");
  EXPECT_EQ(after.unflushed_events, 0);
  EXPECT_EQ(after.flush_lag_ms, 0);
  EXPECT_EQ(std::to_string(after.watermark), One("SELECT max(seq) FROM events"));
  EXPECT_EQ(One("SELECT value FROM store_state WHERE name = 'sessions_watermark'"),
            One("SELECT max(seq) FROM events"));
}

TEST_F(WriteBehindTest, FlushRunsByItselfWithinTheInterval) {
  WriterOptions o;
  o.session_flush_ms = 20;
  Open(o);
  Post(Traffic(5, 2));
  clock_.Advance(50);  // the writer's clock: the oldest change is now past the bound
  for (int i = 0; i < 200 && One("SELECT count(*) FROM sessions") != "5"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock_.Advance(5);
  }
  EXPECT_EQ(One("SELECT count(*) FROM sessions"), "5");
}

TEST_F(WriteBehindTest, ACrashBeforeTheFlushIsReplayedToTheSameRows) {
  const std::vector<Event> events = Traffic(60, 3);
  const std::vector<std::string> want = Reference(events);
  ASSERT_EQ(want.size(), 60u);

  WriterOptions o;
  o.flush_on_stop = false;
  Open(o);
  // A third flushed, the rest only committed; then the process dies.
  const size_t third = events.size() / 3;
  Post(std::vector<Event>(events.begin(), events.begin() + static_cast<long>(third)));
  ASSERT_OK(writer_->FlushNow());
  Post(std::vector<Event>(events.begin() + static_cast<long>(third), events.end()), third);
  Crash();
  EXPECT_LT(std::stoll(One("SELECT value FROM store_state WHERE name = 'sessions_watermark'")),
            std::stoll(One("SELECT max(seq) FROM events")));

  Open();
  EXPECT_GT(writer_->Stats().replayed_events, 0u);
  EXPECT_EQ(writer_->Stats().replay_failures, 0u);
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(Rows(AllColumns()), want);
}

TEST_F(WriteBehindTest, RowsAheadOfTheWatermarkAreNotMergedTwice) {
  const std::vector<Event> events = Traffic(30, 4);
  const std::vector<std::string> want = Reference(events);
  Open();
  Post(events);
  ASSERT_OK(writer_->FlushNow());
  writer_.reset();
  // As if a crash came after the cycle's first chunks (rows hold every
  // event) but before its last (the watermark still at the start).
  {
    Result<Db> db = Db::Open(path_, false);
    ASSERT_TRUE(db.ok());
    ASSERT_OK(db->Exec("UPDATE store_state SET value = 0 WHERE name = 'sessions_watermark'"));
  }
  Open();
  EXPECT_EQ(writer_->Stats().replayed_events, events.size());
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(Rows(AllColumns()), want);
}

TEST_F(WriteBehindTest, SessionsThatLeftMemoryComeBackExactly) {
  // 3,000 sessions against a 1 MiB bound: most leave memory after each flush
  // and are read back from their rows on their next event.
  std::vector<Event> events;
  for (uint64_t seed = 10; seed < 16; ++seed) {
    std::vector<Event> part = Traffic(500, seed);
    events.insert(events.end(), part.begin(), part.end());
  }
  std::mt19937 rng(5);
  std::shuffle(events.begin(), events.end(), rng);
  const std::vector<std::string> want = Reference(events);

  WriterOptions o;
  o.session_memory_bytes = 1 << 20;
  Open(o);
  for (size_t i = 0; i < events.size(); i += 500) {
    Post(std::vector<Event>(events.begin() + static_cast<long>(i),
                            events.begin() + static_cast<long>(std::min(events.size(), i + 500))),
         i);
    ASSERT_OK(writer_->FlushNow());
  }
  const WriterStats s = writer_->Stats();
  EXPECT_GT(s.session_evictions, 0u);
  EXPECT_GT(s.session_loads, 0u);
  EXPECT_LE(s.session_memory_bytes - s.open_sessions * 250, 2 << 20);
  writer_.reset();
  EXPECT_EQ(Rows(AllColumns()), want);
}

TEST_F(WriteBehindTest, IdleTimeoutAndServerRestartReachSessionsOutOfMemory) {
  WriterOptions o;
  o.session_memory_bytes = 1 << 20;
  o.session_timeout_ms = 60000;
  Open(o);
  std::vector<Event> a = Traffic(1500, 20, "A"), b = Traffic(1500, 21, "B");
  // Only the opened/started events: the sessions stay open.
  auto open_only = [](std::vector<Event> v) {
    std::erase_if(
        v, [](const Event& e) { return e.phase != Phase::kOpened && e.phase != Phase::kStarted; });
    return v;
  };
  Post(open_only(a));
  Post(open_only(b));
  ASSERT_OK(writer_->FlushNow());
  writer_.reset();  // reopened: every open session is only in the index
  Open(o);
  EXPECT_EQ(writer_->Stats().open_sessions, 3000);
  EXPECT_EQ(writer_->Stats().live_sessions, 0);

  // Server A restarts after all of its sessions' events.
  Result<ParsedBody> restart =
      test::Parse(R"({"event":"server_started","server":"A","utc_ms":1700000200000})");
  ASSERT_TRUE(restart.ok());
  Post(restart->events);
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT count(*) FROM sessions WHERE server = 'A' AND state = 'finished' AND "
                "close_reason = 'server_restart'"),
            "1500");
  EXPECT_EQ(One("SELECT count(*) FROM sessions WHERE server = 'B' AND state <> 'finished'"),
            "1500");
  // B's sessions go idle (received up to kNow + 0.5 s).
  clock_.Advance(60600);
  ASSERT_OK(writer_->SweepNow());
  EXPECT_EQ(One("SELECT count(*) FROM sessions WHERE server = 'B' AND state = 'finished' AND "
                "close_reason = 'sink_timeout'"),
            "1500");
  EXPECT_EQ(writer_->Stats().open_sessions, 0);
}

TEST_F(WriteBehindTest, EveryRowListsTheSeqsOfItsEvents) {
  Open();
  Post(Traffic(40, 6));
  ASSERT_OK(writer_->FlushNow());
  Result<Db> db = Db::Open(path_, false, /*read_only=*/true);
  ASSERT_TRUE(db.ok());
  Result<Stmt> q = db->Prepare("SELECT id, event_seqs FROM sessions");
  ASSERT_TRUE(q.ok());
  int rows = 0;
  for (;;) {
    Result<bool> row = q->Step();
    ASSERT_TRUE(row.ok());
    if (!row.value()) break;
    ++rows;
    EventSeqs seqs;
    ASSERT_TRUE(seqs.Assign(q->Blob(1)));
    std::vector<std::string> want =
        test::QueryRows(path_, "SELECT seq FROM events WHERE session_id = '" +
                                   std::string(q->Text(0)) + "' ORDER BY seq");
    std::vector<std::string> got;
    for (int64_t s : seqs.Decode()) got.push_back(std::to_string(s));
    EXPECT_EQ(got, want) << q->Text(0);
  }
  EXPECT_EQ(rows, 40);
}

TEST_F(WriteBehindTest, TheColumnListIsTheTable) {
  Open();
  std::vector<std::string> want;
  for (const SessionColumn& c : SessionColumns()) want.emplace_back(c.name);
  EXPECT_EQ(Rows("SELECT name FROM pragma_table_info('sessions') ORDER BY cid"), want);
}

TEST(EventSeqsTest, EncodesIncreasingSeqsAndRefusesGarbage) {
  EventSeqs s;
  const std::vector<int64_t> in = {1, 2, 130, 20000, 20001, int64_t{1} << 40};
  for (int64_t v : in) s.Add(v);
  EXPECT_EQ(s.Decode(), in);
  EventSeqs back;
  ASSERT_TRUE(back.Assign(s.bytes()));
  EXPECT_EQ(back, s);
  EXPECT_FALSE(back.Assign(std::string("\x80", 1)));      // a varint cut short
  EXPECT_FALSE(back.Assign(std::string("\x05\x00", 2)));  // a repeated seq
  EventSeqs full;
  for (int64_t v = 1; v <= EventSeqs::kMaxSeqs + 10; ++v) full.Add(v);
  EXPECT_EQ(full.listed(), EventSeqs::kMaxSeqs);
}

TEST_F(WriteBehindTest, AMassTimeoutIsSweptInStepsWithinTheMemoryBound) {
  WriterOptions o;
  o.session_timeout_ms = 60000;
  o.sweep_step_sessions = 100;
  o.session_memory_bytes = 64 << 10;  // a few hundred sessions
  Open(o);
  const std::vector<Event> events = Traffic(1500, 7);
  Post(events);
  ASSERT_OK(writer_->FlushNow());
  const int64_t open = std::stoll(One("SELECT count(*) FROM sessions WHERE state <> 'finished'"));
  ASSERT_GT(open, 500);
  clock_.Advance(60000 + 2000);    // past the last event's arrival
  ASSERT_OK(writer_->SweepNow());  // returns after the last step
  EXPECT_EQ(One("SELECT count(*) FROM sessions WHERE state <> 'finished'"), "0");
  EXPECT_EQ(One("SELECT count(*) FROM sessions WHERE close_reason = 'sink_timeout'"),
            std::to_string(open));
  const WriterStats s = writer_->Stats();
  EXPECT_EQ(s.sessions_timed_out, static_cast<uint64_t>(open));
  EXPECT_LE(s.session_memory_bytes, 2 * (64 << 10)) << "finished sessions left memory";
}

}  // namespace
}  // namespace sink
