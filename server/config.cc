#include "server/config.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "store/timeutil.h"

namespace sink {

bool SplitHostPort(const std::string& s, std::string* host, int* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string h = s.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = -1;
  auto [end, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), p);
  if (ec != std::errc() || end != s.data() + s.size() || p < 0 || p > 65535) return false;
  *host = h;
  *port = p;
  return true;
}

std::string ExposureProblem(const ServeConfig& cfg) {
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    return "--tls-cert and --tls-key go together: give both, or neither";
  }
  std::string host;
  int port = 0;
  if (!SplitHostPort(cfg.listen, &host, &port)) return "";  // reported elsewhere
  const bool loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  if (loopback || !cfg.tokens.empty() || cfg.allow_unauthenticated) return "";
  return "refusing to listen on " + cfg.listen +
         " without --token: anyone who can reach the port could post events and read the "
         "reports. Set --token (or SESSIONSINK_TOKEN), or pass --allow-unauthenticated if the "
         "network is trusted";
}

namespace {

// CLI11 validator/transform for durations: stores milliseconds.
CLI::Validator Duration() {
  return CLI::Validator(
      [](std::string& in) -> std::string {
        const std::optional<int64_t> ms = ParseDuration(in, /*bare_unit_ms=*/1000);
        if (!ms) return "expected a duration such as 90s, 10m or 1h, got '" + in + "'";
        in = std::to_string(*ms);
        return {};
      },
      "DURATION", "duration");
}

// Where it listens, who may post and read.
void AddHttpOptions(CLI::App* cmd, ServeConfig* cfg) {
  cmd->add_option("--db", cfg->db_path,
                  "SQLite database file; created (with its schema) when missing, migrated when "
                  "older. Its directory must exist.")
      ->envname("SESSIONSINK_DB");
  cmd->add_option("--listen", cfg->listen,
                  "Address to serve HTTP on, HOST:PORT. Port 0 picks a free port (logged).")
      ->envname("SESSIONSINK_LISTEN")
      ->check([](const std::string& s) -> std::string {
        std::string h;
        int p;
        return SplitHostPort(s, &h, &p) ? "" : "expected HOST:PORT, got '" + s + "'";
      });
  cmd->add_option("--token", cfg->tokens,
                  "Shared secret. When set, POST /events needs 'Authorization: Bearer SECRET' or "
                  "'?token=SECRET' in the sink URL. Several are accepted at once (repeat the "
                  "flag, separate them with commas, or give a list in the config file), so that "
                  "a token can be rotated with a reload and no refused request. Prefer the "
                  "config file or the environment variable: command lines are visible to other "
                  "users.")
      ->envname("SESSIONSINK_TOKEN")
      ->delimiter(',')
      ->capture_default_str();  // never print a default for the secret
  cmd->add_option("--read-token", cfg->read_tokens,
                  "A second secret for reading only: GET /reports, /metrics and the dashboard "
                  "accept it (or the --token); posting events needs the --token. Give it to "
                  "people who look at the data, not to media servers. Several, like --token.")
      ->envname("SESSIONSINK_READ_TOKEN")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("--metrics-public", cfg->metrics_public,
                "Serve GET /metrics without a token even when --token or --read-token is set "
                "(e.g. for a Prometheus on a trusted network).")
      ->envname("SESSIONSINK_METRICS_PUBLIC");
  cmd->add_flag("--allow-unauthenticated", cfg->allow_unauthenticated,
                "Allow listening on a non-loopback address without --token. Without it, such "
                "a configuration refuses to start.")
      ->envname("SESSIONSINK_ALLOW_UNAUTHENTICATED");
  cmd->add_option("--tls-cert", cfg->tls_cert,
                  "Serve HTTPS with this certificate chain (PEM), so that the token does not "
                  "travel in clear; needs --tls-key.")
      ->envname("SESSIONSINK_TLS_CERT");
  cmd->add_option("--tls-key", cfg->tls_key, "The private key (PEM) of --tls-cert.")
      ->envname("SESSIONSINK_TLS_KEY");
  cmd->add_option("--streampixel-origins", cfg->streampixel_origins,
                  "Web page origins (e.g. https://play.example.com) whose viewers' browsers may "
                  "post to /events/streampixel without the token (browsers cannot keep a "
                  "secret). Requests from other origins get 401. Comma-separated.")
      ->envname("SESSIONSINK_STREAMPIXEL_ORIGINS")
      ->delimiter(',');
}

// Sessions, requests and connections: what each may cost.
void AddSessionOptions(CLI::App* cmd, ServeConfig* cfg) {
  cmd->add_option("--max-body-bytes", cfg->max_body_bytes,
                  "Largest request body, after gzip decoding (e.g. 64MiB, 500KB); larger gets 413.")
      ->envname("SESSIONSINK_MAX_BODY_BYTES")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 32));
  cmd->add_option("--session-timeout", cfg->session_timeout_ms,
                  "Finish sessions with no event for this long (close_reason 'sink_timeout'); a "
                  "later real close still wins. E.g. 90s, 10m, 1h.")
      ->envname("SESSIONSINK_SESSION_TIMEOUT")
      ->transform(Duration())
      ->default_str("10m");
  cmd->add_option("--session-flush", cfg->session_flush_ms,
                  "A 200 waits only for the events to be committed; sessions are merged in "
                  "memory and written to the sessions table at most this much later (reports "
                  "and sqlite3 read the table). E.g. 500ms, 1s, 5s.")
      ->envname("SESSIONSINK_SESSION_FLUSH")
      ->transform(Duration())
      ->check(CLI::Validator(
          [](std::string& ms) -> std::string {
            const long long v = std::stoll(ms);
            return v >= 10 && v <= 600000 ? "" : "must be between 10ms and 10m, got " + ms + "ms";
          },
          "", "10ms to 10m"))
      ->default_str("1s");
  cmd->add_option("--request-memory", cfg->request_memory_bytes,
                  "Memory all event requests in flight may take together while they are read, "
                  "parsed and committed (e.g. 1GiB), estimated from their decoded size: a "
                  "request that does not fit gets 503 + Retry-After at once (one request is "
                  "always admitted when none is in flight).")
      ->envname("SESSIONSINK_REQUEST_MEMORY")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{16} << 20, uint64_t{1} << 40))
      ->default_str("1GiB");
  cmd->add_option("--session-memory", cfg->session_memory_bytes,
                  "Memory for merged sessions (e.g. 128MiB, 1GiB): about 1.5 KiB per session; "
                  "written sessions beyond it leave memory and are read back from the table on "
                  "their next event (slower, still exact). Every open session also costs about "
                  "250 bytes of index whatever this says.")
      ->envname("SESSIONSINK_SESSION_MEMORY")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40))
      ->default_str("128MiB");
  cmd->add_option("--synchronous", cfg->synchronous,
                  "SQLite durability: 'full' survives power loss, 'normal' survives a crash of "
                  "the process (WAL) and is faster.")
      ->envname("SESSIONSINK_SYNCHRONOUS")
      ->transform(CLI::IsMember({"normal", "full"}, CLI::ignore_case));
  cmd->add_option("--http-threads", cfg->http_threads,
                  "HTTP worker threads. Each keep-alive connection holds one, so set it at least "
                  "to the number of media servers posting at once.")
      ->envname("SESSIONSINK_HTTP_THREADS")
      ->check(CLI::Range(2, 4096));
  cmd->add_option("--max-connections", cfg->max_connections,
                  "Connections accepted at once: being served or waiting for a thread. More "
                  "are answered 503 with Retry-After and closed. At least --http-threads.")
      ->envname("SESSIONSINK_MAX_CONNECTIONS")
      ->check(CLI::Range(2, 1000000));
  cmd->add_option("--max-connections-per-client", cfg->max_connections_per_client,
                  "Connections one client address may have at once, served or waiting (0 = no "
                  "limit); more are answered 503. A media server uses one or two; raise it when "
                  "media servers post through one proxy address.")
      ->envname("SESSIONSINK_MAX_CONNECTIONS_PER_CLIENT")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--client-timeout", cfg->client_timeout_ms,
                  "A request must arrive whole and be answered within this time of the "
                  "moment a thread takes the connection or of its previous answer, else the "
                  "connection is closed (defeats clients that trickle bytes). Time the sink "
                  "spends waiting for its commit or computing a report does not count. At "
                  "least 100ms.")
      ->envname("SESSIONSINK_CLIENT_TIMEOUT")
      ->transform(Duration())
      ->check(CLI::Validator(
          [](std::string& ms) -> std::string {
            return std::stoll(ms) >= 100 ? "" : "must be at least 100ms, got " + ms + "ms";
          },
          "", "at least 100ms"))
      ->default_str("30s");
  cmd->add_option("--max-pending-events", cfg->max_pending_events,
                  "Events queued for the database writer before new requests get 503 with "
                  "Retry-After (the media server resends them).")
      ->envname("SESSIONSINK_MAX_PENDING_EVENTS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
}

