// Golden cases: events in, session rows out, as data (tests/golden/<case>/).
//
// A case directory holds:
//   *.json / *.ndjson        request bodies, posted in file-name order
//   *.nginx                  nginx-rtmp callbacks, one per line (received_at, instance,
//                            form body; test_util.h), through one adapter per case
//   expected_sessions.tsv    header = the sessions columns to compare; then one
//                            row per session ordered by id; NULL for SQL NULL
//   expected_counts.tsv      optional: accepted, duplicates, rejected over all requests
//   README.md                what the case shows and how the answers were computed
//
// Each case runs twice: as posted, and (Shuffled) with all its events replayed
// in random orders, with random duplicates, in random batches — the sessions
// must come out identical (docs/session-model.md §3, the order-independent merge). Cases with
// nginx-rtmp callbacks also run a third time from their stored event bodies
// alone (ParseNginxRtmpStored, as the store replays its log).
#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

#include "ingest/platforms/platforms.h"
#include "store/clock.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = fs::path(SINK_SOURCE_DIR) / "tests" / "golden";
constexpr int64_t kNow = 1800000000000;  // sink clock; sessions never idle out here

std::vector<std::string> ListCases() {
  std::vector<std::string> cases;
  for (const auto& entry : fs::directory_iterator(kGoldenDir)) {
    if (entry.is_directory()) cases.push_back(entry.path().filename().string());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<fs::path> RequestFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".json" || ext == ".ndjson" || ext == ".nginx") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool IsNginx(const fs::path& f) { return f.extension() == ".nginx"; }

// The requests of a case in posting order: a body file is one batch; an
// .nginx file is one batch per callback, through `adapter` (one per case).
std::vector<WriteBatch> Batches(const std::vector<fs::path>& files, NginxRtmp& adapter) {
  std::vector<WriteBatch> out;
  int64_t t = kNow;
  for (const fs::path& file : files) {
    if (IsNginx(file)) {
      for (WriteBatch& b :
           test::NginxBatches(adapter, test::ReadNginxCallbacks(test::ReadFile(file)))) {
        out.push_back(std::move(b));
      }
      continue;
    }
    Result<ParsedBody> parsed = test::Parse(test::ReadFile(file));
    WriteBatch batch;
    batch.received_at = t++;
    batch.remote_addr = "127.0.0.1";
    if (parsed.ok()) {
      batch.events = std::move(parsed->events);
      batch.rejects = std::move(parsed->rejects);
    } else {
      batch.rejects.push_back(Reject{-1, parsed.status().message(), test::ReadFile(file), {}});
    }
    out.push_back(std::move(batch));
  }
  return out;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = kGoldenDir / GetParam();
    std::vector<std::string> expected = SplitLines(test::ReadFile(dir_ / "expected_sessions.tsv"));
    ASSERT_FALSE(expected.empty()) << "expected_sessions.tsv needs a header line";
    columns_ = expected.front();
    expected_rows_.assign(expected.begin() + 1, expected.end());
    std::replace(columns_.begin(), columns_.end(), '\t', ',');
  }

  std::unique_ptr<Writer> OpenWriter() {
    WriterOptions o;
    o.db_path = tmp_.File("golden.db");
    o.session_timeout_ms = 1000ll * 86400 * 365 * 100;
    auto w = Writer::Open(o, &clock_);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w.value()) : nullptr;
  }

  std::vector<std::string> SessionRows() {
    return test::QueryRows(tmp_.File("golden.db"),
                           "SELECT " + columns_ + " FROM sessions ORDER BY id");
  }

  fs::path dir_;
  std::string columns_;
  std::vector<std::string> expected_rows_;
  test::TempDir tmp_;
  FakeClock clock_{kNow};
};

TEST_P(GoldenTest, AsPosted) {
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  WriteOutcome total;
  NginxRtmp adapter({}, 1);
  for (WriteBatch& batch : Batches(RequestFiles(dir_), adapter)) {
    auto f = writer->Submit(std::move(batch));
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    Result<WriteOutcome> o = f->get();
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    total.accepted += o->accepted;
    total.duplicates += o->duplicates;
    total.rejected += o->rejected;
  }
  writer->Stop();
  EXPECT_EQ(SessionRows(), expected_rows_) << "columns: " << columns_;

  if (fs::exists(dir_ / "expected_counts.tsv")) {
    std::vector<std::string> counts = SplitLines(test::ReadFile(dir_ / "expected_counts.tsv"));
    ASSERT_EQ(counts.size(), 2u);
    EXPECT_EQ(counts[0], "accepted\tduplicates\trejected");
    EXPECT_EQ(counts[1], std::to_string(total.accepted) + "\t" + std::to_string(total.duplicates) +
                             "\t" + std::to_string(total.rejected));
  }
}

