// Kafka fan-out end to end: the real binary, librdkafka's mock cluster (a
// real Kafka protocol peer, in this process), and a real consumer.
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "fanout/dev_kafka.h"
#include "store/session_table.h"
#include "tests/e2e/sink_process.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using Clock = std::chrono::steady_clock;

struct Msg {
  std::string key, value;
  int32_t partition = 0;
  int64_t offset = 0;
  std::map<std::string, std::string> headers;
};

// Reads `topic` from the beginning until `done(messages)` or the timeout.
std::vector<Msg> Consume(const std::string& brokers, const std::string& topic, int partitions,
                         const std::function<bool(const std::vector<Msg>&)>& done,
                         int timeout_ms = 30000) {
  std::vector<Msg> out;
  rd_kafka_t* rk = test::ConsumerFromStart(brokers, topic, partitions);
  if (rk == nullptr) return out;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // done() may look at every message: ask it when the topic pauses or
  // every 1,000 messages, not after each one.
  bool check = true;
  while (!(check && done(out)) && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    check = m == nullptr || out.size() % 1000 == 999;
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Msg msg;
      if (m->key) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) msg.value.assign(static_cast<const char*>(m->payload), m->len);
      msg.partition = m->partition;
      msg.offset = m->offset;
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(h, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          msg.headers[name] = std::string(static_cast<const char*>(val), size);
        }
      }
      out.push_back(std::move(msg));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

// The keys of a JSON object (or of its member `member`, when given).
std::set<std::string> Keys(const std::string& json, const char* member = nullptr) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  std::set<std::string> keys;
  simdjson::ondemand::document doc = parser.iterate(padded);
  simdjson::ondemand::object obj =
      member ? doc[member].get_object().value() : doc.get_object().value();
  for (auto field : obj) keys.insert(std::string(field.unescaped_key().value()));
  return keys;
}

std::set<int64_t> Seqs(const std::vector<Msg>& msgs) {
  std::set<int64_t> s;
  for (const Msg& m : msgs) s.insert(std::stoll(m.headers.at("seq")));
  return s;
}

// A batch of `n` events over `sessions` sessions, unique per (batch, i).
std::string Batch(int batch, int n, int sessions = 5) {
  std::string body = "[";
  for (int i = 0; i < n; ++i) {
    if (i) body += ',';
    const int s = i % sessions;
    const char* ev = i < sessions ? "play_opened" : "play_updated";
    body += R"({"event":")" + std::string(ev) + R"(","id":"b)" + std::to_string(batch) + "-s" +
            std::to_string(s) + R"(","server":"edge1","media":"ch1","utc_ms":)" +
            std::to_string(1700000000000 + batch * 1000 + i) + R"(,"bytes":)" + std::to_string(i) +
            "}";
  }
  return body + "]";
}

class KafkaE2eTest : public ::testing::Test {
 protected:
  static constexpr int kPartitions = 3;

  void SetUp() override {
    auto mock = MockKafka::Start(3, kPartitions, {"sessionsink.events", "sessionsink.sessions"});
    ASSERT_TRUE(mock.ok()) << mock.status().ToString();
    kafka_ = std::move(mock.value());
  }

  void StartSink(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--db", db_, "--kafka-brokers", kafka_->bootstraps(), "--kafka-flush-timeout", "5s"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(sink_.Start(args)) << sink_.log();
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", sink_.port());
    cli_->set_read_timeout(30, 0);
  }

  int Post(const std::string& body) {
    auto r = cli_->Post("/events", body, "application/json");
    return r ? r->status : -1;
  }

  // A metric from /metrics, or -1.
  int64_t Metric(const std::string& name) {
    auto r = cli_->Get("/metrics");
    if (!r) return -1;
    const std::string needle = "\n" + name + " ";
    const size_t at = r->body.find(needle);
    if (at == std::string::npos) return -1;
    return std::stoll(r->body.substr(at + needle.size()));
  }

  bool WaitFor(const std::function<bool()>& cond, int timeout_ms = 30000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return cond();
  }