// The files on disk: caps, retention, segments.
void AddStoreOptions(CLI::App* cmd, ServeConfig* cfg) {
  cmd->add_option("--max-db-bytes", cfg->max_db_bytes,
                  "Cap on each database file (the main file and each log segment; e.g. 20GiB; 0 = "
                  "no cap). When reached, requests get 503 and nothing is acknowledged until "
                  "space is freed. --max-disk caps them together.")
      ->envname("SESSIONSINK_MAX_DB_BYTES")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--retain-events", cfg->retain_events_ms,
                  "Delete stored events older than this (e.g. 7d, 36h; 0 = keep them all). The "
                  "log is deleted whole, a segment at a time, oldest first, and never events "
                  "the sessions table or the Kafka relay still need. Sessions are kept.")
      ->envname("SESSIONSINK_RETAIN_EVENTS")
      ->transform(Duration())
      ->default_str("0");
  cmd->add_option("--max-disk", cfg->max_disk_bytes,
                  "Cap on every file of the store together, WAL included (e.g. 100MB, 50GiB; 0 = "
                  "none): the oldest log segments are deleted to stay under it. When only what "
                  "must be kept is left, event requests get 503 (logged, in /metrics).")
      ->envname("SESSIONSINK_MAX_DISK")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--retain-sessions", cfg->retain_sessions_ms,
                  "Delete finished sessions that closed longer ago than this (e.g. 90d; 0 = "
                  "keep them all), a thousand at a time.")
      ->envname("SESSIONSINK_RETAIN_SESSIONS")
      ->transform(Duration())
      ->default_str("0");
  cmd->add_option("--segment-bytes", cfg->segment_bytes,
                  "Close the open log segment past this size (0 = 256MiB, or --max-disk / 8 when "
                  "smaller). Retention deletes whole segments.")
      ->envname("SESSIONSINK_SEGMENT_BYTES")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--segment-duration", cfg->segment_ms,
                  "Close the open log segment when its first event is this old.")
      ->envname("SESSIONSINK_SEGMENT_DURATION")
      ->transform(Duration())
      ->default_str("1h");
  cmd->add_option("--keep-dead-letters", cfg->keep_dead_letters,
                  "Rows kept in the rejected and kafka_dead_letters tables (the newest, each); "
                  "the durable copy of a rejected item stays in the log until retention.")
      ->envname("SESSIONSINK_KEEP_DEAD_LETTERS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  cmd->add_option(
         "--cache-size", cfg->cache_bytes,
         "SQLite page cache of the writer (e.g. 16MiB, 64MiB). The log is appended at its end "
         "and the flush reads rows the OS page cache still holds: a larger cache made "
         "commits slower when measured.")
      ->envname("SESSIONSINK_CACHE_SIZE")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{2} << 20, uint64_t{1} << 40))
      ->default_str("16MiB");
}

