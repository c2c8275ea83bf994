// The compact form of a closed log segment: what goes in comes out, byte
// for byte, by seq, after a seq, and through the dedup keys.
#include "store/compact_segment.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>

#include "store/event_log.h"
#include "store/log_block.h"
#include "store/schema.h"
#include "store/segment_log.h"
#include "store/zstd_codec.h"

namespace sink {
namespace {

// Records shaped like the log's: Flussonic bodies, events without a session
// or a time, another platform, and bodies no parser would accept.
std::vector<LogRecord> Records(int n, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::vector<LogRecord> rs;
  int64_t seq = 100;
  for (int i = 0; i < n; ++i) {
    LogRecord r;
    seq += 1 + static_cast<int64_t>(rng() % 3);  // seqs need not be dense
    r.seq = seq;
    r.received_at = 1767225600000 + i / 10;
    r.server = "edge-" + std::to_string(rng() % 4);
    const std::string id = "sess-" + std::to_string(rng() % 50);
    r.utc_ms = 1767225600000 + i;
    r.event_id = i;
    r.dedup = static_cast<int64_t>(rng());
    switch (i % 7) {
      case 0:
        r.event = "server_started";
        r.body = R"({"event":"server_started","server":")" + *r.server + R"("})";
        break;
      case 1:
        r.event = "play_updated";
        r.kind = "play";
        r.phase = "updated";
        r.session_id = id;
        r.utc_ms.reset();
        r.event_id.reset();
        r.body = R"({"event":"play_updated","id":")" + id + R"("})";
        break;
      case 2:
        r.event = "streampixel.session";
        r.platform = "streampixel";
        r.session_id = id;
        r.body = std::string("{\"x\":\"\xff\xfe\x00 binary\"}", 19);
        break;
      default:
        r.event = "play_started";
        r.kind = "play";
        r.phase = "started";
        r.session_id = id;
        r.body = R"({"event":"play_started","utc_ms":)" + std::to_string(*r.utc_ms) + R"(,"id":")" +
                 id + R"(","media":"channel)" + std::to_string(rng() % 100) + R"(","bytes":)" +
                 std::to_string(rng() % 100000000) + "}";
    }
    rs.push_back(std::move(r));
  }
  return rs;
}

class CompactSegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("compact_segment_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SegmentMeta Write(const std::string& name, const std::vector<LogRecord>& rs,
                    const CompactOptions& o) {
    size_t i = 0;
    Result<SegmentMeta> meta = WriteCompactSegment((dir_ / name).string(),
                                                   [&](LogRecord* out) -> Result<bool> {
                                                     if (i == rs.size()) return false;
                                                     *out = rs[i++];
                                                     return true;
                                                   },
                                                   o);
    EXPECT_TRUE(meta.ok()) << meta.status().ToString();
    return meta.ok() ? meta.value() : SegmentMeta();
  }

  std::filesystem::path dir_;
};

TEST(LogBlockTest, RoundTripsEveryColumnExactly) {
  std::vector<LogRecord> rs = Records(200);
  // Extreme values: the deltas between them wrap.
  rs[3].utc_ms = std::numeric_limits<int64_t>::min();
  rs[4].utc_ms = std::numeric_limits<int64_t>::max();
  rs[5].received_at = -5;
  rs[6].event_id = std::numeric_limits<int64_t>::min();
  rs[7].body.clear();
  rs[8].server.reset();
  Result<std::string> block = EncodeLogBlock(rs, 3);
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  Result<std::vector<LogRecord>> back = DecodeLogBlock(block.value());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back.value(), rs);
}