  void AllBrokers(bool up) {
    for (int b = 1; b <= kafka_->brokers(); ++b) {
      up ? kafka_->SetBrokerUp(b) : kafka_->SetBrokerDown(b);
    }
  }

  std::vector<Msg> ConsumeEvents(size_t distinct) {
    return Consume(kafka_->bootstraps(), "sessionsink.events", kPartitions,
                   [distinct](const std::vector<Msg>& m) { return Seqs(m).size() >= distinct; });
  }

  // Posts batches first..first+count-1 of `n` events each, all must be
  // answered 200; returns the slowest answer in milliseconds.
  int64_t PostBatches(int first, int count, int n) {
    int64_t worst = 0;
    for (int b = first; b < first + count; ++b) {
      const auto t0 = Clock::now();
      EXPECT_EQ(Post(Batch(b, n)), 200) << "batch " << b;
      worst = std::max<int64_t>(
          worst, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    }
    return worst;
  }

  int64_t StoredEvents() {
    return std::stoll(test::QueryRows(db_, "SELECT count(*) FROM events")[0]);
  }

  std::set<int64_t> AllSeqs() {
    std::set<int64_t> s;
    for (const std::string& r : test::QueryRows(db_, "SELECT seq FROM events"))
      s.insert(std::stoll(r));
    return s;
  }

  test::TempDir tmp_;
  std::string db_ = tmp_.File("sessions.db");
  std::unique_ptr<MockKafka> kafka_;
  test::SinkProcess sink_;
  std::unique_ptr<httplib::Client> cli_;
};

TEST_F(KafkaE2eTest, EveryEventArrivesOnceKeyedAndInSessionOrder) {
  StartSink();
  for (int b = 0; b < 20; ++b) ASSERT_EQ(Post(Batch(b, 30)), 200);
  const std::vector<Msg> msgs = ConsumeEvents(600);
  EXPECT_EQ(Seqs(msgs), AllSeqs());
  EXPECT_EQ(msgs.size(), 600u) << "no duplicates without failures";

  // Value = the event as received; key = session id; headers describe it.
  std::map<int64_t, std::string> bodies, sessions;
  for (const std::string& r : test::QueryRows(db_, "SELECT seq, session_id, body FROM events")) {
    const size_t t1 = r.find('\t'), t2 = r.find('\t', t1 + 1);
    const int64_t seq = std::stoll(r.substr(0, t1));
    sessions[seq] = r.substr(t1 + 1, t2 - t1 - 1);
    bodies[seq] = r.substr(t2 + 1);
  }
  std::map<std::string, int64_t> last_seq_of_key;
  for (const Msg& m : msgs) {
    const int64_t seq = std::stoll(m.headers.at("seq"));
    EXPECT_EQ(m.value, bodies[seq]);
    EXPECT_EQ(m.key, sessions[seq]);
    EXPECT_EQ(m.headers.at("kind"), "play");
    EXPECT_EQ(m.headers.at("server"), "edge1");
    EXPECT_TRUE(m.headers.at("phase") == "opened" || m.headers.at("phase") == "updated");
  }
  // Per-session order: within a partition, a key's seqs only increase.
  std::map<int32_t, std::vector<const Msg*>> by_partition;
  for (const Msg& m : msgs) by_partition[m.partition].push_back(&m);
  for (auto& [p, list] : by_partition) {
    std::sort(list.begin(), list.end(),
              [](const Msg* a, const Msg* b) { return a->offset < b->offset; });
    for (const Msg* m : list) {
      const int64_t seq = std::stoll(m->headers.at("seq"));
      EXPECT_GT(seq, last_seq_of_key[m->key]) << "key " << m->key << " out of order";
      last_seq_of_key[m->key] = seq;
    }
  }
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }));
}