// Logs, nginx-rtmp arguments, Kafka and ClickHouse.
void AddLogAndFanoutOptions(CLI::App* cmd, ServeConfig* cfg) {
  cmd->add_option("--request-timeout", cfg->request_timeout_ms,
                  "How long a request waits for its commit before it is answered 503.")
      ->envname("SESSIONSINK_REQUEST_TIMEOUT")
      ->transform(Duration())
      ->default_str("30s");
  cmd->add_option("--log-level", cfg->log_level, "trace, debug, info, warn, error or off.")
      ->envname("SESSIONSINK_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  cmd->add_option("--log-format", cfg->log_format,
                  "text (one readable line per event) or json (one JSON object a line: time, "
                  "level, message, and fields such as client, route, status, count). Both go "
                  "to stderr.")
      ->envname("SESSIONSINK_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--nginx-rtmp-token-arg", cfg->nginx_rtmp_token_arg,
                  "nginx-rtmp: the stream argument (rtmp://host/app/name?token=...) that becomes "
                  "a session's token.")
      ->envname("SESSIONSINK_NGINX_RTMP_TOKEN_ARG");
  cmd->add_option("--nginx-rtmp-user-arg", cfg->nginx_rtmp_user_arg,
                  "nginx-rtmp: the stream argument (rtmp://host/app/name?user=...) that becomes "
                  "a session's user_id.")
      ->envname("SESSIONSINK_NGINX_RTMP_USER_ARG");

  cmd->add_option("--kafka-brokers", cfg->kafka_brokers,
                  "Kafka bootstrap servers (host:port,...). Empty: no fan-out, events stay in "
                  "SQLite only.")
      ->envname("SESSIONSINK_KAFKA_BROKERS")
      ->group("Kafka fan-out");
  cmd->add_option("--kafka-topic-events", cfg->kafka_topic_events,
                  "Topic for every accepted event (value = the JSON as received, key = session "
                  "id, headers seq/kind/phase/server).")
      ->envname("SESSIONSINK_KAFKA_TOPIC_EVENTS")
      ->group("Kafka fan-out");
  cmd->add_option("--kafka-topic-sessions", cfg->kafka_topic_sessions,
                  "Topic for the session row after each change (key = session id; make it "
                  "compacted).")
      ->envname("SESSIONSINK_KAFKA_TOPIC_SESSIONS")
      ->group("Kafka fan-out");
  cmd->add_option("--kafka-topic-clickhouse", cfg->kafka_topic_clickhouse,
                  "Also produce every event as an envelope ClickHouse can always parse (sink, "
                  "seq, server, kind, phase, session_id, the body as a JSON string) to this "
                  "topic, e.g. sessionsink.events.ch (docs/clickhouse.md). Empty: off.")
      ->envname("SESSIONSINK_KAFKA_TOPIC_CLICKHOUSE")
      ->group("Kafka fan-out");
  cmd->add_option("--sink-name", cfg->sink_name,
                  "This sink's name in the ClickHouse envelopes, which tell a session seen by "
                  "two sinks (default: hostname:port).")
      ->envname("SESSIONSINK_SINK_NAME")
      ->group("Kafka fan-out");
  cmd->add_option("--reports-from", cfg->reports_from,
                  "Answer GET /reports/NAME and the dashboard's panels from ClickHouse at this "
                  "HTTP URL (the whole fleet, docs/clickhouse.md); the reports ClickHouse does "
                  "not have, the timeline and the ingest figures read this sink. Each answer "
                  "says which (header Sessionsink-Data-Source).")
      ->envname("SESSIONSINK_REPORTS_FROM");
  cmd->add_option("--reports-database", cfg->reports_database,
                  "--reports-from: the ClickHouse database.")
      ->envname("SESSIONSINK_REPORTS_DATABASE")
      ->capture_default_str();
  cmd->add_option("--kafka-option", cfg->kafka_options,
                  "librdkafka property as key=value, repeatable (e.g. security.protocol=SASL_SSL, "
                  "sasl.mechanisms=PLAIN); applied after the sink's defaults. In the environment, "
                  "separate several with ';'.")
      ->envname("SESSIONSINK_KAFKA_OPTIONS")
      ->delimiter(';')
      ->group("Kafka fan-out");
  cmd->add_option("--kafka-flush-timeout", cfg->kafka_flush_timeout_ms,
                  "On shutdown, how long to wait for Kafka deliveries in flight; what is not "
                  "delivered by then is sent after the next start.")
      ->envname("SESSIONSINK_KAFKA_FLUSH_TIMEOUT")
      ->transform(Duration())
      ->default_str("10s")
      ->group("Kafka fan-out");
}

}  // namespace

