// The Kafka relay never stops for good: when a fatal error takes its
// producer and the next ones cannot be created, it retries with backoff,
// says so (stats, hence /metrics and /readyz), and delivers again once a
// producer is up. Kafka is librdkafka's mock cluster inside the producer
// (test.mock.num.brokers); the failing creations are a test hook.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fanout/kafka_relay.h"
#include "ingest/platforms/platforms.h"
#include "store/writer.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using std::chrono::milliseconds;

Event Ev(int n) {
  Event e;
  e.name = "play_updated";
  e.kind = "play";
  e.kind_explicit = true;
  e.phase = Phase::kUpdated;
  e.id = "s" + std::to_string(n % 5);
  e.server = "edge1";
  e.utc_ms = 1767225600000 + n;
  e.event_id = n;
  e.body = "{\"event\":\"play_updated\",\"id\":\"" + *e.id +
           "\",\"utc_ms\":" + std::to_string(*e.utc_ms) + ",\"event_id\":" + std::to_string(n) +
           "}";
  return e;
}

// Waits up to 30 s for `cond`.
template <typename F>
bool WaitFor(F cond) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

TEST(RelayProducerTest, AFailedRecreationIsRetriedShownAndRecovered) {
  test::TempDir dir;
  SystemClock clock;
  WriterOptions wo;
  wo.db_path = dir.File("sessions.db");
  wo.reparse = ReparseStoredEvent;
  wo.session_log = true;
  Result<std::unique_ptr<Writer>> writer = Writer::Open(wo, &clock);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();

  auto submit = [&](int first, int n) {
    WriteBatch b;
    b.received_at = clock.NowMs();
    for (int i = first; i < first + n; ++i) b.events.push_back(Ev(i));
    Result<Writer::Future> f = writer.value()->Submit(std::move(b));
    ASSERT_TRUE(f.ok());
    Result<WriteOutcome> o = f->get();
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    ASSERT_EQ(o->accepted, n);
  };
  submit(0, 10);

  std::atomic<int> creations{0};
  std::atomic<rd_kafka_t*> producer{nullptr};
  RelayOptions ro;
  ro.db_path = wo.db_path;
  ro.brokers = "mock";  // replaced by the mock cluster
  ro.kafka_options = {{"test.mock.num.brokers", "1"}, {"log_level", "2"}};
  ro.min_backoff_ms = 20;
  ro.max_backoff_ms = 100;
  // The 2nd and 3rd producers cannot be created.
  ro.test_hooks.before_create = [&] {
    const int n = ++creations;
    return n == 2 || n == 3 ? Status::Unavailable("no memory for a producer (test)") : Status::Ok();
  };
  ro.test_hooks.created = [&](rd_kafka_t* rk) { producer = rk; };
  Result<std::unique_ptr<Relay>> relay = Relay::Start(ro, writer.value().get(), &clock);
  ASSERT_TRUE(relay.ok()) << relay.status().ToString();
  writer.value()->SetCommitListener([r = relay.value().get()] { r->Wake(); });
  ASSERT_TRUE(WaitFor([&] { return relay.value()->Stats().events_delivered >= 10; }));
  EXPECT_TRUE(relay.value()->Stats().producer_up);

  // A fatal error: the relay drops its producer; the next two creations fail.
  rd_kafka_test_fatal_error(producer.load(), RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                            "fatal error raised by the test");
  submit(10, 10);
  ASSERT_TRUE(WaitFor([&] { return relay.value()->Stats().producer_failures >= 2; }));
  ASSERT_TRUE(WaitFor([&] { return creations >= 4 && relay.value()->Stats().producer_up; }));
  const RelayStats s = relay.value()->Stats();
  EXPECT_EQ(s.producer_failures, 2u);

  // Up again: everything committed is delivered.
  submit(20, 10);
  ASSERT_TRUE(WaitFor([&] { return relay.value()->Stats().events_cursor >= 30; }))
      << relay.value()->Stats().last_error;
  relay.value()->Stop(1000);
  writer.value()->SetCommitListener({});
  writer.value()->Stop();
}

}  // namespace
}  // namespace sink
