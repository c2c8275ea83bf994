// Golden cases: events in, session rows out, as data (tests/golden/<case>/).
//
// A case directory holds:
//   *.json / *.ndjson        request bodies, posted in file-name order
//   expected_sessions.tsv    header = the sessions columns to compare; then one
//                            row per session ordered by id; NULL for SQL NULL
//   expected_counts.tsv      optional: accepted, duplicates, rejected over all requests
//   README.md                what the case shows and how the answers were computed
//
// Each case runs twice: as posted, and (Shuffled) with all its events replayed
// in random orders, with random duplicates, in random batches — the sessions
// must come out identical (design §3, order-independent merge).
#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

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
    if (ext == ".json" || ext == ".ndjson") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
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
  int64_t t = kNow;
  for (const fs::path& file : RequestFiles(dir_)) {
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
  for (const fs::path& file : RequestFiles(dir_)) {
    Result<ParsedBody> parsed = test::Parse(test::ReadFile(file));
    if (!parsed.ok()) continue;
    for (Event& e : parsed->events) events.push_back(std::move(e));
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

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, ::testing::ValuesIn(ListCases()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace sink