void AddServeOptions(CLI::App* cmd, ServeConfig* cfg) {
  cmd->option_defaults()->always_capture_default();
  AddHttpOptions(cmd, cfg);
  AddSessionOptions(cmd, cfg);
  AddStoreOptions(cmd, cfg);
  AddLogAndFanoutOptions(cmd, cfg);
}

bool ParseKafkaOptions(const std::vector<std::string>& in,
                       std::vector<std::pair<std::string, std::string>>* out, std::string* error) {
  for (const std::string& kv : in) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--kafka-option expects key=value, got '" + kv + "'";
      return false;
    }
    out->emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return true;
}

std::vector<std::string> ValidateServeConfig(const ServeConfig& cfg) {
  std::vector<std::string> problems;
  if (std::string e = ExposureProblem(cfg); !e.empty()) problems.push_back(e);
  if (cfg.max_connections < cfg.http_threads) {
    problems.push_back("--max-connections (" + std::to_string(cfg.max_connections) +
                       ") must be at least --http-threads (" + std::to_string(cfg.http_threads) +
                       ")");
  }
  for (const char* which : {"--tls-cert", "--tls-key"}) {
    const std::string& f = which[6] == 'c' ? cfg.tls_cert : cfg.tls_key;
    if (!f.empty() && ::access(f.c_str(), R_OK) != 0) {
      problems.push_back(std::string("cannot read ") + which + " '" + f +
                         "': " + std::strerror(errno));
    }
  }
  std::vector<std::pair<std::string, std::string>> kafka;
  if (std::string e; !ParseKafkaOptions(cfg.kafka_options, &kafka, &e)) problems.push_back(e);
  for (const auto& list : {cfg.tokens, cfg.read_tokens}) {
    for (const std::string& t : list) {
      if (t.empty()) problems.push_back("a --token or --read-token is empty");
    }
  }
  return problems;
}

