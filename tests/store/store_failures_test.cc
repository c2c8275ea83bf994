// The store never fails silently: when the sessions table cannot follow
// the log (a row that cannot be read back, a locked file), the writer
// counts it, keeps the reason for /readyz and /metrics, retries with a
// growing pause instead of spinning, and catches up exactly once the cause
// is gone. The failures are real: a row whose merge state does not decode
// (as after a torn write by a foreign tool), and a write lock held by
// another process.
#include <chrono>
#include <thread>

#include "ingest/platforms/platforms.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kNow = 1800000000000;
constexpr int64_t kT0 = 1700000000000;

std::string Body(const std::string& event, const std::string& id, int64_t utc_ms,
                 const std::string& server = "A") {
  std::string b = R"({"event":")" + event + R"(","server":")" + server + R"(","utc_ms":)" +
                  std::to_string(utc_ms);
  if (!id.empty()) b += R"(,"id":")" + id + R"(","media":"m")";
  return b + "}";
}

class StoreFailuresTest : public ::testing::Test {
 protected:
  void Open(WriterOptions o = {}) {
    writer_.reset();
    o.db_path = path_;
    o.reparse = ReparseStoredEvent;
    o.session_flush_ms = 600000;  // flushes only when asked
    auto w = Writer::Open(o, &clock_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w.value());
  }
  void Post(const std::vector<std::string>& bodies) {
    WriteBatch b;
    b.received_at = clock_.NowMs();
    for (const std::string& body : bodies) {
      Result<ParsedBody> p = test::Parse(body);
      ASSERT_TRUE(p.ok() && p->events.size() == 1) << body;
      b.events.push_back(std::move(p->events[0]));
    }
    auto f = writer_->Submit(std::move(b));
    ASSERT_TRUE(f.ok());
    Result<WriteOutcome> out = f->get();
    ASSERT_TRUE(out.ok()) << "the log commit answers the request: " << out.status().ToString();
  }
  std::string One(const std::string& sql) {
    auto r = test::QueryRows(path_, sql);
    return r.empty() ? "<no row>" : r[0];
  }
  // Another process writes the file (as an operator's sqlite3 would).
  void Exec(const std::string& sql) {
    Result<Db> db = Db::Open(path_, false);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_OK(db->Exec("PRAGMA busy_timeout=5000"));
    ASSERT_OK(db->Exec(sql));
  }
  // Makes session `id`'s row unreadable; returns its merge state.
  std::string Corrupt(const std::string& id) {
    const std::string state = One("SELECT merge_state FROM sessions WHERE id = '" + id + "'");
    Exec("UPDATE sessions SET merge_state = 'corrupt' WHERE id = '" + id + "'");
    return state;
  }
  void Restore(const std::string& id, const std::string& state) {
    Exec("UPDATE sessions SET merge_state = '" + state + "' WHERE id = '" + id + "'");
  }
  // Flushes until `sql` answers `want` (the writer retries on its own).
  bool Eventually(const std::string& sql, const std::string& want) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < end) {
      (void)writer_->FlushNow();
      if (One(sql) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Session "a" on server A, written to its row; the writer stopped.
  void WrittenSession() {
    Open();
    Post({Body("play_opened", "a", kT0), Body("play_started", "a", kT0 + 1000)});
    writer_.reset();  // Stop() writes the row
    ASSERT_EQ(One("SELECT state, event_count FROM sessions WHERE id = 'a'"), "running\t2");
  }

  test::TempDir tmp_;
  std::string path_ = tmp_.File("sessions.db");
  FakeClock clock_{kNow};
  std::unique_ptr<Writer> writer_;
};

TEST_F(StoreFailuresTest, ARowThatCannotBeReadBackIsRetriedWithBackoffAndShown) {
  WrittenSession();
  const std::string state = Corrupt("a");
  Open();
  Post({Body("play_updated", "a", kT0 + 2000)});
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  WriterStats s = writer_->Stats();
  EXPECT_GE(s.catch_up_failures, 1u);
  EXPECT_LE(s.catch_up_failures, 12u) << "retried with a pause, not in a loop";
  EXPECT_NE(s.sessions_error.find("corrupt merge state for session a"), std::string::npos)
      << s.sessions_error;
  EXPECT_EQ(One("SELECT event_count FROM sessions WHERE id = 'a'"), "2");

  // Repaired: the writer catches up by itself, exactly once.
  Restore("a", state);
  EXPECT_TRUE(Eventually("SELECT event_count FROM sessions WHERE id = 'a'", "3"));
  s = writer_->Stats();
  EXPECT_EQ(s.sessions_error, "");
  EXPECT_EQ(s.unflushed_events, 0);
}

TEST_F(StoreFailuresTest, StoppingWhileBehindEndsAndTheRestartCatchesUp) {
  WrittenSession();
  const std::string state = Corrupt("a");
  Open();
  Post({Body("play_updated", "a", kT0 + 2000)});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the merge after the answer
  EXPECT_EQ(writer_->Stats().unflushed_events, 1) << "committed, not in the table";
  writer_.reset();  // returns: the final flush does not wait for the merge
  EXPECT_EQ(One("SELECT event_count FROM sessions WHERE id = 'a'"), "2");
  Restore("a", state);
  Open();  // replays the event after the watermark
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT event_count FROM sessions WHERE id = 'a'"), "3");
}

TEST_F(StoreFailuresTest, AFailedServerRestartIsAppliedOnceTheRowReadsAgain) {
  WrittenSession();
  const std::string state = Corrupt("a");
  Open();
  Post({Body("server_started", "", kT0 + 60000)});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(writer_->Stats().sessions_error, "");
  Restore("a", state);
  EXPECT_TRUE(Eventually("SELECT state, close_reason FROM sessions WHERE id = 'a'",
                         "finished\tserver_restart"))
      << One("SELECT state, close_reason FROM sessions WHERE id = 'a'");
  EXPECT_EQ(writer_->Stats().sessions_error, "");
  EXPECT_EQ(writer_->Stats().sessions_server_restart, 1u);
}

TEST_F(StoreFailuresTest, AFailedSweepIsCountedFinishesTheOthersAndIsRetried) {
  Open();
  Post({Body("play_started", "a", kT0), Body("play_started", "b", kT0)});
  writer_.reset();
  const std::string state = Corrupt("a");
  WriterOptions o;
  o.session_timeout_ms = 60000;
  Open(o);
  clock_.Advance(60001);
  EXPECT_FALSE(writer_->SweepNow().ok());
  WriterStats s = writer_->Stats();
  EXPECT_GE(s.sweep_failures, 1u);
  EXPECT_NE(s.sessions_error.find("corrupt merge state for session a"), std::string::npos)
      << s.sessions_error;
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT state, close_reason FROM sessions WHERE id = 'b'"),
            "finished\tsink_timeout")
      << "one unreadable row does not keep the others open";

  Restore("a", state);
  EXPECT_TRUE(Eventually("SELECT state, close_reason FROM sessions WHERE id = 'a'",
                         "finished\tsink_timeout"))
      << "the sweep is retried without waiting for its next period";
  EXPECT_EQ(writer_->Stats().sessions_error, "");
}

TEST_F(StoreFailuresTest, AFailedFlushIsCountedWithItsReason) {
  WriterOptions o;
  o.busy_timeout_ms = 50;
  Open(o);
  Post({Body("play_started", "a", kT0)});
  Result<Db> other = Db::Open(path_, false);
  ASSERT_TRUE(other.ok());
  // (Waiting for the writer's own short transactions, e.g. the catalog's.)
  ASSERT_OK(other->Exec("PRAGMA busy_timeout=5000; BEGIN IMMEDIATE"));  // holds the write lock
  EXPECT_FALSE(writer_->FlushNow().ok());
  WriterStats s = writer_->Stats();
  EXPECT_GE(s.flush_failures, 1u);
  EXPECT_NE(s.sessions_error.find("locked"), std::string::npos) << s.sessions_error;
  ASSERT_OK(other->Exec("ROLLBACK"));
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT state FROM sessions WHERE id = 'a'"), "running");
  EXPECT_EQ(writer_->Stats().sessions_error, "");
}

}  // namespace
}  // namespace sink
