// The event log as segment files (store/segment_log.h) on real SQLite files:
// segments close and seqs continue, dedup reaches into closed segments
// within its horizon, retention deletes whole segments oldest first but
// never what the sessions table or the Kafka relay still need, --max-disk
// holds or refuses with 503, and --retain-sessions and the dead-letter
// bound delete in steps.
#include <chrono>
#include <filesystem>
#include <thread>

#include "ingest/platforms/platforms.h"
#include "store/log_reader.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kNow = 1800000000000;
constexpr int64_t kT0 = 1637094994000;
constexpr int64_t kHour = 60ll * 60 * 1000;

Event Ev(const std::string& name, Phase phase, const std::string& id, int64_t utc_ms,
         size_t pad = 0) {
  Event e;
  e.name = name;
  e.kind = "play";
  e.kind_explicit = true;
  e.phase = phase;
  e.id = id;
  e.server = "edge1";
  e.utc_ms = utc_ms;
  e.body = "{\"event\":\"" + name + "\",\"id\":\"" + id +
           "\",\"utc_ms\":" + std::to_string(utc_ms) + ",\"pad\":\"" + std::string(pad, 'x') +
           "\"}";
  return e;
}

class SegmentLogTest : public ::testing::Test {
 protected:
  void Open(WriterOptions o = {}) {
    writer_.reset();
    o.db_path = path_;
    o.reparse = ReparseStoredEvent;
    o.retention_interval_ms = 1;  // every round of the sessions writer
    auto w = Writer::Open(o, &clock_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    writer_ = std::move(w.value());
  }

  Result<WriteOutcome> Write(std::vector<Event> events, std::vector<Reject> rejects = {}) {
    WriteBatch b;
    b.received_at = clock_.NowMs();
    b.remote_addr = "192.0.2.1";
    b.events = std::move(events);
    b.rejects = std::move(rejects);
    auto f = writer_->Submit(std::move(b));
    if (!f.ok()) return f.status();
    return f->get();
  }
  Status SaveEventsCursor(int64_t seq) {
    WriteBatch b;
    b.cursors = {{"events", seq}};
    auto f = writer_->Submit(std::move(b));
    if (!f.ok()) return f.status();
    return f->get().status();
  }

  // Every event of the log, read back as a reader sees it: "seq body".
  std::vector<std::string> Log() {
    std::vector<std::string> out;
    Result<LogReader> r = LogReader::Open(path_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    EXPECT_OK(r->ForEachAfter(0, [&](const LogRecord& e) {
      out.push_back(std::to_string(e.seq) + " " + e.body);
      return Status::Ok();
    }));
    return out;
  }
  std::vector<int64_t> Segments() {
    Result<std::vector<int64_t>> ids = ListSegments(SegmentDir(path_));
    EXPECT_TRUE(ids.ok());
    return ids.ok() ? ids.value() : std::vector<int64_t>{};
  }
  // Waits (real time) until `pred` holds of the writer's stats.
  template <typename Pred>
  bool Eventually(Pred pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred(writer_->Stats())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::string One(const std::string& sql) {
    auto r = test::QueryRows(path_, sql);
    return r.empty() ? "<no row>" : r[0];
  }

  test::TempDir tmp_;
  std::string path_ = tmp_.File("sessions.db");
  FakeClock clock_{kNow};
  std::unique_ptr<Writer> writer_;
};

TEST_F(SegmentLogTest, SegmentsCloseBySizeAndSeqsContinueAcrossThemAndARestart) {
  WriterOptions o;
  o.segment_bytes = 64 << 10;
  Open(o);
  for (int b = 0; b < 20; ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < 10; ++i) {
      batch.push_back(
          Ev("play_updated", Phase::kUpdated, "s" + std::to_string(i), kT0 + b * 100 + i, 1000));
    }
    ASSERT_TRUE(Write(batch).ok());
  }
  EXPECT_GE(Segments().size(), 3u) << "200 KB of events in 64 KB segments";
  std::vector<std::string> log = Log();
  ASSERT_EQ(log.size(), 200u);
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].substr(0, log[i].find(' ')), std::to_string(i + 1));
  }
  EXPECT_GT(writer_->Stats().segments_closed, 1u);
  // The catalog in the main file lists them, closed but the last.
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT count(*) FROM log_segments WHERE state = 'open'"), "1");
  EXPECT_EQ(One("SELECT min(first_seq), max(last_seq), sum(events) FROM log_segments"),
            "1\t200\t200");
  // A restart continues the seqs, even after a rotation left the open
  // segment empty.
  ASSERT_OK(writer_->RotateNow());
  Open(o);
  ASSERT_TRUE(Write({Ev("play_closed", Phase::kClosed, "s1", kT0 + 99999)}).ok());
  log = Log();
  ASSERT_EQ(log.size(), 201u);
  EXPECT_EQ(log.back().substr(0, 4), "201 ");
}