const char* SettingSourceName(SettingSource s) {
  switch (s) {
    case SettingSource::kFlag:
      return "flag";
    case SettingSource::kEnvironment:
      return "environment";
    case SettingSource::kFile:
      return "file";
    case SettingSource::kDefault:
      return "default";
  }
  return "default";
}

// CLI11's own TOML reader (CLI::ConfigBase), with what the sink adds around
// it: the keys whose SESSIONSINK_* variable is set are dropped (the
// environment wins over the file; CLI11 would apply the file first), a key
// given on two separate lines is one list, unknown keys and sections are
// errors, and a '#' inside quotes (CLI11 takes it for a comment) is refused
// rather than silently cutting a token short.
class ServeCommandLine::FileReader : public CLI::ConfigBase {
 public:
  explicit FileReader(const CLI::App* app) : app_(app) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::stringstream text;
    text << input.rdbuf();
    CheckComments(text.str());
    std::istringstream again(text.str());
    std::vector<CLI::ConfigItem> parsed = CLI::ConfigBase::from_config(again);
    std::vector<CLI::ConfigItem> out;
    for (CLI::ConfigItem& item : parsed) {
      if (!item.parents.empty() || item.name == "++" || item.name == "--") {
        throw CLI::ConfigError(
            "sections are not used in the configuration file: put every setting at the top "
            "level (found [" +
            (item.parents.empty() ? item.name : item.parents.front()) + "])");
      }
      const CLI::Option* opt = app_->get_option_no_throw("--" + item.name);
      if (opt == nullptr || !opt->get_configurable()) {
        throw CLI::ConfigError("unknown setting '" + item.name +
                               "' in the configuration file: the names are those of `" +
                               app_->get_name() + " --help` without the leading --");
      }
      const std::string& env = opt->get_envname();
      const char* env_value = env.empty() ? nullptr : std::getenv(env.c_str());
      if (env_value != nullptr && *env_value != '\0') {
        overridden_.insert(item.name);
        continue;
      }
      // An empty list (`streampixel-origins = []`) is the default: none.
      if (std::all_of(item.inputs.begin(), item.inputs.end(),
                      [](const std::string& v) { return v.empty(); }) &&
          opt->get_items_expected_max() > 1) {
        continue;
      }
      from_file_.insert(item.name);
      auto same = std::find_if(out.begin(), out.end(),
                               [&](const CLI::ConfigItem& o) { return o.name == item.name; });
      if (same != out.end()) {
        same->inputs.insert(same->inputs.end(), item.inputs.begin(), item.inputs.end());
      } else {
        out.push_back(std::move(item));
      }
    }
    return out;
  }

  bool FromFile(const std::string& name) const { return from_file_.count(name) > 0; }

 private:
  static void CheckComments(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
      char quote = 0;
      for (char c : line) {
        if (quote != 0) {
          if (c == quote) quote = 0;
          if (c == '#' && quote != 0) {
            throw CLI::ConfigError("line " + std::to_string(n) +
                                   " of the configuration file: '#' starts a comment even "
                                   "inside quotes, so a value cannot contain it");
          }
        } else if (c == '"' || c == '\'') {
          quote = c;
        } else if (c == '#') {
          break;
        }
      }
    }
  }

  const CLI::App* app_;
  mutable std::set<std::string> from_file_;
  mutable std::set<std::string> overridden_;
};

