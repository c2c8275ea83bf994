#include "fanout/kafka_relay.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <list>
#include <optional>

#include "fanout/clickhouse_message.h"
#include "store/log_reader.h"
#include "store/session_table.h"
#include "store/sqlite.h"

namespace sink {

namespace {

constexpr const char* kEventsCursor = "events";
constexpr const char* kSessionsCursor = "sessions";
// How long the idle relay sleeps when no commit wakes it.
constexpr int kIdlePollMs = 200;

struct Chunk;

// The outcome of one produced message, written by the delivery callback.
struct Delivery {
  Chunk* chunk = nullptr;
  bool events_topic = true;
  bool envelope = false;  // to clickhouse_topic (events_topic is true too)
  int64_t seq = 0;
  std::string key;
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// Rows read and produced together: the relay's unit of progress. Several
// are in flight at once (the next is produced while the delivery reports of
// the previous ones arrive); cursors advance over chunks in order, each
// once all of its messages are reported delivered.
struct Chunk {
  std::deque<Delivery> messages;  // stable addresses: librdkafka holds pointers
  int64_t outstanding = 0;        // produced, delivery report not yet served
  int64_t events_end = 0;         // the cursors once this chunk is delivered
  int64_t sessions_end = 0;
};

struct ProducerDestroy {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDestroy {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using Producer = std::unique_ptr<rd_kafka_t, ProducerDestroy>;
using ProducerConf = std::unique_ptr<rd_kafka_conf_t, ConfDestroy>;

// Chunks in flight at once: enough to keep the producer busy while earlier
// delivery reports arrive, few enough to bound what a retry sends again.
constexpr size_t kMaxChunksInFlight = 4;

// Errors about the message itself, which producing it again will not fix:
// it goes to kafka_dead_letters instead of blocking the outbox forever.
// Errors about the cluster's configuration (authorization, a topic that
// cannot be written) fail every message alike and are fixed by the
// operator, so those are retried like an outage: nothing is given up.
bool IsPermanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

}  // namespace

class Relay::Impl {
 public:
  Impl(const RelayOptions& o, Writer* writer, const Clock* clock)
      : o_(o), writer_(writer), clock_(clock) {}

  ~Impl() { DestroyProducer(); }

  Status Open() {
    Result<Db> db = Db::Open(o_.db_path, false, /*read_only=*/true);
    if (!db.ok()) return db.status();
    db_ = std::move(db.value());
    SINK_RETURN_IF_ERROR(db_.Exec("PRAGMA busy_timeout=5000"));
    auto prep = [this](Stmt* out, const std::string& sql) { return db_.Prepare(sql, out); };
    // The events are in the log's segments beside the main file.
    Result<LogReader> log = LogReader::Open(o_.db_path);
    if (!log.ok()) return log.status();
    log_.emplace(std::move(log.value()));
    // The row's JSON comes from the table definition (store/session_table.h).
    SINK_RETURN_IF_ERROR(
        prep(&read_sessions_, "SELECT c.change_seq, s.id, " + SessionJsonSql("s") +
                                  " FROM session_changes c JOIN sessions s "
                                  "ON s.id = c.id AND s.change_seq = c.change_seq "
                                  "WHERE c.change_seq > ?1 ORDER BY c.change_seq LIMIT ?2"));
    SINK_RETURN_IF_ERROR(prep(&cursor_, "SELECT seq FROM relay_cursors WHERE name = ?1"));
    Result<int64_t> c1 = LoadCursor(kEventsCursor);
    if (!c1.ok()) return c1.status();
    Result<int64_t> c2 = LoadCursor(kSessionsCursor);
    if (!c2.ok()) return c2.status();
    events_cursor_ = next_events_ = c1.value();
    sessions_cursor_ = next_sessions_ = c2.value();
    return CreateProducer();
  }

  void Begin() {
    thread_ = std::thread([this] { Run(); });
  }

  void Stop(int64_t flush_timeout_ms) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      stop_deadline_ms_ = clock_->NowMs() + flush_timeout_ms;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_ = true;
    }
    cv_.notify_all();
  }

  RelayStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  Result<int64_t> LoadCursor(const char* name) {
    cursor_.Bind(1, std::string_view(name));
    Result<bool> row = cursor_.Step();
    int64_t v = 0;
    if (row.ok() && row.value()) v = cursor_.Int(0);
    cursor_.Reset();
    if (!row.ok()) return row.status();
    return v;
  }

