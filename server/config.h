// ServeConfig: every setting of `sessionsink serve`, with its default and
// bounds. Parsed by CLI11 from flags, each with a SESSIONSINK_* fallback.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace sink {

struct ServeConfig {
  std::string db_path = "./data/sessions.db";
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free port
  // Tokens that may post (and read); empty: no authentication. Several at
  // once so that a token can be rotated without a refused request.
  std::vector<std::string> tokens;
  // Secrets that may read (reports, metrics, the dashboard) but not post:
  // media servers carry the ingest token in their configuration files.
  std::vector<std::string> read_tokens;
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
  // server/request_budget.h; past it, 503 + Retry-After.
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
  // Cap on each database file (0: none); when full, requests get 503.
  uint64_t max_db_bytes = 0;
  // Retention (0: keep everything): events older than this, and the oldest
  // while every file of the store exceeds max_disk_bytes, are deleted whole
  // by segment; finished sessions older than retain_sessions_ms.
  int64_t retain_events_ms = 0;
  uint64_t max_disk_bytes = 0;
  int64_t retain_sessions_ms = 0;
  // The open log segment is closed past this size or age (0: automatic).
  uint64_t segment_bytes = 0;
  int64_t segment_ms = 60ll * 60 * 1000;
  // Dead letters kept in `rejected` and `kafka_dead_letters` (each).
  uint64_t keep_dead_letters = 100000;
  // SQLite page cache of the writer connection.
  uint64_t cache_bytes = 16ull << 20;
  // How long a request waits for its commit before it is answered 503.
  int64_t request_timeout_ms = 30000;
  std::string log_level = "info";
  std::string log_format = "text";  // text | json (one object a line)
  // nginx-rtmp stream arguments (rtmp://host/app/name?token=…&user=…) that
  // become a session's token and user_id.
  std::string nginx_rtmp_token_arg = "token";
  std::string nginx_rtmp_user_arg = "user";

  // Kafka fan-out; off when kafka_brokers is empty.
  std::string kafka_brokers;
  std::string kafka_topic_events = "sessionsink.events";
  std::string kafka_topic_sessions = "sessionsink.sessions";
  std::vector<std::string> kafka_options;  // "key=value", passed to librdkafka
  // The event envelopes for ClickHouse (fanout/clickhouse_message.h); off
  // when empty. sink_name names this sink in them (default: host:port).
  std::string kafka_topic_clickhouse;
  std::string sink_name;
  // GET /reports/NAME (for the reports it has, query/clickhouse/) and the
  // dashboard's panels (query/clickhouse_dashboard.h) from ClickHouse (the
  // fleet) instead of the local file; empty: the local file.
  std::string reports_from;
  std::string reports_database = "sessionsink";
  // On shutdown, how long to wait for deliveries in flight.
  int64_t kafka_flush_timeout_ms = 10000;
};

// Splits the --kafka-option values into (key, value). False on a malformed one.
bool ParseKafkaOptions(const std::vector<std::string>& in,
                       std::vector<std::pair<std::string, std::string>>* out, std::string* error);

// Registers the `serve` options on `cmd`, writing into `cfg`. Every serve
// option belongs here: the config file (--config), `check-config` and the
// reload on SIGHUP all read the options through this function, so an option
// added here works in the file, is printed by check-config and is compared
// at a reload with no other code.
void AddServeOptions(CLI::App* cmd, ServeConfig* cfg);

// Where an effective setting came from, strongest first.
enum class SettingSource { kFlag, kEnvironment, kFile, kDefault };
const char* SettingSourceName(SettingSource s);

// One effective setting, as CLI11 holds it (after its transforms: durations
// in ms, sizes in bytes).
struct Setting {
  std::string name;                 // the long option name without "--"
  std::vector<std::string> values;  // empty when the option takes its default
  std::string shown;                // the value as check-config prints it
  SettingSource source = SettingSource::kDefault;
  bool secret = false;  // a token: never printed or logged
};

// The `serve` command line of a process: the flags, then the SESSIONSINK_*
// environment variables, then the --config file (TOML, read by CLI11), then
// the defaults — the first that sets an option wins. CLI11 itself applies
// the file before the environment; the file reader here drops the keys
// whose environment variable is set, so that the environment wins.
//
// Parse() throws CLI::ParseError (CLI::CallForHelp for --help, etc.); use
// app().exit(e) to print help. Not copyable: CLI11 holds pointers into it.
class ServeCommandLine {
 public:
  // `name` for --help ("sessionsink serve"); `default_config`: the file read
  // when neither --config nor SESSIONSINK_CONFIG names one (empty: none).
  ServeCommandLine(std::string name, std::string description, std::string default_config = "");
  ~ServeCommandLine();
  ServeCommandLine(const ServeCommandLine&) = delete;
  ServeCommandLine& operator=(const ServeCommandLine&) = delete;

  // `args`: the arguments after the subcommand's name.
  void Parse(const std::vector<std::string>& args);
  CLI::App& app() { return *app_; }
  std::string name() const { return app_->get_name(); }
  const ServeConfig& config() const { return cfg_; }
  // The configuration file that was read; empty when none.
  const std::string& config_file() const { return config_file_; }
  // Every option's effective value and source, in the order of --help.
  std::vector<Setting> Settings() const;

 private:
  class FileReader;
  std::unique_ptr<CLI::App> app_;
  ServeConfig cfg_;
  std::string config_file_;
  std::string default_config_;
  std::vector<std::string> args_;
  std::shared_ptr<FileReader> reader_;
};

// Problems that make a parsed configuration unusable, beyond what CLI11
// checks option by option (listening beyond loopback without a token, TLS
// half given or unreadable, fewer connections than threads, malformed
// --kafka-option): one sentence each; empty when it can be served.
std::vector<std::string> ValidateServeConfig(const ServeConfig& cfg);

// Empty when the configuration is safe to serve; else why not (listening
// beyond loopback without --token needs --allow-unauthenticated).
std::string ExposureProblem(const ServeConfig& cfg);

// Splits "HOST:PORT" ("[::1]:8080" for IPv6). False on malformed input.
bool SplitHostPort(const std::string& s, std::string* host, int* port);

}  // namespace sink