ServeCommandLine::ServeCommandLine(std::string name, std::string description,
                                   std::string default_config)
    : app_(std::make_unique<CLI::App>(std::move(description), std::move(name))) {
  AddServeOptions(app_.get(), &cfg_);
  app_->set_config("--config", "",
                   "Read the settings from this file (TOML: name = value, the option names "
                   "without --; lists as [\"a\", \"b\"]). Flags and SESSIONSINK_* environment "
                   "variables override it. Also SESSIONSINK_CONFIG.");
  app_->allow_config_extras(CLI::config_extras_mode::error);
  reader_ = std::make_shared<FileReader>(app_.get());
  app_->config_formatter(reader_);
  default_config_ = std::move(default_config);
}

ServeCommandLine::~ServeCommandLine() = default;

void ServeCommandLine::Parse(const std::vector<std::string>& args) {
  args_ = args;
  // --config from the environment or the default: passed as if given, so
  // that a file that is missing or unreadable is an error, not skipped.
  const bool given = std::any_of(args.begin(), args.end(), [](const std::string& a) {
    return a == "--config" || a.rfind("--config=", 0) == 0;
  });
  std::vector<std::string> full = args;
  if (!given) {
    const char* env = std::getenv("SESSIONSINK_CONFIG");
    std::error_code ec;
    if (env != nullptr && *env != '\0') {
      full.insert(full.begin(), {"--config", env});
    } else if (!default_config_.empty() && ::access(default_config_.c_str(), F_OK) == 0) {
      full.insert(full.begin(), {"--config", default_config_});
    }
  }
  std::reverse(full.begin(), full.end());
  app_->parse(full);
  const CLI::Option* config = app_->get_option("--config");
  config_file_ = config->count() > 0 ? config->as<std::string>() : "";
}

std::vector<Setting> ServeCommandLine::Settings() const {
  std::set<std::string> flags;
  for (const std::string& a : args_) {
    if (a.rfind("--", 0) == 0) flags.insert(a.substr(2, a.find('=') - 2));
  }
  std::vector<Setting> out;
  for (const CLI::Option* opt : app_->get_options()) {
    if (opt->get_lnames().empty() || !opt->get_configurable()) continue;
    Setting s;
    s.name = opt->get_lnames().front();
    if (s.name == "help" || s.name == "version") continue;
    s.secret = s.name == "token" || s.name == "read-token";
    if (opt->count() > 0) s.values = opt->results();
    if (flags.count(s.name) > 0) {
      s.source = SettingSource::kFlag;
    } else if (reader_->FromFile(s.name) && opt->count() > 0) {
      s.source = SettingSource::kFile;
    } else if (opt->count() > 0) {
      s.source = SettingSource::kEnvironment;
    }
    const bool duration = opt->get_type_name().find("DURATION") != std::string::npos;
    auto quote = [&](const std::string& v) -> std::string {
      if (s.secret) return "\"****\"";
      // librdkafka passwords and secrets (sasl.password, ssl.key.password, ...).
      if (s.name == "kafka-option") {
        const std::string key = v.substr(0, v.find('='));
        if (key.find("password") != std::string::npos || key.find("secret") != std::string::npos) {
          return "\"" + key + "=****\"";
        }
      }
      if (duration) return "\"" + v + "ms\"";
      if (!v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(c); })) {
        return v;
      }
      if (v == "true" || v == "false") return v;
      return "\"" + v + "\"";
    };
    if (opt->count() == 0) {
      if (s.secret || opt->get_items_expected_max() > 1) {
        s.shown = "[]";
      } else {
        const std::string d = opt->get_default_str();
        s.shown = d.empty() || d == "[]" ? "\"\"" : quote(d);
        if (duration) s.shown = "\"" + d + "\"";
        if (opt->get_expected_min() == 0) s.shown = d.empty() ? "false" : d;
      }
    } else if (opt->get_expected_min() == 0) {
      s.shown = s.values.empty() ? "true" : s.values.back();
    } else if (opt->get_items_expected_max() > 1) {
      s.shown = "[";
      for (size_t i = 0; i < s.values.size(); ++i) {
        s.shown += (i > 0 ? ", " : "") + quote(s.values[i]);
      }
      s.shown += "]";
    } else {
      s.shown = s.values.empty() ? "\"\"" : quote(s.values.back());
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace sink