TEST_F(KafkaE2eTest, SessionsTopicEndsWithTheSqliteRow) {
  StartSink();
  for (int b = 0; b < 5; ++b) ASSERT_EQ(Post(Batch(b, 20, 4)), 200);
  ASSERT_EQ(
      Post(
          R"([{"event":"play_closed","id":"b0-s1","server":"edge1","utc_ms":1700000009999,"reason":{"code":"bye"}}])"),
      200);
  ASSERT_TRUE(sink_.Flush());
  // The row as the table definition renders it (store/session_table.h); the
  // schema check below holds that rendering to the published contract.
  const std::vector<std::string> rows =
      test::QueryRows(db_, "SELECT id, " + SessionJsonSql("sessions") + " FROM sessions");
  ASSERT_EQ(rows.size(), 20u);
  std::map<std::string, std::string> want;
  for (const std::string& r : rows) want[r.substr(0, r.find('\t'))] = r.substr(r.find('\t') + 1);
  std::map<std::string, std::string> last;
  Consume(kafka_->bootstraps(), "sessionsink.sessions", kPartitions,
          [&](const std::vector<Msg>& msgs) {
            last.clear();
            for (const Msg& m : msgs) last[m.key] = m.value;  // partitions keep per-key order
            return last == want;
          });
  EXPECT_EQ(last, want);
  EXPECT_NE(want["b0-s1"].find(R"("close_reason":"{\"code\":\"bye\"}")"), std::string::npos);
  // Messages carry exactly the fields the published JSON Schema lists.
  const std::string schema =
      test::ReadFile(SINK_SOURCE_DIR "/schemas/kafka/sessionsink.sessions.schema.json");
  EXPECT_EQ(Keys(want["b0-s1"]), Keys(schema, "properties"));
}

TEST_F(KafkaE2eTest, BrokersDownIngestContinuesAndBacklogDrains) {
  StartSink();
  ASSERT_EQ(Post(Batch(0, 20)), 200);
  ASSERT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_events_cursor") == 20; }));
  AllBrokers(false);
  for (int b = 1; b <= 10; ++b) ASSERT_EQ(Post(Batch(b, 20)), 200) << "HTTP must not wait on Kafka";
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") > 0; }));
  auto ready = cli_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_NE(ready->body.find("\"backlog_events\":"), std::string::npos) << ready->body;
  AllBrokers(true);
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 60000));
  EXPECT_EQ(Seqs(ConsumeEvents(220)), AllSeqs());
}

TEST_F(KafkaE2eTest, OutageLongerThanMessageTimeoutLosesNothing) {
  StartSink({"--kafka-option", "message.timeout.ms=1000"});
  ASSERT_EQ(Post(Batch(0, 10)), 200);
  ASSERT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_events_cursor") == 10; }));
  AllBrokers(false);
  for (int b = 1; b <= 5; ++b) ASSERT_EQ(Post(Batch(b, 20)), 200);
  // Deliveries expire (1 s) while the brokers stay away for longer.
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_delivery_errors_total") > 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  AllBrokers(true);
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 60000));
  EXPECT_EQ(Seqs(ConsumeEvents(110)), AllSeqs());
  EXPECT_GT(Metric("sessionsink_kafka_chunk_retries_total"), 0);
}

TEST_F(KafkaE2eTest, KilledMidBacklogAndRestartedLosesNothing) {
  StartSink();
  ASSERT_EQ(Post(Batch(0, 20)), 200);
  ASSERT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_events_cursor") == 20; }));
  AllBrokers(false);
  for (int b = 1; b <= 10; ++b) ASSERT_EQ(Post(Batch(b, 20)), 200);
  EXPECT_EQ(sink_.Stop(SIGKILL), 128 + SIGKILL);
  AllBrokers(true);
  StartSink();
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 60000));
  const std::vector<Msg> msgs = ConsumeEvents(220);
  EXPECT_EQ(Seqs(msgs), AllSeqs());
  // At least once: redelivery after the kill is allowed; say how much.
  RecordProperty("duplicates", static_cast<int>(msgs.size() - Seqs(msgs).size()));
}

