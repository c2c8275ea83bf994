// Closed log segments in their compact form, on real files: every reader
// reads them as it read the raw form, dedup still sees their events, a
// restart finds them, and a crash in the middle of a compaction leaves
// every event readable exactly once.
#include "store/compactor.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ingest/platforms/platforms.h"
#include "store/backup.h"
#include "store/log_reader.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

namespace fs = std::filesystem;

// The sink clock near the files' own times: a closed segment's age for the
// dedup horizon, after a restart, is its file's.
const int64_t kNow = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
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
  e.body = "{\"event\":\"" + name + "\",\"id\":\"" + id + "\",\"server\":\"" + server +
           "\",\"utc_ms\":" + std::to_string(utc_ms) +
           ",\"bytes\":" + std::to_string(utc_ms % 100000 * 37) + "}";
  return e;
}

// `n` events of `n / 2` play sessions, over several servers; every third
// with an event_id.
std::vector<Event> Events(int n, int64_t t0 = kT0) {
  std::vector<Event> out;
  for (int i = 0; i < n; ++i) {
    const std::string id = "s" + std::to_string(i / 2);
    Event e = i % 2 == 0 ? Ev("play_opened", Phase::kOpened, id, t0 + i)
                         : Ev("play_closed", Phase::kClosed, id, t0 + i);
    e.server = "edge" + std::to_string(i % 5);
    if (i % 3 == 0) e.event_id = i;
    out.push_back(std::move(e));
  }
  return out;
}

Reject Rej(const std::string& reason, const std::string& body) {
  Reject r;
  r.reason = reason;
  r.body = body;
  r.index = 3;
  r.server = "edge9";
  return r;
}

class CompactorTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(bool compact = true) {
    writer_.reset();
    WriterOptions o;
    o.db_path = path_;
    o.reparse = ReparseStoredEvent;
    o.session_timeout_ms = 60000;
    o.compact_segments = compact;
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

  // Waits until `n` segments were compacted in all.
  void WaitCompacted(uint64_t n) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (writer_->Stats().segments_compacted < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(writer_->Stats().segments_compacted, n);
    EXPECT_EQ(writer_->Stats().compact_failures, 0u);
  }

