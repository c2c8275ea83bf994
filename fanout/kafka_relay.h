// Relay: publishes the SQLite outbox to Kafka, at least once.
//
// A thread reads `events` after its cursor (seq) and `sessions` after its
// cursor (change_seq) in chunks, produces every event (value = the JSON as
// received, key = session id or server, headers seq/kind/phase/server) and
// the latest row of every changed session (JSON, key = session id), and waits
// for the delivery reports. Only when every message of the chunk is reported
// delivered do the cursors advance; they are persisted through the Writer
// (the only SQLite writer). A failed delivery — broker down, message timeout,
// any retriable error — makes the relay back off and produce the chunk again
// from SQLite, so messages delivered before the failure are sent twice
// (consumers dedupe by key and seq). A message Kafka refuses for good (too
// large, an invalid record) goes to `kafka_dead_letters` and the relay moves
// on; authorization errors are retried until the operator fixes the ACL.
//
// HTTP ingest never waits on Kafka: the relay only reads committed rows.
//
// Thread-safety: Stats() and Wake() from any thread; Stop() once, by the owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/clock.h"
#include "store/status.h"
#include "store/writer.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace sink {

// Tests only: ways to make the producer's life hard.
struct RelayTestHooks {
  // Called before each producer is created; a non-OK Status makes that
  // creation fail with it (as rd_kafka_new failing would).
  std::function<Status()> before_create;
  // Called with each producer created (e.g. to raise a fatal error with
  // rd_kafka_test_fatal_error).
  std::function<void(rd_kafka_t*)> created;
};

struct RelayOptions {
  std::string db_path;
  std::string brokers;  // bootstrap.servers
  std::string events_topic = "sessionsink.events";
  std::string sessions_topic = "sessionsink.sessions";
  // Also produce every event's envelope (fanout/clickhouse_message.h) to
  // this topic, for ClickHouse; empty: off. sink_name goes into each one.
  std::string clickhouse_topic;
  std::string sink_name;
  // librdkafka properties applied after ours (SASL, TLS, tuning, …).
  std::vector<std::pair<std::string, std::string>> kafka_options;
  // Rows read per chunk (events, and separately session changes). Four
  // chunks are in flight, their messages held by librdkafka until
  // delivered: 2,500 keeps the hard load's RSS at ~175 MB (10,000: ~220 MB)
  // at the same rate (docs/performance.md).
  int64_t chunk_rows = 2500;
  // Pause after a failed chunk; doubles up to max_backoff_ms.
  int64_t min_backoff_ms = 200;
  int64_t max_backoff_ms = 2000;
  RelayTestHooks test_hooks;
};

struct RelayStats {
  int64_t events_cursor = 0;              // highest events.seq delivered (contiguously)
  int64_t sessions_cursor = 0;            // highest sessions.change_seq delivered
  int64_t backlog_events = 0;             // committed events not yet delivered
  int64_t oldest_undelivered_age_ms = 0;  // 0 when caught up
  uint64_t events_delivered = 0;          // successful delivery reports
  uint64_t sessions_delivered = 0;
  uint64_t envelopes_delivered = 0;  // to clickhouse_topic
  uint64_t delivery_errors = 0;  // failed delivery reports (retried from SQLite)
  uint64_t dead_letters = 0;     // messages given up on, see kafka_dead_letters
  uint64_t chunk_retries = 0;    // chunks produced again after a failure
  std::string last_error;        // latest Kafka error, empty after a good chunk
  // False while the relay has no producer: a fatal error destroyed it and
  // creating the next one keeps failing (retried with backoff).
  bool producer_up = true;
  uint64_t producer_failures = 0;  // producers that could not be created
};

class Relay {
 public:
  // Validates the configuration, creates the producer and starts the thread.
  // `writer` must outlive the relay; it persists cursors and dead letters.
  static Result<std::unique_ptr<Relay>> Start(const RelayOptions& options, Writer* writer,
                                              const Clock* clock);
  ~Relay();

  // Delivers what is committed (events and session changes) for up to
  // `flush_timeout_ms`, persists how far delivery got, and joins the thread;
  // the rest is produced after the next start.
  void Stop(int64_t flush_timeout_ms);

  RelayStats Stats() const;
  // New rows were committed: look now instead of at the next poll.
  void Wake();

  class Impl;

 private:
  explicit Relay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sink