TEST_F(KafkaE2eTest, SigtermPersistsTheCursor) {
  StartSink();
  for (int b = 0; b < 3; ++b) ASSERT_EQ(Post(Batch(b, 10)), 200);
  ASSERT_TRUE(WaitFor([&] {
    return Metric("sessionsink_kafka_backlog_events") == 0 &&
           Metric("sessionsink_kafka_events_cursor") == 30;
  }));
  EXPECT_EQ(sink_.Stop(SIGTERM), 0);
  EXPECT_EQ(test::QueryRows(db_, "SELECT name, seq FROM relay_cursors ORDER BY name")[1],
            "sessions\t" + test::QueryRows(db_, "SELECT max(change_seq) FROM sessions")[0]);
  EXPECT_EQ(test::QueryRows(db_, "SELECT seq FROM relay_cursors WHERE name = 'events'")[0], "30");
  // Restart: nothing is produced again.
  StartSink();
  ASSERT_EQ(Post(Batch(9, 5)), 200);
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_events_cursor") == 35; }));
  EXPECT_EQ(Metric("sessionsink_kafka_events_delivered_total"), 5);
}

TEST_F(KafkaE2eTest, UndeliverableMessageIsDeadLetteredAndTheRelayMovesOn) {
  StartSink({"--kafka-option", "message.max.bytes=2000"});
  const std::string big = R"([{"event":"play_opened","id":"big","utc_ms":1700000000000,"pad":")" +
                          std::string(5000, 'x') + "\"}]";
  ASSERT_EQ(Post(big), 200);
  ASSERT_EQ(Post(Batch(1, 10)), 200);
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_events_cursor") == 11; }));
  EXPECT_EQ(Metric("sessionsink_kafka_dead_letters_total"), 1);
  EXPECT_TRUE(WaitFor([&] {
    return test::QueryRows(db_, "SELECT topic, seq, key FROM kafka_dead_letters") ==
           std::vector<std::string>{"sessionsink.events\t1\tbig"};
  }));
  std::set<int64_t> delivered = Seqs(ConsumeEvents(10));
  EXPECT_EQ(delivered.size(), 10u);
  EXPECT_EQ(delivered.count(1), 0u);
}

// A slow broker (1 s round trip on every broker) holds up delivery, not
// the HTTP answers: those come after the SQLite commit.
TEST_F(KafkaE2eTest, SlowBrokersDoNotSlowHttpAndLoseNothing) {
  StartSink();
  for (int b = 1; b <= kafka_->brokers(); ++b) kafka_->SetBrokerRtt(b, 1000);
  const int64_t worst_ms = PostBatches(0, 20, 50);
  RecordProperty("worst_post_ms", static_cast<int>(worst_ms));
  EXPECT_LT(worst_ms, 700) << "an answer waited on Kafka";
  EXPECT_GT(Metric("sessionsink_kafka_backlog_events"), 0) << "the round trip had no effect";
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 90000));
  const std::vector<Msg> msgs = ConsumeEvents(1000);
  EXPECT_EQ(Seqs(msgs), AllSeqs());
  EXPECT_EQ(msgs.size(), 1000u) << "slowness alone must not duplicate";
}

// Produce requests answered with errors (retriable ones, and dropped
// connections): librdkafka retries or the relay produces the chunk again;
// HTTP does not notice and every event reaches the topic.
TEST_F(KafkaE2eTest, InjectedProduceErrorsLoseNothing) {
  StartSink({"--kafka-option", "message.timeout.ms=3000", "--kafka-option", "debug=msg,eos",
             "--log-level", "debug"});
  std::vector<int> errors;
  for (int round = 0; round < 4; ++round) {
    for (rd_kafka_resp_err_t e :
         {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
          RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR__TRANSPORT,
          RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
          RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
          RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR}) {
      errors.push_back(e);
    }
  }
  kafka_->PushProduceErrors(errors);
  const int64_t worst_ms = PostBatches(0, 30, 40);
  RecordProperty("worst_post_ms", static_cast<int>(worst_ms));
  EXPECT_LT(worst_ms, 1500) << "an answer waited on Kafka";
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 90000));
  const std::vector<Msg> msgs = ConsumeEvents(1200);
  EXPECT_EQ(Seqs(msgs), AllSeqs());
  EXPECT_EQ(Metric("sessionsink_kafka_dead_letters_total"), 0) << "retriable errors are not final";
  // librdkafka's message debug log shows each injected error being met.
  const std::string log = sink_.log();
  size_t met = 0;
  for (size_t at = log.find("encountered error"); at != std::string::npos;
       at = log.find("encountered error", at + 1)) {
    ++met;
  }
  EXPECT_GE(met, errors.size()) << "the injected errors were not all met";
  RecordProperty("duplicates", static_cast<int>(msgs.size() - Seqs(msgs).size()));
}