TEST(LogBlockTest, DamagedOrForeignBlocksAreRefusedNotMisread) {
  const std::vector<LogRecord> rs = Records(64);
  Result<std::string> block = EncodeLogBlock(rs, 3);
  ASSERT_TRUE(block.ok());
  std::string cut = block.value().substr(0, block.value().size() / 2);
  EXPECT_EQ(DecodeLogBlock(cut).status().code(), Status::Code::kInvalid);
  EXPECT_EQ(DecodeLogBlock("not zstd at all").status().code(), Status::Code::kInvalid);

  std::vector<std::string> samples;
  for (const LogRecord& r : Records(3000, 11)) samples.push_back(r.body);
  Result<std::shared_ptr<const ZstdDict>> dict = ZstdDict::Train(samples, 16 << 10, 3);
  ASSERT_TRUE(dict.ok()) << dict.status().ToString();
  Result<std::string> with_dict = EncodeLogBlock(rs, 3, dict.value().get());
  ASSERT_TRUE(with_dict.ok());
  EXPECT_EQ(DictIdOf(with_dict.value()), dict.value()->id());
  // Without its dictionary the block is refused with a reason.
  Result<std::vector<LogRecord>> no_dict = DecodeLogBlock(with_dict.value());
  ASSERT_FALSE(no_dict.ok());
  EXPECT_NE(no_dict.status().message().find("dictionary"), std::string::npos);
  Result<std::vector<LogRecord>> back = DecodeLogBlock(with_dict.value(), dict.value().get());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), rs);
}

TEST_F(CompactSegmentTest, ReadsBackEveryEventBySeqAfterASeqAndByDedupKey) {
  for (size_t dict_bytes : {size_t{0}, size_t{32} << 10}) {
    SCOPED_TRACE(dict_bytes);
    const std::vector<LogRecord> rs = Records(5000);
    CompactOptions o;
    o.dict_bytes = dict_bytes;
    const std::string name = "seg" + std::to_string(dict_bytes);
    const SegmentMeta meta = Write(name, rs, o);
    EXPECT_EQ(meta.count, 5000);
    EXPECT_EQ(meta.first_seq, rs.front().seq);
    EXPECT_EQ(meta.last_seq, rs.back().seq);
    EXPECT_FALSE(std::filesystem::exists(dir_ / (name + ".tmp")));

    Result<CompactSegment> seg = CompactSegment::Open((dir_ / name).string());
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    EXPECT_EQ(seg->meta().count, 5000);
    EXPECT_EQ(seg->meta().min_utc_ms, rs.front().utc_ms);

    std::vector<LogRecord> all;
    ASSERT_TRUE(seg->ForEachAfter(0,
                                  [&](const LogRecord& r) {
                                    all.push_back(r);
                                    return Status::Ok();
                                  })
                    .ok());
    EXPECT_EQ(all, rs);

    // After a seq in the middle of a block: exactly the later events.
    const int64_t cut = rs[1000].seq;
    std::vector<LogRecord> rest;
    ASSERT_TRUE(seg->ForEachAfter(cut,
                                  [&](const LogRecord& r) {
                                    rest.push_back(r);
                                    return Status::Ok();
                                  })
                    .ok());
    EXPECT_EQ(rest, std::vector<LogRecord>(rs.begin() + 1001, rs.end()));

    for (size_t i : {size_t{0}, size_t{63}, size_t{64}, size_t{2500}, size_t{4999}}) {
      Result<std::optional<LogRecord>> got = seg->Get(rs[i].seq);
      ASSERT_TRUE(got.ok());
      ASSERT_TRUE(got.value().has_value());
      EXPECT_EQ(*got.value(), rs[i]);
      Result<std::vector<int64_t>> c = seg->Candidates(rs[i].utc_ms, rs[i].dedup);
      ASSERT_TRUE(c.ok());
      EXPECT_EQ(c.value(), std::vector<int64_t>{rs[i].seq});
    }
    // Seqs the segment does not hold, and a key it never saw.
    for (int64_t missing : {int64_t{1}, rs.back().seq + 1}) {
      Result<std::optional<LogRecord>> gap = seg->Get(missing);
      ASSERT_TRUE(gap.ok());
      EXPECT_FALSE(gap.value().has_value());
    }
    Result<std::vector<int64_t>> none = seg->Candidates(rs[1].utc_ms, rs[1].dedup + 1);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none.value().empty());
  }
}