  std::vector<LogRecord> ReadAll() {
    Result<LogReader> r = LogReader::Open(path_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<LogRecord> out;
    if (!r.ok()) return out;
    EXPECT_OK(r->ForEachAfter(0, [&](const LogRecord& rec) {
      out.push_back(rec);
      return Status::Ok();
    }));
    return out;
  }

  std::vector<LogReject> Rejects() {
    Result<LogReader> r = LogReader::Open(path_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<LogReject> out;
    if (!r.ok()) return out;
    EXPECT_OK(r->ForEachRejectAfter(0, [&](const LogReject& rec) {
      out.push_back(rec);
      return Status::Ok();
    }));
    return out;
  }

  std::string Dir() const { return SegmentDir(path_); }

  test::TempDir tmp_;
  std::string path_ = tmp_.File("sessions.db");
  FakeClock clock_{kNow};
  std::unique_ptr<Writer> writer_;
};

TEST_F(CompactorTest, EveryReaderReadsACompactedSegmentAsTheRawOne) {
  ASSERT_TRUE(Write(Events(700), {Rej("invalid JSON", "{not json"), Rej("no event", "{}")}).ok());
  clock_.Advance(5000);
  ASSERT_TRUE(Write(Events(300, kT0 + 10000)).ok());
  const std::vector<LogRecord> before = ReadAll();
  ASSERT_EQ(before.size(), 1000u);
  const int64_t raw_bytes = SqliteFileBytes(SegmentPath(Dir(), 1));

  ASSERT_OK(writer_->RotateNow());
  WaitCompacted(1);
  EXPECT_TRUE(fs::exists(CompactSegmentPath(Dir(), 1)));
  EXPECT_FALSE(fs::exists(SegmentPath(Dir(), 1)));
  EXPECT_FALSE(fs::exists(SegmentPath(Dir(), 1) + "-wal"));
  const int64_t compact_bytes = SqliteFileBytes(CompactSegmentPath(Dir(), 1));
  EXPECT_LT(compact_bytes, raw_bytes);
  // The catalog (and so the disk gauges and retention) has the new size.
  const int64_t expected = compact_bytes + SqliteFileBytes(SegmentPath(Dir(), 2));
  for (int i = 0; i < 500 && writer_->Stats().log_bytes != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(writer_->Stats().log_bytes, expected);

  // Events after the rotation go to the open segment, read after them.
  ASSERT_TRUE(Write({Ev("play_opened", Phase::kOpened, "late", kT0 + 99999)}).ok());
  std::vector<LogRecord> after = ReadAll();
  ASSERT_EQ(after.size(), 1001u);
  EXPECT_EQ(after.back().seq, 1001);
  after.pop_back();
  EXPECT_EQ(after, before);  // byte for byte, in seq order

  Result<LogReader> r = LogReader::Open(path_);
  ASSERT_TRUE(r.ok());
  std::vector<int64_t> seqs;
  ASSERT_OK(r->ForEachAfter(
      250,
      [&](const LogRecord& rec) {
        seqs.push_back(rec.seq);
        return Status::Ok();
      },
      3));
  EXPECT_EQ(seqs, (std::vector<int64_t>{251, 252, 253}));
  seqs.clear();
  // A limit across the compact and the open segment.
  ASSERT_OK(r->ForEachAfter(
      998,
      [&](const LogRecord& rec) {
        seqs.push_back(rec.seq);
        return Status::Ok();
      },
      10));
  EXPECT_EQ(seqs, (std::vector<int64_t>{999, 1000, 1001}));
  for (int64_t seq : {1, 256, 257, 700, 1000}) {
    Result<std::optional<LogRecord>> got = r->Get(seq);
    ASSERT_TRUE(got.ok());
    ASSERT_TRUE(got->has_value()) << seq;
    EXPECT_EQ(*got.value(), before[static_cast<size_t>(seq - 1)]);
  }
  Result<std::optional<LogRecord>> one = r->Get(1001);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ(one.value()->session_id, "late");
  Result<int64_t> last = r->LastSeq();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last.value(), 1001);
  auto oldest = r->Oldest();
  ASSERT_TRUE(oldest.ok() && oldest->has_value());
  EXPECT_EQ(*oldest.value(), std::make_pair(int64_t{1}, kNow));
  // The nginx-rtmp restore's read: by arrival time and name.
  int n = 0;
  ASSERT_OK(r->ForEachReceivedSince(kNow + 5000, "play_c*", [&](const LogRecord& rec) {
    EXPECT_EQ(rec.event, "play_closed");
    EXPECT_GE(rec.seq, 701);
    ++n;
    return Status::Ok();
  }));
  EXPECT_EQ(n, 150);

  // The dead letters, with the segment they are in.
  std::vector<LogReject> rejects = Rejects();
  ASSERT_EQ(rejects.size(), 2u);
  EXPECT_EQ(rejects[0].segment, 1);
  EXPECT_EQ(rejects[0].reason, "invalid JSON");
  EXPECT_EQ(rejects[0].body, "{not json");
  EXPECT_EQ(rejects[0].after_seq, 700);
  EXPECT_EQ(rejects[0].remote_addr, "192.0.2.1");
  EXPECT_EQ(rejects[0].item_index, 3);
  EXPECT_EQ(rejects[1].body, "{}");

  // The test helper's SQL view decodes it too.
  EXPECT_EQ(test::QueryRows(path_,
                            "SELECT count(*), min(seq), max(seq), (SELECT count(*) FROM "
                            "log_rejected) FROM events"),
            (std::vector<std::string>{"1001\t1\t1001\t2"}));
}

TEST_F(CompactorTest, AResendOfACompactedEventIsADuplicate) {
  const std::vector<Event> first = Events(600);
  ASSERT_TRUE(Write(first).ok());
  ASSERT_OK(writer_->RotateNow());
  WaitCompacted(1);
  // Segment 1 is the one closed before the open one …
  Result<WriteOutcome> o = Write(first);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->accepted, 0);
  EXPECT_EQ(o->duplicates, 600);
  // … and then one closed within the horizon whose times hold the event's.
  ASSERT_TRUE(Write(Events(10, kT0 + 50000)).ok());
  ASSERT_OK(writer_->RotateNow());
  WaitCompacted(2);
  std::vector<Event> again = {first[0], first[301], first[599]};
  // Same key but another event_id, or another server: distinct events.
  Event other_id = first[3];
  other_id.event_id = 12345;
  Event other_server = first[4];
  other_server.server = "edge-x";
  again.push_back(other_id);
  again.push_back(other_server);
  o = Write(again);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->duplicates, 3);
  EXPECT_EQ(o->accepted, 2);
  EXPECT_EQ(ReadAll().size(), 612u);
}

