// Crash safety of the real binary: "an acknowledged event is never lost".
//
// Four clients post 100-event batches of Flussonic events while the sink is
// SIGKILLed at random moments (50–400 ms into the load, with the writer
// committing and checkpointing its own WAL between rounds) and
// restarted on the same file. A batch counts as acknowledged only when it got
// a 200; any other outcome (refused connection, reset, timeout, 503) is
// unknown and the client resends the same batch, as Flussonic does. At the end:
// every acknowledged event is in `events`, none twice, the file passes
// `PRAGMA integrity_check`, and `sessions` equals a rebuild from the stored
// events on a fresh sink. The Kafka variant also checks that every stored
// event reached the events topic (at least once).
#include <fcntl.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "store/segment_log.h"
#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

// This test runs a Kafka consumer in-process: under ThreadSanitizer it needs
// librdkafka's C11 threads routed through the intercepted pthread calls, as
// kafka_e2e_test does (see fanout/tsan_c11_threads.cc).
#if defined(__SANITIZE_THREAD__)
#define SINK_CRASH_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SINK_CRASH_TEST_TSAN 1
#endif
#endif
#ifdef SINK_CRASH_TEST_TSAN
#include "fanout/tsan_c11_threads.cc"
#endif

extern char** environ;

namespace sink {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClients = 4;
constexpr int kBatchEvents = 100;
constexpr int kSessions = 300;
constexpr int64_t kBaseMs = 1764000000000;  // 2025-11-24T16:00:00Z

// The columns of `sessions` that depend only on the set of stored events (not
// seen_at, change_seq or anything else taken from the sink's clock).
const char* kSessionColumns =
    "SELECT id, kind, state, opened_at, started_at, closed_at, stall_count, stalled_ms, "
    "event_count, last_event_at, first_event_at, bytes, close_reason FROM sessions ORDER BY id";

// Event number `n` (its event_id; utc_ms is derived from it, so every event is
// distinct) of a random session among kSessions, in Flussonic's format.
std::string EventJson(int64_t n, std::mt19937_64& rng) {
  static const char* kPhases[] = {"play_opened",  "play_started",   "play_updated",
                                  "play_updated", "play_updated",   "play_updated",
                                  "play_stalled", "play_recovered", "play_closed"};
  const int s = static_cast<int>(rng() % kSessions);
  const char* ev = kPhases[rng() % (sizeof kPhases / sizeof kPhases[0])];
  const int64_t utc_ms = kBaseMs + n * 10;
  std::string j = R"({"event":")" + std::string(ev) + R"(","event_id":)" + std::to_string(n) +
                  R"(,"utc_ms":)" + std::to_string(utc_ms) + R"(,"server":"edge)" +
                  std::to_string(s % 3) + R"(.example.net","id":"9f3c2a10-)" + std::to_string(s) +
                  R"(-4b7e-a1d2-5e6f7a8b9c0d","type":"play","media":"channel)" +
                  std::to_string(s % 17) + R"(","ip":"10.1.)" + std::to_string(s % 250) + "." +
                  std::to_string(s % 7 + 1) + R"(","proto":"hls","user_id":"u)" +
                  std::to_string(s % 97) + "\"";
  if (std::string_view(ev) == "play_opened") {
    j += R"(,"opened_at":)" + std::to_string(utc_ms / 1000);
  } else if (std::string_view(ev) == "play_updated") {
    j += R"(,"bytes":)" + std::to_string(n * 1000);
  } else if (std::string_view(ev) == "play_closed") {
    j += R"(,"bytes":)" + std::to_string(n * 1000) + R"(,"reason":"normal")";
  }
  return j + "}";
}

// One batch as a client posted it.
struct BatchRecord {
  int64_t first = 0;  // event_ids [first, first + kBatchEvents)
  int client = 0;
  int attempts = 0;     // posts of this body
  bool acked = false;   // got a 200
  int duplicates = -1;  // "duplicates" of the 200 answer
};