TEST_F(SegmentLogTest, AResendOfAnEventInAClosedSegmentIsADuplicate) {
  Open();
  const Event e = Ev("play_started", Phase::kStarted, "a", kT0);
  ASSERT_TRUE(Write({e}).ok());
  ASSERT_OK(writer_->RotateNow());
  ASSERT_TRUE(Write({Ev("play_updated", Phase::kUpdated, "b", kT0 + 5000)}).ok());
  ASSERT_OK(writer_->RotateNow());  // now two segments back
  Result<WriteOutcome> again = Write({e});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->duplicates, 1) << "within the horizon and its utc_ms range";
  EXPECT_EQ(again->accepted, 0);
  // After a restart too.
  Open();
  again = Write({e});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->duplicates, 1);
  EXPECT_EQ(Log().size(), 2u);
}

TEST_F(SegmentLogTest, PastTheHorizonOnlyThePreviousSegmentIsLookedAt) {
  WriterOptions o;
  o.dedup_horizon_ms = kHour;
  Open(o);
  const Event e = Ev("play_started", Phase::kStarted, "a", kT0);
  ASSERT_TRUE(Write({e}).ok());
  ASSERT_OK(writer_->RotateNow());
  ASSERT_TRUE(Write({Ev("play_updated", Phase::kUpdated, "b", kT0 + 5000)}).ok());
  clock_.Advance(2 * kHour);
  ASSERT_OK(writer_->RotateNow());
  // `e` is two segments back, closed two hours ago: past the documented
  // horizon, its resend is stored again (and merges to the same row).
  Result<WriteOutcome> again = Write({e});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->accepted, 1);
}

TEST_F(SegmentLogTest, RetentionDeletesWholeSegmentsPastTheirAgeOldestFirst) {
  WriterOptions o;
  o.retain_events_ms = 24 * kHour;
  Open(o);
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "old", kT0)},
                    {Reject{0, "bad item", "{}", std::nullopt}})
                  .ok());
  ASSERT_OK(writer_->RotateNow());
  clock_.Advance(12 * kHour);
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "mid", kT0 + 1)}).ok());
  ASSERT_OK(writer_->RotateNow());
  clock_.Advance(13 * kHour);  // the first segment is 25 h old, the second 13 h
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "new", kT0 + 2)}).ok());
  ASSERT_OK(writer_->FlushNow());  // the watermark covers them
  ASSERT_TRUE(Eventually([](const WriterStats& s) { return s.segments_deleted == 1; }))
      << writer_->Stats().retention_error;
  const WriterStats s = writer_->Stats();
  EXPECT_EQ(s.events_deleted, 1u);
  EXPECT_EQ(Log(), (std::vector<std::string>{
                       "2 " + Ev("play_started", Phase::kStarted, "mid", kT0 + 1).body,
                       "3 " + Ev("play_started", Phase::kStarted, "new", kT0 + 2).body}));
  EXPECT_EQ(Segments().size(), 2u);
  // Sessions are kept (--retain-sessions is another setting), and so is the
  // dead letter's copy in the main file.
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(One("SELECT count(*) FROM sessions"), "3");
  EXPECT_EQ(One("SELECT reason FROM rejected"), "bad item");
  EXPECT_EQ(One("SELECT count(*) FROM log_segments"), "2");
  EXPECT_EQ(s.oldest_event_at, kNow + 12 * kHour);
}

TEST_F(SegmentLogTest, RetentionWaitsForTheKafkaRelay) {
  WriterOptions o;
  o.retain_events_ms = kHour;
  o.relay_events = true;
  Open(o);
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "a", kT0)}).ok());
  ASSERT_OK(writer_->RotateNow());
  clock_.Advance(2 * kHour);
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "b", kT0)}).ok());
  ASSERT_OK(writer_->FlushNow());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(writer_->Stats().segments_deleted, 0u) << "not yet delivered to Kafka";
  EXPECT_EQ(Log().size(), 2u);
  ASSERT_OK(SaveEventsCursor(1));
  ASSERT_TRUE(Eventually([](const WriterStats& s) { return s.segments_deleted == 1; }));
  EXPECT_EQ(Log().size(), 1u);
}