TEST_F(CompactorTest, ARestartFindsTheCompactSegmentAndContinuesItsSeqs) {
  ASSERT_TRUE(Write(Events(400), {Rej("bad", "x")}).ok());
  ASSERT_OK(writer_->RotateNow());
  WaitCompacted(1);
  ASSERT_OK(writer_->FlushNow());
  Reopen();
  Result<WriteOutcome> o = Write({Ev("play_opened", Phase::kOpened, "next", kT0 + 777777)});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->accepted, 1);
  o = Write(Events(400));  // still duplicates after the restart
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->duplicates, 400);
  const std::vector<LogRecord> all = ReadAll();
  ASSERT_EQ(all.size(), 401u);
  EXPECT_EQ(all.back().seq, 401);
  EXPECT_EQ(all.back().session_id, "next");
  EXPECT_EQ(Rejects().size(), 1u);
  ASSERT_OK(writer_->FlushNow());
  EXPECT_EQ(writer_->Stats().log_last_seq, 401);
  EXPECT_EQ(test::QueryRows(path_, "SELECT count(*) FROM sessions"),
            (std::vector<std::string>{"201"}));
}

// A crash between the compact file's rename and the raw file's deletion
// leaves both forms; one before the rename, a temporary file.
TEST_F(CompactorTest, ACrashDuringCompactionLeavesEveryEventOnce) {
  Reopen(/*compact=*/false);
  ASSERT_TRUE(Write(Events(500), {Rej("bad", "x")}).ok());
  ASSERT_OK(writer_->RotateNow());
  ASSERT_TRUE(Write(Events(20, kT0 + 90000)).ok());
  ASSERT_OK(writer_->RotateNow());
  ASSERT_TRUE(Write(Events(5, kT0 + 99000)).ok());
  const std::vector<LogRecord> before = ReadAll();
  ASSERT_EQ(before.size(), 525u);
  writer_.reset();

  // Segment 1: both forms.
  const std::string raw1 = SegmentPath(Dir(), 1);
  fs::copy_file(raw1, raw1 + ".keep");
  {
    SegmentCatalog catalog;
    Result<SegmentInfo> info = ReadSegmentInfo(raw1, 1);
    ASSERT_TRUE(info.ok());
    info->closed = true;
    catalog.Put(info.value());
    ASSERT_OK(Compactor::CompactOne(Dir(), info.value(), CompactOptions(), &catalog));
    EXPECT_TRUE(catalog.Get(1)->compact);
  }
  ASSERT_FALSE(fs::exists(raw1));
  fs::rename(raw1 + ".keep", raw1);
  // Segment 2: an interrupted build.
  const std::string tmp2 = CompactSegmentPath(Dir(), 2) + ".tmp";
  std::ofstream(tmp2) << "half a file";
  std::ofstream(tmp2 + "-journal") << "its journal";

  // A reader before the restart reads each event once (the compact form).
  EXPECT_EQ(ReadAll(), before);

  Reopen(/*compact=*/false);
  EXPECT_FALSE(fs::exists(raw1));
  EXPECT_TRUE(fs::exists(CompactSegmentPath(Dir(), 1)));
  EXPECT_FALSE(fs::exists(tmp2));
  EXPECT_FALSE(fs::exists(tmp2 + "-journal"));
  EXPECT_TRUE(fs::exists(SegmentPath(Dir(), 2)));
  EXPECT_EQ(ReadAll(), before);
  EXPECT_EQ(Rejects().size(), 1u);
  Result<WriteOutcome> o = Write(Events(500));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->duplicates, 500);
  o = Write({Ev("play_opened", Phase::kOpened, "next", kT0 + 777777)});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(ReadAll().back().seq, 526);

  // The compactor on: segment 2 is compacted at the next start.
  Reopen(/*compact=*/true);
  WaitCompacted(1);
  EXPECT_FALSE(fs::exists(SegmentPath(Dir(), 2)));
  EXPECT_EQ(ReadAll().size(), 526u);
}

