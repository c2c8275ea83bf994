// ServeConfig: every setting of `sessionsink serve`, with its default and
// bounds. Parsed by CLI11 from flags, each with a SESSIONSINK_* fallback.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace sink {

struct ServeConfig {
  std::string db_path = "./data/sessions.db";
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free port
  std::string token;                      // empty: no authentication
  // A second secret that may read (reports, metrics, the dashboard) but not
  // post: media servers carry the ingest token in their configuration files.
  std::string read_token;
  // Serve GET /metrics without a token even when --token/--read-token is set.
  bool metrics_public = false;
  // Listen on a non-loopback address without --token (anyone who reaches
  // the port may post); without it, such a configuration refuses to start.
  bool allow_unauthenticated = false;
  // HTTPS: the certificate chain and private key (PEM); both or neither.
  std::string tls_cert;
  std::string tls_key;
  // Page origins (scheme://host[:port]) whose browsers may post to
  // /events/streampixel without the token; empty: the token rules apply.
  std::vector<std::string> streampixel_origins;
  // Largest request body accepted, after gzip decoding. Flussonic resends
  // everything buffered after an outage in one batch, so keep this generous.
  uint64_t max_body_bytes = 64ull << 20;
  // What all POST /events… requests in flight may cost in memory together
  // (bodies, parsed events, steps waiting for their commit), as estimated by
  // ingest/request_budget.h; past it, 503 + Retry-After.
  uint64_t request_memory_bytes = 1ull << 30;
  int64_t session_timeout_ms = 10 * 60 * 1000;
  // A changed session reaches the sessions table at most this much later.
  int64_t session_flush_ms = 1000;
  // Merged sessions kept in memory (clean ones past it are read back from
  // their row on their next event).
  uint64_t session_memory_bytes = 128ull << 20;
  std::string synchronous = "normal";  // normal | full
  // One thread serves one keep-alive connection at a time (cpp-httplib), so
  // this is the number of media servers that can post concurrently.
  int http_threads = 64;
  // Connections accepted at once, served or waiting for a thread; past it,
  // new connections are answered 503 at once.
  int max_connections = 1024;
  // Connections one client address may have at once, served or waiting
  // (0: no limit), so that a few misbehaving clients cannot hold every thread.
  int max_connections_per_client = 16;
  // A request must arrive whole and be answered within this time of the
  // moment a thread takes the connection or of its previous answer (the
  // sink's own time waiting for the commit or computing a report does not
  // count).
  int64_t client_timeout_ms = 30000;
  uint64_t max_pending_events = 200000;
  // Cap on the database size (0: none); when full, requests get 503.
  uint64_t max_db_bytes = 0;
  // SQLite page cache of the writer connection.
  uint64_t cache_bytes = 16ull << 20;
  // How long a request waits for its commit before it is answered 503.
  int64_t request_timeout_ms = 30000;
  std::string log_level = "info";
  // nginx-rtmp stream arguments (rtmp://host/app/name?token=…&user=…) that
  // become a session's token and user_id.
  std::string nginx_rtmp_token_arg = "token";
  std::string nginx_rtmp_user_arg = "user";

  // Kafka fan-out; off when kafka_brokers is empty.
  std::string kafka_brokers;
  std::string kafka_topic_events = "sessionsink.events";
  std::string kafka_topic_sessions = "sessionsink.sessions";
  std::vector<std::string> kafka_options;  // "key=value", passed to librdkafka
  // On shutdown, how long to wait for deliveries in flight.
  int64_t kafka_flush_timeout_ms = 10000;
};

// Splits the --kafka-option values into (key, value). False on a malformed one.
bool ParseKafkaOptions(const std::vector<std::string>& in,
                       std::vector<std::pair<std::string, std::string>>* out, std::string* error);

// Registers the `serve` options on `cmd`, writing into `cfg`.
void AddServeOptions(CLI::App* cmd, ServeConfig* cfg);

// Empty when the configuration is safe to serve; else why not (listening
// beyond loopback without --token needs --allow-unauthenticated).
std::string ExposureProblem(const ServeConfig& cfg);

// Splits "HOST:PORT" ("[::1]:8080" for IPv6). False on malformed input.
bool SplitHostPort(const std::string& s, std::string* host, int* port);

}  // namespace sink