TEST_F(SegmentLogTest, MaxDiskKeepsTheStoreUnderTheCap) {
  WriterOptions o;
  o.max_disk_bytes = 2 << 20;  // segments of 256 KiB
  Open(o);
  for (int b = 0; b < 60; ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < 20; ++i) {
      batch.push_back(
          Ev("play_updated", Phase::kUpdated, "s" + std::to_string(i), kT0 + b * 100 + i, 3000));
    }
    ASSERT_TRUE(Write(batch).ok()) << "batch " << b;
    if (b % 10 == 9) ASSERT_OK(writer_->FlushNow());
  }
  ASSERT_OK(writer_->FlushNow());
  ASSERT_TRUE(Eventually([&](const WriterStats& s) {
    return s.segments_deleted > 0 && s.main_bytes + s.log_bytes <= o.max_disk_bytes;
  })) << "store bytes "
      << writer_->Stats().main_bytes + writer_->Stats().log_bytes;
  const WriterStats s = writer_->Stats();
  EXPECT_FALSE(s.disk_full);
  // What is left is the newest events, in order, without a gap.
  const std::vector<std::string> log = Log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().substr(0, 5), "1200 ");
  EXPECT_EQ(static_cast<uint64_t>(log.size()) + s.events_deleted, 1200u);
}

TEST_F(SegmentLogTest, ACapThatCannotBeMetIs503UntilTheRelayCatchesUp) {
  WriterOptions o;
  o.max_disk_bytes = 1 << 20;
  o.relay_events = true;  // and the relay delivers nothing
  Open(o);
  Status refused;
  int64_t written = 0;
  for (int b = 0; b < 200 && refused.ok(); ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < 20; ++i) {
      batch.push_back(
          Ev("play_updated", Phase::kUpdated, "s" + std::to_string(i), kT0 + b * 100 + i, 3000));
    }
    Result<WriteOutcome> r = Write(batch);
    if (r.ok()) {
      written += r->accepted;
      ASSERT_OK(writer_->FlushNow());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    } else {
      refused = r.status();
    }
  }
  ASSERT_FALSE(refused.ok()) << "never refused";
  EXPECT_EQ(refused.code(), Status::Code::kUnavailable);
  EXPECT_NE(refused.message().find("--max-disk"), std::string::npos) << refused.message();
  WriterStats s = writer_->Stats();
  EXPECT_TRUE(s.disk_full);
  EXPECT_NE(s.retention_error.find("Kafka relay"), std::string::npos) << s.retention_error;
  EXPECT_NE(s.retention_error.find("over --max-disk"), std::string::npos) << s.retention_error;
  EXPECT_EQ(static_cast<int64_t>(Log().size()), written) << "nothing acknowledged is deleted";
  // Delivered: retention frees space and ingest resumes.
  ASSERT_OK(SaveEventsCursor(written));
  ASSERT_TRUE(Eventually([](const WriterStats& st) { return !st.disk_full; }));
  EXPECT_TRUE(Write({Ev("play_closed", Phase::kClosed, "s1", kT0 + 999999)}).ok());
}

TEST_F(SegmentLogTest, FinishedSessionsAndDeadLettersAreBounded) {
  WriterOptions o;
  o.retain_sessions_ms = 24 * kHour;
  o.keep_dead_letters = 3;
  Open(o);
  const int64_t t = kNow - 48 * kHour;  // sender clock two days ago
  ASSERT_TRUE(Write({Ev("play_started", Phase::kStarted, "gone", t),
                     Ev("play_closed", Phase::kClosed, "gone", t + 1000),
                     Ev("play_started", Phase::kStarted, "open", t)},
                    {Reject{0, "r1", "1", std::nullopt}, Reject{1, "r2", "2", std::nullopt},
                     Reject{2, "r3", "3", std::nullopt}, Reject{3, "r4", "4", std::nullopt},
                     Reject{4, "r5", "5", std::nullopt}})
                  .ok());
  ASSERT_OK(writer_->FlushNow());
  ASSERT_TRUE(Eventually(
      [](const WriterStats& s) { return s.sessions_deleted == 1 && s.dead_letters_trimmed == 2; }));
  EXPECT_EQ(One("SELECT group_concat(id) FROM sessions"), "open") << "open sessions stay";
  EXPECT_EQ(One("SELECT group_concat(reason) FROM (SELECT reason FROM rejected ORDER BY id)"),
            "r3,r4,r5");
}

}  // namespace
}  // namespace sink