TEST_F(CompactorTest, ACompactFileThatDoesNotHoldTheSegmentLosesToTheRawOne) {
  Reopen(/*compact=*/false);
  ASSERT_TRUE(Write(Events(300)).ok());
  ASSERT_OK(writer_->RotateNow());
  ASSERT_TRUE(Write(Events(3, kT0 + 90000)).ok());
  const std::vector<LogRecord> before = ReadAll();
  writer_.reset();
  // A compact file of only part of segment 1.
  {
    Result<Db> raw = Db::Open(SegmentPath(Dir(), 1), false, /*read_only=*/true);
    ASSERT_TRUE(raw.ok());
    Result<RecordSource> part = EventsTableSource(&raw.value(), 0, 100);
    ASSERT_TRUE(part.ok());
    ASSERT_TRUE(
        WriteCompactSegment(CompactSegmentPath(Dir(), 1), part.value(), CompactOptions()).ok());
  }
  Reopen(/*compact=*/false);
  EXPECT_FALSE(fs::exists(CompactSegmentPath(Dir(), 1)));
  EXPECT_TRUE(fs::exists(SegmentPath(Dir(), 1)));
  EXPECT_EQ(ReadAll(), before);
}

TEST_F(CompactorTest, BackupCopiesCompactSegmentsAndRetentionDeletesThem) {
  ASSERT_TRUE(Write(Events(300), {Rej("bad", "x")}).ok());
  ASSERT_OK(writer_->RotateNow());
  WaitCompacted(1);
  ASSERT_TRUE(Write(Events(3, kT0 + 90000)).ok());
  ASSERT_OK(writer_->FlushNow());
  const std::vector<LogRecord> before = ReadAll();
  const std::string out = tmp_.File("backup");
  Result<BackupReport> report = Backup(path_, out);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->last_seq, 303);
  const std::string copy = out + "/sessions.db";
  EXPECT_TRUE(fs::exists(CompactSegmentPath(SegmentDir(copy), 1)));
  Result<LogReader> r = LogReader::Open(copy);
  ASSERT_TRUE(r.ok());
  std::vector<LogRecord> copied;
  ASSERT_OK(r->ForEachAfter(0, [&](const LogRecord& rec) {
    copied.push_back(rec);
    return Status::Ok();
  }));
  EXPECT_EQ(copied, before);

  // Retention deletes a segment in either form by its raw name.
  ASSERT_OK(RemoveSegmentFiles(SegmentPath(SegmentDir(copy), 1)));
  EXPECT_FALSE(fs::exists(CompactSegmentPath(SegmentDir(copy), 1)));
}

}  // namespace
}  // namespace sink