// A broker restarts while the relay is delivering a backlog (the leader of
// some partitions disappears with requests in flight, then comes back),
// three times. A 200-ms round trip keeps requests in flight.
TEST_F(KafkaE2eTest, BrokerRestartMidBacklogLosesNothing) {
  StartSink();
  for (int b = 1; b <= kafka_->brokers(); ++b) kafka_->SetBrokerRtt(b, 200);
  AllBrokers(false);
  PostBatches(0, 100, 100);  // a 10,000-event backlog
  AllBrokers(true);
  int mid_backlog = 0;
  for (int restart = 0; restart < 3; ++restart) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the relay is producing
    if (Metric("sessionsink_kafka_backlog_events") > 0) ++mid_backlog;
    const int broker = 1 + restart % kafka_->brokers();
    kafka_->SetBrokerDown(broker);
    PostBatches(100 + restart * 10, 10, 100);  // ingest goes on meanwhile
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kafka_->SetBrokerUp(broker);
  }
  EXPECT_EQ(mid_backlog, 3) << "a restart did not happen while the backlog drained";
  for (int b = 1; b <= kafka_->brokers(); ++b) kafka_->SetBrokerRtt(b, 0);
  EXPECT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 90000));
  const std::vector<Msg> msgs = ConsumeEvents(13000);
  const std::set<int64_t> got = Seqs(msgs), want = AllSeqs();
  std::vector<int64_t> missing;
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                      std::back_inserter(missing));
  EXPECT_TRUE(missing.empty()) << missing.size() << " stored events not on the topic, first "
                               << missing.front() << ", last " << missing.back();
  EXPECT_EQ(StoredEvents(), 13000);
  RecordProperty("duplicates", static_cast<int>(msgs.size() - Seqs(msgs).size()));
}

// An error the idempotent producer cannot recover from (a sequence gap) is
// fatal: the relay recreates the producer and produces the chunk again.
TEST_F(KafkaE2eTest, FatalProducerErrorRecreatesTheProducer) {
  StartSink();
  kafka_->PushProduceErrors({RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                             RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER});
  EXPECT_LT(PostBatches(0, 10, 40), 1500);
  ASSERT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 90000))
      << sink_.log();
  EXPECT_EQ(Seqs(ConsumeEvents(400)), AllSeqs());
  EXPECT_TRUE(sink_.WaitForLog("fatal producer error")) << sink_.log();
}

// Writes refused as unauthorized (an ACL missing for a while) are retried
// until they succeed, not given up as dead letters.
TEST_F(KafkaE2eTest, AuthorizationErrorsAreRetriedNotDeadLettered) {
  StartSink();
  kafka_->PushProduceErrors(std::vector<int>(6, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
  EXPECT_LT(PostBatches(0, 10, 40), 1500);
  ASSERT_TRUE(WaitFor([&] { return Metric("sessionsink_kafka_backlog_events") == 0; }, 90000))
      << sink_.log();
  EXPECT_EQ(Seqs(ConsumeEvents(400)), AllSeqs());
  EXPECT_EQ(Metric("sessionsink_kafka_dead_letters_total"), 0);
  EXPECT_GT(Metric("sessionsink_kafka_delivery_errors_total"), 0) << "no error was met";
  EXPECT_EQ(test::QueryRows(db_, "SELECT count(*) FROM kafka_dead_letters")[0], "0");
}

TEST(KafkaOffTest, WithoutBrokersTheLogSaysSo) {
  test::TempDir tmp;
  test::SinkProcess sink;
  ASSERT_TRUE(sink.Start({"--db", tmp.File("s.db")})) << sink.log();
  EXPECT_EQ(sink.Stop(SIGTERM), 0);
  EXPECT_NE(sink.log().find("Kafka fan-out is off"), std::string::npos) << sink.log();
}

}  // namespace
}  // namespace sink