  Status CreateProducer() {
    if (o_.test_hooks.before_create) SINK_RETURN_IF_ERROR(o_.test_hooks.before_create());
    char err[512];
    ProducerConf conf(rd_kafka_conf_new());
    const int64_t queue = std::max<int64_t>(100000, 4 * o_.chunk_rows);
    std::vector<std::pair<std::string, std::string>> props = {
        {"bootstrap.servers", o_.brokers},
        {"client.id", "sessionsink"},
        // Order per key and no duplicates from librdkafka's own retries.
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "lz4"},
        // Same key → same partition as Java clients (and other sinks) compute it.
        {"partitioner", "murmur2_random"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", std::to_string(queue)},
        // A delivery that has not succeeded by then is reported failed and
        // produced again from SQLite; nothing is dropped when it expires.
        {"message.timeout.ms", "30000"},
        {"log.connection.close", "false"},
    };
    props.insert(props.end(), o_.kafka_options.begin(), o_.kafka_options.end());
    for (const auto& [k, v] : props) {
      if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) !=
          RD_KAFKA_CONF_OK) {
        return Status::Invalid("Kafka option " + k + ": " + err);
      }
    }
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
    rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
    rd_kafka_conf_set_log_cb(conf.get(), &Impl::OnLog);
    // rd_kafka_new owns the configuration only when it succeeds.
    Producer rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err));
    if (!rk) return Status::Unavailable(std::string("Kafka producer: ") + err);
    conf.release();
    rk_ = std::move(rk);
    if (o_.test_hooks.created) o_.test_hooks.created(rk_.get());
    return Status::Ok();
  }

  // After a fatal error: a new producer, retried with backoff until one is
  // created or the relay stops. Every failure is logged (at most once per
  // 10 s), counted, and shown in /readyz until a producer is up again.
  bool RecreateProducer() {
    int64_t backoff = o_.min_backoff_ms;
    std::optional<std::chrono::steady_clock::time_point> last_log;
    uint64_t unlogged = 0;
    for (;;) {
      Status st = CreateProducer();
      if (st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.producer_up = true;
        return true;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.producer_up = false;
        ++stats_.producer_failures;
        stats_.last_error = st.message();
      }
      const auto now = std::chrono::steady_clock::now();
      if (!last_log || now - *last_log >= std::chrono::seconds(10)) {
        spdlog::error("kafka: cannot create the producer ({}); retrying every {} ms at most{}",
                      st.message(), o_.max_backoff_ms,
                      unlogged ? fmt::format(" ({} more failures)", unlogged) : "");
        last_log = now;
        unlogged = 0;
      } else {
        ++unlogged;
      }
      if (Stopping()) return false;
      Sleep(backoff);
      backoff = std::min(backoff * 2, o_.max_backoff_ms);
    }
  }

  // Drops whatever librdkafka still holds (those messages were not counted as
  // delivered, so they will be produced again) and destroys the producer.
  void DestroyProducer() {
    if (!rk_) return;
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk_.get(), 1000);  // serves the purged delivery reports
    rk_.reset();
  }

  // Served by rd_kafka_poll/flush on the relay thread (or after it joined).
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    auto* d = static_cast<Delivery*>(m->_private);
    d->done = true;
    d->err = m->err;
    --d->chunk->outstanding;
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      rd_kafka_fatal_error(rk, buf, sizeof buf);
      spdlog::error("kafka: fatal producer error: {}; recreating the producer", buf);
      self->fatal_ = true;
    }
    std::lock_guard<std::mutex> lock(self->mu_);
    self->stats_.last_error =
        std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
  }

  static void OnLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    if (level <= 3) {
      spdlog::warn("kafka: {} {}", fac, buf);
    } else if (level <= 5) {
      spdlog::info("kafka: {} {}", fac, buf);
    } else {
      spdlog::debug("kafka: {} {}", fac, buf);
    }
  }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }
  bool PastDeadline() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_ && clock_->NowMs() >= stop_deadline_ms_;
  }

  void Run() {
    int64_t backoff = o_.min_backoff_ms;
    bool retrying = false;  // a chunk failed: let the others finish, then start over
    for (;;) {
      // Stopping: deliver what is committed, up to the deadline.
      const bool stopping = Stopping();
      if (stopping && PastDeadline()) break;
      if (fatal_) {
        DestroyProducer();  // serves every outstanding report (as failed)
        inflight_.clear();
        retrying = false;
        fatal_ = false;
        if (!RecreateProducer()) break;  // stopping: nothing to deliver with
        Restart(&backoff);
        continue;
      }
      UpdateBacklog();
      int produced = 0;
      if (!retrying && inflight_.size() < kMaxChunksInFlight) {
        Result<int> sent = ProduceChunk();
        if (!sent.ok()) {
          // Reading SQLite failed (e.g. the file is busy): try again shortly.
          RecordError(sent.status().message());
          Sleep(backoff);
          backoff = std::min(backoff * 2, o_.max_backoff_ms);
          continue;
        }
        produced = sent.value();
      }
      if (inflight_.empty()) {
        if (stopping && produced == 0 && !retrying) break;  // everything delivered
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(kIdlePollMs),
                     [this] { return wake_ || stopping_; });
        wake_ = false;
        continue;
      }
      // Serve delivery reports: briefly while there is more to produce.
      const bool more = produced > 0 && !retrying && inflight_.size() < kMaxChunksInFlight;
      rd_kafka_poll(rk_.get(), more ? 0 : 20);
      while (!retrying && !inflight_.empty() && inflight_.front().outstanding == 0) {
        if (!Delivered(inflight_.front())) {
          retrying = true;
          break;
        }
        inflight_.pop_front();
        backoff = o_.min_backoff_ms;
      }
      if (retrying && std::all_of(inflight_.begin(), inflight_.end(),
                                  [](const Chunk& c) { return c.outstanding == 0; })) {
        inflight_.clear();
        retrying = false;
        Restart(&backoff);
      }
      Persist(/*wait=*/false);
    }
    // Stopping: wait (up to the deadline) for what is in flight.
    while (rk_ && !inflight_.empty() && !PastDeadline() && !fatal_) {
      rd_kafka_poll(rk_.get(), 50);
      while (!inflight_.empty() && inflight_.front().outstanding == 0 &&
             Delivered(inflight_.front())) {
        inflight_.pop_front();
      }
      if (!inflight_.empty() && inflight_.front().outstanding == 0) break;  // failed
    }
    UpdateBacklog();
    Persist(/*wait=*/true);
  }

  // After a failed chunk: produce again from the delivered cursors.
  void Restart(int64_t* backoff) {
    next_events_ = events_cursor_;
    next_sessions_ = sessions_cursor_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.chunk_retries;
    }
    Sleep(*backoff);
    *backoff = std::min(*backoff * 2, o_.max_backoff_ms);
  }

  void Sleep(int64_t ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
  }

  void RecordError(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.last_error = e;
  }

  // Reads the rows after the last produced chunk and hands them to
  // librdkafka as a new chunk in flight. Returns how many messages it
  // produced (0: nothing to do).
  Result<int> ProduceChunk() {
    Chunk& c = inflight_.emplace_back();
    c.events_end = next_events_;
    c.sessions_end = next_sessions_;
    Status st = ReadChunk(&c);
    if (!st.ok() || c.messages.empty()) {
      // Nothing produced: nothing to wait for (no message was handed over).
      inflight_.pop_back();
      if (!st.ok()) return st;
      return 0;
    }
    next_events_ = c.events_end;
    next_sessions_ = c.sessions_end;
    return static_cast<int>(c.messages.size());
  }

  Status ReadChunk(Chunk* c) {
    SINK_RETURN_IF_ERROR(log_->ForEachAfter(
        next_events_,
        [&](const LogRecord& r) {
          Delivery& d = c->messages.emplace_back();
          d.chunk = c;
          d.events_topic = true;
          d.seq = r.seq;
          // Key: the session id; the server for session-less events.
          if (r.session_id) {
            d.key = *r.session_id;
          } else if (r.server) {
            d.key = *r.server;
          }
          const std::string seq = std::to_string(d.seq);
          rd_kafka_headers_t* h = rd_kafka_headers_new(4);
          rd_kafka_header_add(h, "seq", -1, seq.data(), static_cast<ssize_t>(seq.size()));
          if (r.kind) {
            rd_kafka_header_add(h, "kind", -1, r.kind->data(),
                                static_cast<ssize_t>(r.kind->size()));
          }
          if (r.phase) {
            rd_kafka_header_add(h, "phase", -1, r.phase->data(),
                                static_cast<ssize_t>(r.phase->size()));
          }
          if (r.server) {
            rd_kafka_header_add(h, "server", -1, r.server->data(),
                                static_cast<ssize_t>(r.server->size()));
          }
          Produce(o_.events_topic, d, r.body, h);
          auto view = [](const std::optional<std::string>& v) {
            return v ? std::optional<std::string_view>(*v) : std::nullopt;
          };
          if (!o_.clickhouse_topic.empty()) {
            ProduceEnvelope(c, d, view(r.server), view(r.kind), view(r.phase), view(r.session_id),
                            r.body);
          }
          c->events_end = d.seq;
          return Status::Ok();
        },
        o_.chunk_rows));

    read_sessions_.Bind(1, next_sessions_);
    read_sessions_.Bind(2, o_.chunk_rows);
    for (;;) {
      Result<bool> row = read_sessions_.Step();
      if (!row.ok()) {
        read_sessions_.Reset();
        return row.status();
      }
      if (!row.value()) break;
      Delivery& d = c->messages.emplace_back();
      d.chunk = c;
      d.events_topic = false;
      d.seq = read_sessions_.Int(0);
      d.key = std::string(read_sessions_.Text(1));
      rd_kafka_headers_t* h = rd_kafka_headers_new(1);
      const std::string seq = std::to_string(d.seq);
      rd_kafka_header_add(h, "change_seq", -1, seq.data(), static_cast<ssize_t>(seq.size()));
      Produce(o_.sessions_topic, d, read_sessions_.Text(2), h);
      c->sessions_end = d.seq;
    }
    read_sessions_.Reset();
    return Status::Ok();
  }

  // The event's envelope for ClickHouse, beside the event `d` (same key).
  void ProduceEnvelope(Chunk* c, const Delivery& d, std::optional<std::string_view> server,
                       std::optional<std::string_view> kind, std::optional<std::string_view> phase,
                       std::optional<std::string_view> session_id, std::string_view body) {
    Delivery& e = c->messages.emplace_back();
    e.chunk = c;
    e.envelope = true;
    e.seq = d.seq;
    e.key = d.key;
    const EventEnvelope env{o_.sink_name, d.seq, server, kind, phase, session_id, body};
    const std::string msg = ClickHouseEventMessage(env);
    const std::string seq = std::to_string(d.seq);
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "seq", -1, seq.data(), static_cast<ssize_t>(seq.size()));
    Produce(o_.clickhouse_topic, e, msg, h);
  }

  // Produces one message; the headers are owned by librdkafka on success.
  void Produce(const std::string& topic, Delivery& d, std::string_view value,
               rd_kafka_headers_t* headers) {
    ++d.chunk->outstanding;
    for (;;) {
      rd_kafka_resp_err_t err =
          rd_kafka_producev(rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                            RD_KAFKA_V_KEY(d.key.empty() ? nullptr : d.key.data(), d.key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                            RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk_.get(), 10);  // let deliveries drain the queue
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(headers);
        d.done = true;
        d.err = err;
        --d.chunk->outstanding;
      }
      return;
    }
  }

  // Sorts out a chunk whose reports are all in: true (cursors advanced,
  // permanent failures dead-lettered) or false when a delivery failed and
  // the chunk must be produced again.
  bool Delivered(const Chunk& c) {
    uint64_t ok_events = 0, ok_sessions = 0, ok_envelopes = 0, failed = 0;
    std::string first_error;
    std::vector<KafkaDeadLetter> dead;
    for (const Delivery& d : c.messages) {
      if (d.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++(d.envelope ? ok_envelopes : d.events_topic ? ok_events : ok_sessions);
      } else if (IsPermanent(d.err)) {
        dead.push_back(KafkaDeadLetter{d.envelope       ? o_.clickhouse_topic
                                       : d.events_topic ? o_.events_topic
                                                        : o_.sessions_topic,
                                       d.seq, d.key.empty() ? std::nullopt : std::optional(d.key),
                                       rd_kafka_err2str(d.err)});
      } else {
        ++failed;
        if (first_error.empty()) {
          first_error = std::string(rd_kafka_err2name(d.err)) + ": " + rd_kafka_err2str(d.err);
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.events_delivered += ok_events;
    stats_.sessions_delivered += ok_sessions;
    stats_.envelopes_delivered += ok_envelopes;
    stats_.delivery_errors += failed;
    if (failed > 0) {
      stats_.last_error = first_error;
      spdlog::warn("kafka: {} of {} messages not delivered ({}); producing them again from SQLite",
                   failed, c.messages.size(), first_error);
      return false;
    }
    for (const KafkaDeadLetter& d : dead) {
      spdlog::error("kafka: giving up on {} seq {}: {} (kept in kafka_dead_letters)", d.topic,
                    d.seq.value_or(0), d.reason);
    }
    stats_.dead_letters += dead.size();
    pending_dead_.insert(pending_dead_.end(), dead.begin(), dead.end());
    events_cursor_ = c.events_end;
    sessions_cursor_ = c.sessions_end;
    stats_.events_cursor = events_cursor_;
    stats_.sessions_cursor = sessions_cursor_;
    stats_.last_error.clear();
    return true;
  }

  // Hands the cursors (and dead letters) to the writer: at most one such
  // commit in flight, not waited for unless `wait`; what a failed commit
  // carried is handed over again next time.
  void Persist(bool wait) {
    if (persisting_) {
      if (!wait && persisting_->wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        return;
      }
      Result<WriteOutcome> r = persisting_->get();
      persisting_.reset();
      if (r.ok()) {
        persisted_events_ = persisting_events_;
        persisted_sessions_ = persisting_sessions_;
      } else {
        RecordError("cannot save the relay cursor: " + r.status().message());
        pending_dead_.insert(pending_dead_.begin(), persisting_dead_.begin(),
                             persisting_dead_.end());
      }
      persisting_dead_.clear();
    }
    if (events_cursor_ == persisted_events_ && sessions_cursor_ == persisted_sessions_ &&
        pending_dead_.empty()) {
      return;
    }
    WriteBatch b;
    b.received_at = clock_->NowMs();
    b.cursors = {{kEventsCursor, events_cursor_}, {kSessionsCursor, sessions_cursor_}};
    b.kafka_dead_letters = pending_dead_;
    Result<Writer::Future> f = writer_->Submit(std::move(b));
    if (!f.ok()) {
      RecordError("cannot save the relay cursor: " + f.status().message());
      return;
    }
    persisting_ = std::move(f.value());
    persisting_events_ = events_cursor_;
    persisting_sessions_ = sessions_cursor_;
    persisting_dead_.swap(pending_dead_);
    pending_dead_.clear();
    if (wait) Persist(true);
  }

  void UpdateBacklog() {
    int64_t max_seq = 0, oldest = 0;
    Result<int64_t> last = log_->LastSeq();
    if (last.ok()) max_seq = last.value();
    if (max_seq > events_cursor_) {
      (void)log_->ForEachAfter(  // a gauge: a failed read leaves it at 0
          events_cursor_,
          [&](const LogRecord& r) {
            oldest = r.received_at;
            return Status::Ok();
          },
          1);
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.backlog_events = std::max<int64_t>(0, max_seq - events_cursor_);
    stats_.oldest_undelivered_age_ms = oldest ? std::max<int64_t>(0, clock_->NowMs() - oldest) : 0;
    stats_.events_cursor = events_cursor_;
    stats_.sessions_cursor = sessions_cursor_;
  }

  const RelayOptions o_;
  Writer* writer_;
  const Clock* clock_;

  Db db_;  // read-only connection; declared before its statements
  Stmt read_sessions_, cursor_;
  std::optional<LogReader> log_;  // the events, read-only
  Producer rk_;

  // Relay-thread state.
  std::list<Chunk> inflight_;                        // produced, oldest first
  int64_t events_cursor_ = 0, sessions_cursor_ = 0;  // delivered contiguously
  int64_t next_events_ = 0, next_sessions_ = 0;      // produced up to
  int64_t persisted_events_ = -1, persisted_sessions_ = -1;
  std::vector<KafkaDeadLetter> pending_dead_;  // not yet handed to the writer
  std::optional<Writer::Future> persisting_;   // the cursor commit in flight
  int64_t persisting_events_ = 0, persisting_sessions_ = 0;
  std::vector<KafkaDeadLetter> persisting_dead_;
  std::atomic<bool> fatal_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;             // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  int64_t stop_deadline_ms_ = 0;  // guarded by mu_
  RelayStats stats_;              // guarded by mu_
  std::thread thread_;
};

Result<std::unique_ptr<Relay>> Relay::Start(const RelayOptions& options, Writer* writer,
                                            const Clock* clock) {
  if (options.brokers.empty()) return Status::Invalid("no Kafka brokers given");
  auto impl = std::make_unique<Impl>(options, writer, clock);
  SINK_RETURN_IF_ERROR(impl->Open());
  impl->Begin();
  return std::unique_ptr<Relay>(new Relay(std::move(impl)));
}

Relay::Relay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Relay::~Relay() { Stop(0); }

void Relay::Stop(int64_t flush_timeout_ms) { impl_->Stop(flush_timeout_ms); }

RelayStats Relay::Stats() const { return impl_->Stats(); }

void Relay::Wake() { impl_->Wake(); }

}  // namespace sink