// A number from a small JSON answer: `"name":N`.
int64_t JsonInt(const std::string& body, const std::string& name) {
  const size_t at = body.find("\"" + name + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(body.substr(at + name.size() + 3));
}

// Clients posting batches to whatever port the sink currently listens on
// (0 while it is down), resending a batch until it is acknowledged.
class Load {
 public:
  Load(uint64_t seed, int pause_ms) : seed_(seed), pause_ms_(pause_ms) {}
  ~Load() { Stop(); }

  void Start() {
    for (int c = 0; c < kClients; ++c) threads_.emplace_back([this, c] { Client(c); });
  }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  void SetPort(int port) { port_ = port; }

  std::vector<BatchRecord> batches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  int64_t next_id() const { return next_id_; }
  int bad_answers() const { return bad_answers_; }

 private:
  void Client(int c) {
    std::mt19937_64 rng(seed_ + static_cast<uint64_t>(c));
    std::unique_ptr<httplib::Client> cli;
    int cli_port = 0;
    BatchRecord rec;
    std::string body;
    bool have = false;
    while (!stop_) {
      if (!have) {
        rec = BatchRecord{};
        rec.first = next_id_.fetch_add(kBatchEvents);
        rec.client = c;
        body = "[";
        for (int i = 0; i < kBatchEvents; ++i) {
          if (i) body += ',';
          body += EventJson(rec.first + i, rng);
        }
        body += "]";
        have = true;
      }
      const int port = port_;
      if (port == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      if (port != cli_port) {
        cli = std::make_unique<httplib::Client>("127.0.0.1", port);
        cli->set_keep_alive(true);
        cli->set_tcp_nodelay(true);
        cli->set_connection_timeout(1, 0);
        cli->set_read_timeout(10, 0);
        cli->set_write_timeout(10, 0);
        cli_port = port;
      }
      ++rec.attempts;
      auto r = cli->Post("/events", body, "application/json");
      if (r && r->status == 200) {
        rec.acked = true;
        rec.duplicates = static_cast<int>(JsonInt(r->body, "duplicates"));
        if (JsonInt(r->body, "accepted") + rec.duplicates != kBatchEvents ||
            JsonInt(r->body, "rejected") != 0) {
          ++bad_answers_;
          std::fprintf(stderr, "unexpected answer to batch %lld: %s\n",
                       static_cast<long long>(rec.first), r->body.c_str());
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          batches_.push_back(rec);
        }
        have = false;
        if (pause_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms_));
      } else {
        // Unknown: maybe stored, maybe not. Resend the same body, as Flussonic does.
        if (!r) cli_port = 0;  // a fresh connection next time
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (have && rec.attempts > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      batches_.push_back(rec);  // never acknowledged
    }
  }

  const uint64_t seed_;
  const int pause_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<int> port_{0};
  std::atomic<int64_t> next_id_{0};
  std::atomic<int> bad_answers_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::vector<BatchRecord> batches_;  // guarded by mu_
};

// `sessionsink dev-kafka` in a child process: the mock cluster outlives every
// sink it serves.
class DevKafka {
 public:
  ~DevKafka() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (drain_.joinable()) drain_.join();
  }

  bool Start() {
    int fds[2];
    if (pipe(fds) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<std::string> args = {SESSIONSINK_BIN, "dev-kafka"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, SESSIONSINK_BIN, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
      pid_ = -1;
      close(fds[0]);
      return false;
    }
    // The first line is the bootstrap list; keep reading so the child never blocks.
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') bootstraps_ += c;
    drain_ = std::thread([fd = fds[0]] {
      char buf[512];
      while (read(fd, buf, sizeof buf) > 0) {
      }
      close(fd);
    });
    return !bootstraps_.empty();
  }
  const std::string& bootstraps() const { return bootstraps_; }

 private:
  pid_t pid_ = -1;
  std::string bootstraps_;
  std::thread drain_;
};

struct KafkaCount {
  std::set<int64_t> seqs;       // distinct `seq` headers
  std::set<int64_t> event_ids;  // distinct event_id in the values
  int64_t messages = 0;
};

// Reads the whole topic from the beginning: until `distinct_seqs` distinct
// seqs were seen and every partition is at its end, or the timeout.
KafkaCount ConsumeAll(const std::string& brokers, const std::string& topic, int partitions,
                      size_t distinct_seqs, int timeout_ms = 30000) {
  KafkaCount out;
  rd_kafka_t* rk = test::ConsumerFromStart(brokers, topic, partitions, /*eof=*/true);
  if (rk == nullptr) return out;
  // The mock cluster keeps only the last ~5 MiB per partition: a partition
  // that no longer starts at offset 0 would make the count meaningless.
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = -1, hi = -1;
    EXPECT_EQ(rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, 5000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(lo, 0) << "the mock cluster dropped the start of partition " << p;
  }
  std::vector<bool> at_end(static_cast<size_t>(partitions), false);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto all_at_end = [&] {
    for (bool e : at_end) {
      if (!e) return false;
    }
    return true;
  };
  while (Clock::now() < deadline && !(out.seqs.size() >= distinct_seqs && all_at_end())) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->partition >= 0 && m->partition < partitions) at_end[m->partition] = true;
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->partition >= 0 && m->partition < partitions) at_end[m->partition] = false;
      ++out.messages;
      rd_kafka_headers_t* h = nullptr;
      const void* val = nullptr;
      size_t size = 0;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_header_get_last(h, "seq", &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out.seqs.insert(std::stoll(std::string(static_cast<const char*>(val), size)));
      }
      if (m->payload) {
        const std::string v(static_cast<const char*>(m->payload), m->len);
        const int64_t id = JsonInt(v, "event_id");
        if (id >= 0) out.event_ids.insert(id);
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = std::random_device{}();
    std::printf("[crash] seed %llu\n", static_cast<unsigned long long>(seed_));
    RecordProperty("seed", std::to_string(seed_));
  }

  // Run `k` writes its sessions every 5 s (so every kill lands between a
  // commit and the flush that would have written it), every 50 ms (kills
  // land during flush cycles, with rows ahead of the watermark), or at the
  // default 1 s.
  std::vector<std::string> SinkArgs(const std::string& db, int k = 2) const {
    static const char* kFlush[] = {"5s", "50ms", "1s"};
    std::vector<std::string> args = {"--db", db, "--session-flush", kFlush[k % 3]};
    if (!brokers_.empty()) {
      args.insert(args.end(), {"--kafka-brokers", brokers_, "--kafka-flush-timeout", "5s"});
    }
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    return args;
  }

  // Runs the load through `kills` SIGKILL/restart cycles, then a last
  // stretch ended by SIGTERM.
  void RunWithKills(int kills, int pause_ms) {
    std::mt19937_64 rng(seed_);
    std::uniform_int_distribution<int> delay_ms(50, 400);
    load_ = std::make_unique<Load>(seed_ * 7919, pause_ms);
    const auto t0 = Clock::now();
    for (int k = 0; k <= kills; ++k) {
      ASSERT_TRUE(sink_.Start(SinkArgs(db_, k))) << "restart " << k << ":\n" << sink_.log();
      if (k == 0) {
        // One request from this thread first: cpp-httplib builds some state
        // lazily, and under ThreadSanitizer (the library is not
        // instrumented) its first use from several threads looks like a race.
        httplib::Client warm("127.0.0.1", sink_.port());
        ASSERT_TRUE(warm.Post("/events", "[]", "application/json"));
        load_->Start();
      }
      load_->SetPort(sink_.port());
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      if (k == kills) break;
      // Committed events whose sessions are not in the table yet: this kill
      // lands between a commit and its flush, and the restart must replay them.
      if (UnflushedEvents() > 0) ++kills_before_flush_;
      load_->SetPort(0);
      ASSERT_EQ(sink_.Stop(SIGKILL), 128 + SIGKILL);
      ++kills_done_;
    }
    load_->Stop();
    if (!brokers_.empty()) {
      // Let the relay drain what the last run committed before asking it to stop.
      WaitForBacklogZero();
    }
    ASSERT_EQ(sink_.Stop(SIGTERM), 0) << sink_.log();
    load_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
  }

  int64_t UnflushedEvents() {
    httplib::Client cli("127.0.0.1", sink_.port());
    cli.set_read_timeout(5, 0);
    auto r = cli.Get("/metrics");
    if (!r) return -1;
    const std::string needle = "\nsessionsink_sessions_unflushed_events ";
    const size_t at = r->body.find(needle);
    return at == std::string::npos ? -1 : std::stoll(r->body.substr(at + needle.size()));
  }

  void WaitForBacklogZero() {
    httplib::Client cli("127.0.0.1", sink_.port());
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto r = cli.Get("/metrics");
      if (r && r->body.find("\nsessionsink_kafka_backlog_events 0\n") != std::string::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "Kafka backlog not drained";
  }

  // Every acknowledged event stored once; the file sound; sessions = rebuild.
  void CheckDatabase() {
    const std::vector<BatchRecord> batches = load_->batches();
    const int64_t ids = load_->next_id();
    EXPECT_EQ(load_->bad_answers(), 0);

    std::vector<int> found(static_cast<size_t>(ids), 0);
    int64_t stored = 0, foreign = 0;
    for (const std::string& r : test::QueryRows(db_, "SELECT event_id FROM events")) {
      ++stored;
      const int64_t id = r == "NULL" ? -1 : std::stoll(r);
      if (id < 0 || id >= ids) {
        ++foreign;
      } else {
        ++found[static_cast<size_t>(id)];
      }
    }
    EXPECT_EQ(foreign, 0) << "events the clients never sent";
    int64_t twice = 0;
    for (int f : found) twice += f > 1 ? 1 : 0;
    EXPECT_EQ(twice, 0) << "events stored more than once";
    EXPECT_EQ(test::QueryRows(db_, "SELECT count(*) - count(DISTINCT dedup) FROM events")[0], "0");

    int64_t acked_batches = 0, acked_events = 0, acked_found = 0, unknown_batches = 0, resent = 0,
            resent_with_duplicates = 0;
    std::string missing;
    for (const BatchRecord& b : batches) {
      if (b.attempts > 1) ++resent;
      if (b.acked && b.duplicates > 0) ++resent_with_duplicates;
      if (!b.acked) {
        ++unknown_batches;
        continue;
      }
      ++acked_batches;
      for (int64_t id = b.first; id < b.first + kBatchEvents; ++id) {
        ++acked_events;
        if (found[static_cast<size_t>(id)] > 0) {
          ++acked_found;
        } else if (missing.size() < 2000) {
          missing += " " + std::to_string(id) + "(client " + std::to_string(b.client) +
                     ", attempts " + std::to_string(b.attempts) + ")";
        }
      }
    }
    EXPECT_EQ(acked_found, acked_events) << "acknowledged events missing:" << missing;
    EXPECT_EQ(test::QueryRows(db_, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});

    // The sessions table equals what a fresh sink makes of the stored events.
    const std::vector<std::string> bodies =
        test::QueryRows(db_, "SELECT body FROM events ORDER BY seq");
    test::TempDir rebuild_dir;
    const std::string rebuild_db = rebuild_dir.File("rebuild.db");
    test::SinkProcess fresh;
    ASSERT_TRUE(fresh.Start({"--db", rebuild_db})) << fresh.log();
    httplib::Client cli("127.0.0.1", fresh.port());
    cli.set_read_timeout(30, 0);
    for (size_t i = 0; i < bodies.size(); i += 1000) {
      std::string body = "[";
      const size_t end = std::min(bodies.size(), i + 1000);
      for (size_t j = i; j < end; ++j) {
        if (j > i) body += ',';
        body += bodies[j];
      }
      body += "]";
      auto r = cli.Post("/events", body, "application/json");
      ASSERT_TRUE(r) << httplib::to_string(r.error());
      ASSERT_EQ(r->status, 200) << r->body;
      ASSERT_EQ(JsonInt(r->body, "accepted"), static_cast<int64_t>(end - i)) << r->body;
    }
    ASSERT_EQ(fresh.Stop(SIGTERM), 0) << fresh.log();
    const std::vector<std::string> got = test::QueryRows(db_, kSessionColumns);
    const std::vector<std::string> want = test::QueryRows(rebuild_db, kSessionColumns);
    EXPECT_EQ(got.size(), want.size());
    size_t differing = 0;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
      if (got[i] != want[i] && ++differing <= 5) {
        ADD_FAILURE() << "sessions row differs from the rebuild:\n  crashed: " << got[i]
                      << "\n  rebuilt: " << want[i];
      }
    }
    EXPECT_EQ(differing, 0u);

    EXPECT_GT(kills_before_flush_, 0) << "no kill landed between a commit and its flush";
    std::printf(
        "[crash] kills %d (%d with committed events not yet in sessions), load %.1f s; batches "
        "acknowledged %lld, never acknowledged %lld, "
        "resent %lld (answered with duplicates %lld); events acknowledged %lld, found %lld, "
        "stored %lld, stored twice %lld; sessions %zu = rebuild\n",
        kills_done_, kills_before_flush_, load_seconds_, static_cast<long long>(acked_batches),
        static_cast<long long>(unknown_batches), static_cast<long long>(resent),
        static_cast<long long>(resent_with_duplicates), static_cast<long long>(acked_events),
        static_cast<long long>(acked_found), static_cast<long long>(stored),
        static_cast<long long>(twice), got.size());
    std::fflush(stdout);
    RecordProperty("kills", kills_done_);
    RecordProperty("kills_before_flush", kills_before_flush_);
    RecordProperty("batches_acknowledged", static_cast<int>(acked_batches));
    RecordProperty("batches_resent", static_cast<int>(resent));
    RecordProperty("events_acknowledged", static_cast<int>(acked_events));
    RecordProperty("events_acknowledged_found", static_cast<int>(acked_found));
    RecordProperty("events_stored", static_cast<int>(stored));
    RecordProperty("sessions", static_cast<int>(got.size()));
    stored_ = stored;
    acked_ids_.clear();
    for (const BatchRecord& b : batches) {
      if (b.acked) acked_ids_.push_back(b.first);
    }
  }

  uint64_t seed_ = 0;
  test::TempDir tmp_;
  std::string db_ = tmp_.File("sessions.db");
  std::string brokers_;                  // Kafka fan-out when set
  std::vector<std::string> extra_args_;  // more serve flags
  test::SinkProcess sink_;
  std::unique_ptr<Load> load_;
  int kills_done_ = 0;
  int kills_before_flush_ = 0;
  double load_seconds_ = 0;
  int64_t stored_ = 0;
  std::vector<int64_t> acked_ids_;  // first event_id of every acknowledged batch
};

TEST_F(CrashTest, SigkillUnderLoadLosesNoAcknowledgedEvent) {
  RunWithKills(20, 0);
  if (HasFatalFailure()) return;
  CheckDatabase();
}

// Segments of 256 KiB close every fraction of a second under this load and
// are compacted right after: the kills land while a segment is being
// closed, while the next is being created and while one is being compacted.
TEST_F(CrashTest, SigkillWhileSegmentsCloseAndCompactLosesNothing) {
  extra_args_ = {"--segment-bytes", "256KiB"};
  RunWithKills(12, 0);
  if (HasFatalFailure()) return;
  CheckDatabase();
  Result<std::vector<int64_t>> segments = ListSegments(SegmentDir(db_));
  ASSERT_TRUE(segments.ok());
  EXPECT_GT(segments->size(), 3u) << "the load closed segments";
}

TEST_F(CrashTest, SigkillWithKafkaFanOutDeliversEveryAcknowledgedEvent) {
  DevKafka kafka;
  ASSERT_TRUE(kafka.Start());
  brokers_ = kafka.bootstraps();
  // Paced (about 2.5k events/s) so the mock cluster, which keeps only the last
  // ~5 MiB per partition, still holds every message at the end.
  RunWithKills(8, 150);
  if (HasFatalFailure()) return;
  CheckDatabase();
  if (HasFatalFailure()) return;

  const KafkaCount k = ConsumeAll(brokers_, "sessionsink.events", 3, static_cast<size_t>(stored_));
  EXPECT_EQ(static_cast<int64_t>(k.seqs.size()), stored_) << "stored events missing on Kafka";
  int64_t acked = 0, acked_on_kafka = 0;
  for (int64_t first : acked_ids_) {
    for (int64_t id = first; id < first + kBatchEvents; ++id) {
      ++acked;
      acked_on_kafka += k.event_ids.count(id);
    }
  }
  EXPECT_EQ(acked_on_kafka, acked) << "acknowledged events missing on Kafka";
  const int64_t duplicates = k.messages - static_cast<int64_t>(k.seqs.size());
  std::printf(
      "[crash] kafka: messages %lld, distinct %zu, duplicates %lld; acknowledged events on "
      "Kafka %lld of %lld\n",
      static_cast<long long>(k.messages), k.seqs.size(), static_cast<long long>(duplicates),
      static_cast<long long>(acked_on_kafka), static_cast<long long>(acked));
  std::fflush(stdout);
  RecordProperty("kafka_messages", static_cast<int>(k.messages));
  RecordProperty("kafka_duplicates", static_cast<int>(duplicates));
  RecordProperty("kafka_acknowledged_found", static_cast<int>(acked_on_kafka));
}

}  // namespace
}  // namespace sink