// The log as the sink writes it today (EventLog into an open segment's
// events table) compacts into a segment that reads back every column as
// stored.
TEST_F(CompactSegmentTest, CompactsTheEventsTableTheLogWrites) {
  const std::string main_path = (dir_ / "seg-00000001.db").string();
  Result<Db> db = Db::Open(main_path, true);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec(SegmentSchemaSql()).ok());
  Result<EventLog> log = EventLog::Open(&db.value(), /*writable=*/true);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_TRUE(db->Exec("BEGIN").ok());
  for (int i = 0; i < 1000; ++i) {
    Event e;
    e.name = i % 10 == 0 ? "server_started" : "play_updated";
    e.server = "edge-" + std::to_string(i % 3);
    if (i % 10 != 0) {
      e.kind = "play";
      e.phase = Phase::kUpdated;
      e.id = "s" + std::to_string(i % 37);
      e.utc_ms = 1767225600000 + i;
    }
    e.platform = i % 5 == 0 ? "zego" : std::string(kFlussonicPlatform);
    e.body = R"({"event":")" + e.name + R"(","n":)" + std::to_string(i) + "}";
    Status st = log->Append(e, i + 1, DedupHash(e), 1767225700000 + i);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  ASSERT_TRUE(db->Exec("COMMIT").ok());

  // Everything after seq 100, up to 900, as a segment.
  Result<RecordSource> src = EventsTableSource(&db.value(), 100, 900);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  Result<SegmentMeta> meta =
      WriteCompactSegment((dir_ / "seg").string(), src.value(), CompactOptions());
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->first_seq, 101);
  EXPECT_EQ(meta->last_seq, 900);
  EXPECT_EQ(meta->count, 800);

  Result<CompactSegment> seg = CompactSegment::Open((dir_ / "seg").string());
  ASSERT_TRUE(seg.ok());
  Result<Stmt> rows = db->Prepare(
      "SELECT seq, received_at, server, event, kind, phase, session_id, utc_ms, event_id, dedup,"
      " body, platform FROM events WHERE seq > 100 AND seq <= 900 ORDER BY seq");
  ASSERT_TRUE(rows.ok());
  int64_t n = 0;
  ASSERT_TRUE(seg->ForEachAfter(0,
                                [&](const LogRecord& r) {
                                  Result<bool> row = rows->Step();
                                  EXPECT_TRUE(row.ok() && row.value());
                                  EXPECT_EQ(r.seq, rows->Int(0));
                                  EXPECT_EQ(r.received_at, rows->Int(1));
                                  EXPECT_EQ(r.server, rows->OptText(2));
                                  EXPECT_EQ(r.event, rows->Text(3));
                                  EXPECT_EQ(r.kind, rows->OptText(4));
                                  EXPECT_EQ(r.phase, rows->OptText(5));
                                  EXPECT_EQ(r.session_id, rows->OptText(6));
                                  EXPECT_EQ(r.utc_ms, rows->OptInt(7));
                                  EXPECT_EQ(r.event_id, rows->OptInt(8));
                                  EXPECT_EQ(r.dedup, rows->Int(9));
                                  EXPECT_EQ(r.body, rows->Text(10));
                                  EXPECT_EQ(r.platform, rows->OptText(11));
                                  ++n;
                                  return Status::Ok();
                                })
                  .ok());
  EXPECT_EQ(n, 800);
}

TEST_F(CompactSegmentTest, AFailedBuildLeavesNoSegmentBehind) {
  int calls = 0;
  Result<SegmentMeta> meta = WriteCompactSegment((dir_ / "broken").string(),
                                                 [&](LogRecord* out) -> Result<bool> {
                                                   if (++calls > 100)
                                                     return Status::IoError("the source failed");
                                                   *out = Records(1)[0];
                                                   out->seq = calls;
                                                   return true;
                                                 },
                                                 CompactOptions());
  EXPECT_EQ(meta.status().code(), Status::Code::kIoError);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "broken"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "broken.tmp"));
}

}  // namespace
}  // namespace sink