TEST_P(GoldenTest, ShuffledWithDuplicates) {
  std::vector<Event> events;
  NginxRtmp adapter({}, 1);
  for (WriteBatch& b : Batches(RequestFiles(dir_), adapter)) {
    for (Event& e : b.events) events.push_back(std::move(e));
  }
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::vector<Event> replay = events;
    for (const Event& e : events) {
      if (rng() % 3 == 0) replay.push_back(e);  // resent
    }
    std::shuffle(replay.begin(), replay.end(), rng);

    std::error_code ec;
    fs::remove(tmp_.File("golden.db"), ec);
    fs::remove(tmp_.File("golden.db-wal"), ec);
    fs::remove(tmp_.File("golden.db-shm"), ec);
    auto writer = OpenWriter();
    ASSERT_NE(writer, nullptr);
    // Random batch sizes; several submitted before waiting, so some share a
    // transaction (group commit) and some do not.
    std::vector<Writer::Future> pending;
    size_t i = 0;
    while (i < replay.size()) {
      const size_t n = std::min<size_t>(1 + rng() % 7, replay.size() - i);
      WriteBatch b;
      // One receive time for every batch: a session whose events carry no
      // time takes its first_event_at from it, whichever copy came first.
      b.received_at = kNow;
      b.events.assign(replay.begin() + static_cast<std::ptrdiff_t>(i),
                      replay.begin() + static_cast<std::ptrdiff_t>(i + n));
      i += n;
      auto f = writer->Submit(std::move(b));
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      pending.push_back(std::move(f.value()));
      if (rng() % 2 == 0) {
        for (auto& p : pending) ASSERT_TRUE(p.get().ok());
        pending.clear();
      }
    }
    for (auto& p : pending) ASSERT_TRUE(p.get().ok());
    writer->Stop();
    EXPECT_EQ(SessionRows(), expected_rows_) << "columns: " << columns_;
  }
}

// The store's replay: every stored nginx-rtmp event body, read back from
// the events table and parsed again with its received_at alone, gives the
// same events, and so the same rows in a fresh database.
class GoldenReplayTest : public GoldenTest {
 protected:
  // Reads the stored nginx-rtmp event bodies back, checks each gives the
  // event that was posted, and collects them as batches.
  void ReadBack(const std::vector<Event>& posted, std::vector<WriteBatch>* replay) {
    Result<Db> db = Db::Open(tmp_.File("golden.db"), false, true);
    ASSERT_TRUE(db.ok());
    test::ExposeLog(db.value());
    Result<Stmt> q = db->Prepare(
        "SELECT received_at, body FROM events WHERE event GLOB 'nginx-rtmp.*' ORDER BY seq");
    ASSERT_TRUE(q.ok());
    size_t i = 0;
    for (;;) {
      Result<bool> row = q->Step();
      ASSERT_TRUE(row.ok()) << row.status().ToString();
      if (!row.value()) break;
      Result<Event> e = ParseNginxRtmpStored(q->Text(1), q->Int(0));
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      // The same event as the one posted (the n-th nginx-rtmp event).
      while (i < posted.size() && posted[i].platform != "nginx-rtmp") ++i;
      ASSERT_LT(i, posted.size());
      const Event& p = posted[i++];
      EXPECT_EQ(e->body, p.body);
      EXPECT_EQ(e->name, p.name);
      EXPECT_EQ(e->id, p.id);
      EXPECT_EQ(e->kind, p.kind);
      EXPECT_EQ(e->phase, p.phase);
      EXPECT_EQ(e->utc_ms, p.utc_ms);
      EXPECT_EQ(e->event_id, p.event_id);
      EXPECT_EQ(e->opened_at, p.opened_at);
      EXPECT_EQ(e->started_at, p.started_at);
      EXPECT_EQ(e->closed_at, p.closed_at);
      EXPECT_EQ(e->updated_at, p.updated_at);
      EXPECT_EQ(e->duration_ms, p.duration_ms);
      EXPECT_EQ(e->media, p.media);
      EXPECT_EQ(e->user_id, p.user_id);
      EXPECT_EQ(e->token, p.token);
      EXPECT_EQ(e->ip, p.ip);
      EXPECT_EQ(e->url, p.url);
      EXPECT_EQ(e->end_class, p.end_class);
      EXPECT_EQ(e->raw_reason, p.raw_reason);
      EXPECT_EQ(e->external_id, p.external_id);
      WriteBatch b;
      b.received_at = q->Int(0);
      b.events.push_back(std::move(e.value()));
      replay->push_back(std::move(b));
    }
  }
};

TEST_P(GoldenReplayTest, ReplayedFromStoredBodies) {
  const std::vector<fs::path> files = RequestFiles(dir_);
  std::vector<Event> posted;
  {
    auto writer = OpenWriter();
    ASSERT_NE(writer, nullptr);
    NginxRtmp adapter({}, 1);
    for (WriteBatch& b : Batches(files, adapter)) {
      for (const Event& e : b.events) posted.push_back(e);
      auto f = writer->Submit(std::move(b));
      ASSERT_TRUE(f.ok());
      ASSERT_TRUE(f->get().ok());
    }
    writer->Stop();
  }
  std::vector<WriteBatch> replay;
  ReadBack(posted, &replay);
  if (HasFailure()) return;
  // Into a fresh database, with the non-nginx requests of the case.
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::remove(tmp_.File(std::string("golden.db") + suffix), ec);
  }
  auto writer = OpenWriter();
  ASSERT_NE(writer, nullptr);
  NginxRtmp unused({}, 1);
  for (WriteBatch& b : Batches(files, unused)) {
    std::erase_if(b.events, [](const Event& e) { return e.platform == "nginx-rtmp"; });
    replay.push_back(std::move(b));
  }
  for (WriteBatch& b : replay) {
    auto f = writer->Submit(std::move(b));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->get().ok());
  }
  writer->Stop();
  EXPECT_EQ(SessionRows(), expected_rows_) << "columns: " << columns_;
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// The cases with nginx-rtmp callbacks.
std::vector<std::string> NginxCases() {
  std::vector<std::string> out;
  for (const std::string& c : ListCases()) {
    const std::vector<fs::path> files = RequestFiles(kGoldenDir / c);
    if (std::any_of(files.begin(), files.end(), IsNginx)) out.push_back(c);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, ::testing::ValuesIn(ListCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Cases, GoldenReplayTest, ::testing::ValuesIn(NginxCases()), CaseName);

}  // namespace
}  // namespace sink
