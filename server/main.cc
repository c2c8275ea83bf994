// sessionsink: receives media-server session events over HTTP, keeps one row
// per session in SQLite. This file only wires configuration to objects and
// shuts them down in order: HTTP (stop accepting, finish requests) → writer
// (commit what is queued) → database.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "fanout/dev_kafka.h"
#include "fanout/kafka_relay.h"
#include "ingest/platforms/platforms.h"
#include "query/clickhouse.h"
#include "query/report_command.h"
#include "server/config.h"
#include "server/http_server.h"
#include "server/logging.h"
#include "server/reload.h"
#include "server/sd_notify.h"
#include "server/status_codes.h"
#include "server/store_commands.h"
#include "store/clock.h"
#include "store/log_fields.h"
#include "store/signals.h"
#include "store/writer.h"

namespace {

// Checks what SQLite would report less clearly: the directory must exist and be writable.
std::string CheckDbPath(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return "the directory of --db '" + path + "' does not exist: create it (mkdir -p " +
           dir.string() + ") or choose another path";
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    return "cannot write in the directory " + dir.string() + " of --db '" + path +
           "': " + std::strerror(errno) +
           " (SQLite needs to create its -wal and -shm files next to the database)";
  }
  if (fs::exists(path, ec) && ::access(path.c_str(), W_OK) != 0) {
    return "cannot write the database --db '" + path + "': " + std::strerror(errno);
  }
  return {};
}

// Raises the open-file limit to its hard maximum and warns when even that
// cannot hold every connection the limits allow: past it, accept() fails and
// clients wait in the kernel's queue instead of getting a 503.
void RaiseFileLimit(const sink::ServeConfig& cfg) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  // A served connection holds two descriptors (its socket and the
  // watchdog's), a waiting or refused one holds one; plus SQLite, Kafka, logs.
  const uint64_t need = 2 * static_cast<uint64_t>(cfg.http_threads) +
                        static_cast<uint64_t>(cfg.max_connections) + 1024 + 256;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    spdlog::warn(
        "the open-file limit ({}) is below what --max-connections {} and --http-threads {} "
        "need (about {}); raise it (ulimit -n, LimitNOFILE=) or lower --max-connections",
        static_cast<uint64_t>(lim.rlim_cur), cfg.max_connections, cfg.http_threads, need);
  }
}

// The sink's name in the ClickHouse envelopes when --sink-name is not given:
// the host name and the port it listens on.
std::string DefaultSinkName(const std::string& listen) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "sink");
  const size_t colon = listen.rfind(':');
  return std::string(host) + (colon == std::string::npos ? "" : listen.substr(colon));
}

// The idle sweep looks at every open session: a twentieth of the timeout
// between sweeps (1 s to 30 s) is precision enough.
int64_t SweepInterval(const sink::ServeConfig& cfg) {
  return std::clamp<int64_t>(cfg.session_timeout_ms / 20, 1000, 30000);
}

// One line for systemd's STATUS= (systemctl status shows it).
std::string StatusLine(const std::string& url, const sink::Writer& writer,
                       const sink::HttpServer& http) {
  const sink::WriterStats s = writer.Stats();
  return "serving " + url + "; " + std::to_string(s.events_accepted) + " events accepted, " +
         std::to_string(s.open_sessions) + " open sessions, " +
         std::to_string(http.open_connections()) + " connections, flush lag " +
         std::to_string(s.flush_lag_ms) + " ms";
}

int Serve(const sink::ServeCommandLine& cl, const std::vector<std::string>& args) {
  const sink::ServeConfig& cfg = cl.config();
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  sink::SetLogFormat(cfg.log_format);
  if (std::vector<std::string> problems = sink::ValidateServeConfig(cfg); !problems.empty()) {
    for (const std::string& p : problems) spdlog::critical("{}", p);
    return 1;
  }
  if (std::string err = CheckDbPath(cfg.db_path); !err.empty()) {
    spdlog::critical("{}", err);
    return 1;
  }
  RaiseFileLimit(cfg);

  // Block the signals in every thread; the main thread waits for them:
  // SIGTERM/SIGINT drain and stop, SIGHUP rereads the configuration.
  const sigset_t sigs = sink::BlockSignals({SIGTERM, SIGINT, SIGHUP});
  signal(SIGPIPE, SIG_IGN);

  // systemd (Type=notify): what the start is doing while it is not ready
  // yet (a migration or a long replay takes a while; the unit allows it).
  sink::SystemdNotifier notify;
  notify.Notify("STATUS=opening " + cfg.db_path + ": migrating and replaying the log if needed");

  sink::SystemClock clock;
  sink::WriterOptions wo;
  wo.db_path = cfg.db_path;
  wo.synchronous_full = cfg.synchronous == "full";
  wo.session_timeout_ms = cfg.session_timeout_ms;
  wo.max_pending_events = cfg.max_pending_events;
  wo.max_db_bytes = static_cast<int64_t>(cfg.max_db_bytes);
  wo.cache_bytes = static_cast<int64_t>(cfg.cache_bytes);
  wo.session_log = !cfg.kafka_brokers.empty();
  wo.session_flush_ms = cfg.session_flush_ms;
  wo.sweep_interval_ms = SweepInterval(cfg);
  wo.session_memory_bytes = static_cast<int64_t>(cfg.session_memory_bytes);
  wo.reparse = sink::ReparseStoredEvent;
  wo.retain_events_ms = cfg.retain_events_ms;
  wo.max_disk_bytes = static_cast<int64_t>(cfg.max_disk_bytes);
  wo.retain_sessions_ms = cfg.retain_sessions_ms;
  wo.segment_bytes = static_cast<int64_t>(cfg.segment_bytes);
  wo.segment_ms = cfg.segment_ms;
  wo.keep_dead_letters = static_cast<int64_t>(cfg.keep_dead_letters);
  wo.relay_events = !cfg.kafka_brokers.empty();
  auto writer = sink::Writer::Open(wo, &clock);
  if (!writer.ok()) {
    spdlog::critical("{}", writer.status().message());
    return 1;
  }
  {
    const sink::WriterStats ws = writer.value()->Stats();
    if (ws.replayed_events > 0) {
      spdlog::info(
          "replayed {} events logged after the sessions table's watermark ({} open "
          "sessions)",
          ws.replayed_events, ws.open_sessions);
    }
    if (ws.replay_failures > 0) {
      spdlog::warn(
          "{} stored events did not parse again and were left out of their sessions "
          "(they stay in the events table)",
          ws.replay_failures);
    }
  }

  std::unique_ptr<sink::Relay> relay;
  if (cfg.kafka_brokers.empty()) {
    spdlog::info("Kafka fan-out is off (--kafka-brokers not set): events are kept in SQLite only");
  } else {
    sink::RelayOptions ro;
    ro.db_path = cfg.db_path;
    ro.brokers = cfg.kafka_brokers;
    ro.events_topic = cfg.kafka_topic_events;
    ro.sessions_topic = cfg.kafka_topic_sessions;
    ro.clickhouse_topic = cfg.kafka_topic_clickhouse;
    ro.sink_name = cfg.sink_name.empty() ? DefaultSinkName(cfg.listen) : cfg.sink_name;
    std::string err;
    if (!sink::ParseKafkaOptions(cfg.kafka_options, &ro.kafka_options, &err)) {
      spdlog::critical("{}", err);
      return 1;
    }
    auto started = sink::Relay::Start(ro, writer.value().get(), &clock);
    if (!started.ok()) {
      spdlog::critical("{}", started.status().message());
      return 1;
    }
    relay = std::move(started.value());
    sink::Relay* r = relay.get();
    writer.value()->SetCommitListener([r] { r->Wake(); });
    spdlog::info("Kafka fan-out on: brokers {}, topics {} and {}", cfg.kafka_brokers,
                 cfg.kafka_topic_events, cfg.kafka_topic_sessions);
    if (!ro.clickhouse_topic.empty()) {
      spdlog::info("Kafka fan-out: event envelopes for ClickHouse to {}, as sink '{}'",
                   ro.clickhouse_topic, ro.sink_name);
    }
  }

  if (!cfg.reports_from.empty()) {
    spdlog::info("GET /reports/NAME from ClickHouse at {} (database {}) for {}; the others from {}",
                 cfg.reports_from, cfg.reports_database, sink::ClickHouseReportNames(),
                 cfg.db_path);
  }
  sink::HttpServer http(cfg, writer.value().get(), relay.get(), &clock);
  // What a reload may change, and the object each change goes to; any other
  // setting that changed is logged as needing a restart.
  sink::Reloader reloader(cl, args);
  reloader.OnChange({"token", "read-token", "streampixel-origins", "metrics-public"},
                    [&http](const sink::ServeConfig& c) { http.SetAccess(c); });
  reloader.OnChange({"log-level"}, [](const sink::ServeConfig& c) {
    spdlog::set_level(spdlog::level::from_str(c.log_level));
  });
  reloader.OnChange({"log-format"},
                    [](const sink::ServeConfig& c) { sink::SetLogFormat(c.log_format); });
  reloader.OnChange({"max-connections", "max-connections-per-client", "client-timeout"},
                    [&http](const sink::ServeConfig& c) { http.SetConnectionLimits(c); });
  sink::Writer* w = writer.value().get();
  reloader.OnChange({"session-timeout"}, [w](const sink::ServeConfig& c) {
    w->SetSessionTimeout(c.session_timeout_ms, SweepInterval(c));
  });
  http.AddMetrics([&reloader](std::string* m) { reloader.AppendMetrics(m); });
  if (sink::Status st = http.Start(); !st.ok()) {
    spdlog::critical("{}", st.message());
    return 1;
  }
  std::string host;
  int port = 0;
  // (void): http.Start() parsed the same address, and would have failed.
  (void)sink::SplitHostPort(cfg.listen, &host, &port);
  const std::string url = std::string(cfg.tls_cert.empty() ? "http" : "https") + "://" +
                          (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                          std::to_string(http.port());
  {
    sink::LogFields listening{{"address", url}, {"port", http.port()}};
    spdlog::info("sessionsink {} listening on {} (db {}, synchronous={}, auth {}{})",
                 SESSIONSINK_VERSION, url, cfg.db_path, cfg.synchronous,
                 cfg.tokens.empty() ? "off" : "on",
                 cl.config_file().empty() ? "" : ", config " + cl.config_file());
  }

  // systemd (Type=notify): ready once the port answers; a status line every
  // 10 s; the watchdog petted at half its period from this loop, which also
  // reads the writer's state, so a wedged writer stops the petting.
  notify.Notify("READY=1\nSTATUS=" + StatusLine(url, *w, http));
  const uint64_t watchdog_us = notify.watchdog_interval_us();
  if (watchdog_us > 0) spdlog::info("systemd watchdog on: petting every {} ms", watchdog_us / 1000);
  const uint64_t wait_us = watchdog_us > 0 ? std::min<uint64_t>(watchdog_us, 10000000) : 10000000;
  int sig = 0;
  for (;;) {
    timespec wait{static_cast<time_t>(wait_us / 1000000),
                  static_cast<long>(wait_us % 1000000) * 1000};
    sig = sigtimedwait(&sigs, nullptr, &wait);
    if (sig < 0) {  // the period passed (or EINTR)
      notify.Notify(std::string(watchdog_us > 0 ? "WATCHDOG=1\n" : "") +
                    "STATUS=" + StatusLine(url, *w, http));
      continue;
    }
    if (sig != SIGHUP) break;
    notify.Notify(
        "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(sink::SystemdNotifier::MonotonicUs()) +
        "\nSTATUS=reloading the configuration");
    reloader.Reload();
    notify.Notify("READY=1\nSTATUS=" + StatusLine(url, *w, http));
  }
  spdlog::info("received {}, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  notify.Notify("STOPPING=1\nSTATUS=draining: finishing requests, writing the sessions");
  http.Stop();
  // The sessions first, so that the relay publishes their last rows too.
  if (sink::Status st = writer.value()->FlushNow(); !st.ok()) {
    spdlog::warn(
        "could not write the sessions before stopping: {} (they are replayed at the "
        "next start)",
        st.message());
  }
  if (relay) {
    writer.value()->SetCommitListener({});
    relay->Stop(cfg.kafka_flush_timeout_ms);
    const sink::RelayStats rs = relay->Stats();
    spdlog::info("kafka: delivered up to seq {} ({} events behind)", rs.events_cursor,
                 rs.backlog_events);
  }
  writer.value()->Stop();
  const sink::WriterStats s = writer.value()->Stats();
  sink::LogFields counts{{"accepted", s.events_accepted},
                         {"duplicates", s.events_duplicate},
                         {"rejected", s.items_rejected},
                         {"commits", s.commits}};
  spdlog::info("stopped: {} events accepted, {} duplicates, {} rejected, {} commits",
               s.events_accepted, s.events_duplicate, s.items_rejected, s.commits);
  return 0;
}

constexpr const char* kServeHelp =
    "Run the HTTP sink. Point Flussonic at http://HOST:PORT/events. Every setting is a flag, "
    "an environment variable (shown) or a line of the --config file; a flag beats the "
    "environment, which beats the file. SIGHUP rereads the file.";
constexpr const char* kCheckConfigHelp =
    "Check the configuration `serve` would run with (the same options, environment and "
    "--config file; without --config, "
    "/etc/sessionsink/sessionsink.conf when it exists) and "
    "print every effective setting with where it came from, tokens masked. Exit 0 when "
    "valid, 78 when not.";
constexpr const char* kPackagedConfig = "/etc/sessionsink/sessionsink.conf";
constexpr int kExitConfig = 78;  // EX_CONFIG (sysexits.h), as Vector uses

int CheckConfig(const sink::ServeCommandLine& cl, bool quiet) {
  const std::vector<std::string> problems = sink::ValidateServeConfig(cl.config());
  for (const std::string& p : problems) {
    std::fprintf(stderr, "check-config: invalid configuration: %s\n", p.c_str());
  }
  if (!problems.empty()) return kExitConfig;
  if (quiet) return 0;
  std::printf("# sessionsink %s: the configuration is valid\n", SESSIONSINK_VERSION);
  std::printf("# file: %s\n", cl.config_file().empty() ? "(none)" : cl.config_file().c_str());
  std::printf(
      "# every effective setting, then where it came from (flag > environment > file > "
      "default)\n");
  for (const sink::Setting& s : cl.Settings()) {
    const std::string line = s.name + " = " + s.shown;
    std::printf("%-48s # %s\n", line.c_str(), sink::SettingSourceName(s.source));
  }
  if (std::string err = CheckDbPath(cl.config().db_path); !err.empty()) {
    std::fprintf(stderr, "check-config: warning: %s\n", err.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // SQLite counts every allocation under one process-wide mutex unless told
  // not to; the sink never asks for those counts. Before any connection.
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sink::InitLogging();

  // serve and check-config parse their own command line (flags, environment,
  // --config file): the reload parses it again the same way.
  const std::string command = argc >= 2 ? argv[1] : "";
  if (command == "serve" || command == "check-config") {
    const std::vector<std::string> args(argv + 2, argv + argc);
    const bool check = command == "check-config";
    sink::ServeCommandLine cl(check ? "sessionsink check-config" : "sessionsink serve",
                              check ? kCheckConfigHelp : kServeHelp, check ? kPackagedConfig : "");
    bool quiet = false;
    if (check) {
      cl.app()
          .add_flag("--quiet,-q", quiet, "Print nothing when the configuration is valid.")
          ->configurable(false);
    }
    try {
      cl.Parse(args);
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == 0) return cl.app().exit(e);  // --help
      std::fprintf(stderr, "%s: invalid configuration: %s\nRun with --help for more information.\n",
                   cl.name().c_str(), e.what());
      return kExitConfig;
    }
    return check ? CheckConfig(cl, quiet) : Serve(cl, args);
  }

  CLI::App app{
      "sessionsink: receives session events from media servers (Flussonic event_sink/notify),\n"
      "keeps one row per session in SQLite and answers only after a durable commit."};
  app.set_version_flag("--version", SESSIONSINK_VERSION);
  app.require_subcommand(1);

  // Parsed above; listed here for --help.
  app.add_subcommand("serve", kServeHelp)->allow_extras();
  app.add_subcommand("check-config", kCheckConfigHelp)->allow_extras();

  int mock_brokers = 3, mock_partitions = 3;
  std::vector<std::string> mock_topics = {"sessionsink.events", "sessionsink.sessions"};
  CLI::App* dev_kafka = app.add_subcommand(
      "dev-kafka",
      "Run a loopback Kafka (librdkafka's mock cluster) to try the fan-out without a cluster. "
      "Prints the bootstrap servers on the first line; Ctrl-C stops it. Data lives in memory "
      "and only the last ~5 MiB per partition is kept.");
  dev_kafka->add_option("--brokers", mock_brokers, "Number of brokers.")
      ->check(CLI::Range(1, 9))
      ->capture_default_str();
  dev_kafka->add_option("--partitions", mock_partitions, "Partitions per topic.")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  dev_kafka->add_option("--topic", mock_topics, "Topics to create (repeatable).")
      ->capture_default_str();

  sink::ReportRequest rr;
  std::string report_db = "./data/sessions.db";
  bool report_list = false;
  std::string from, to, now, media, user, server, platform, bucket;
  int64_t limit = -1;
  CLI::App* report = app.add_subcommand(
      "report",
      "Answer an operator question from the database: sessionsink report NAME [options]. "
      "'report --list' names them; the SQL behind each is in query/sql/ and runs in sqlite3 "
      "as it is. Times are ms since the epoch; windows are [from, to).");
  report->add_option("name", rr.name, "The report, e.g. sessions-per-user (see --list).");
  report->add_flag("--list", report_list, "List the reports, one line each.");
  report->add_option("--db", report_db, "SQLite database written by sessionsink serve.")
      ->envname("SESSIONSINK_DB")
      ->capture_default_str();
  report->add_option("--from", from, "Window start, inclusive: ISO-8601 or epoch ms.");
  report->add_option("--to", to, "Window end, exclusive: ISO-8601 or epoch ms.");
  report->add_option("--now", now,
                     "The time open sessions run until (default: the current time), for "
                     "repeatable answers.");
  report->add_option("--media", media, "Only this media.");
  report->add_option("--user", user, "Only this user_id.");
  report->add_option("--server", server, "Only this server.");
  std::string platforms;
  for (std::string_view n : sink::kPlatformNames)
    platforms += (platforms.empty() ? "" : ", ") + std::string(n);
  report->add_option("--platform", platform, "Only this platform's sessions: " + platforms + ".");
  report->add_option("--bucket", bucket, "concurrency: bucket size, e.g. 1m, 5m, 1h (default 1m).");
  report
      ->add_option("--limit", limit,
                   "sharing: list users with more than N plays at once (instead of users "
                   "playing from different networks).")
      ->check(CLI::Range(int64_t{0}, sink::kMaxReportLimit));
  report->add_flag("--sql", rr.sql,
                   "Evaluate the SQL file itself (what sqlite3 would run) instead of the native "
                   "evaluation the heavy reports use; same answer, slower on large databases.");
  sink::ClickHouseTarget report_ch;
  report->add_option("--clickhouse", report_ch.url,
                     "Run the report on ClickHouse (the whole fleet, fed from Kafka) at this "
                     "HTTP URL, e.g. http://127.0.0.1:8123, instead of the --db file.");
  report->add_option("--database", report_ch.database, "--clickhouse: the database.")
      ->capture_default_str();
  report->add_option("--format", rr.format, "table, csv or json.")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();

  sink::ClickHouseInitOptions ch_init;
  CLI::App* clickhouse = app.add_subcommand(
      "clickhouse", "The fleet-wide reports on ClickHouse, fed by the Kafka topics.");
  clickhouse->require_subcommand(1);
  CLI::App* ch_init_cmd = clickhouse->add_subcommand(
      "init",
      "Create the database, tables, Kafka engine tables and materialized views "
      "(schemas/clickhouse/) over ClickHouse's HTTP interface; says what it created. "
      "Idempotent; Kafka tables whose brokers or topics changed are replaced. Waits up to "
      "30 s for a server that does not answer yet.");
  ch_init_cmd->add_option("--url", ch_init.target.url, "ClickHouse's HTTP URL.")
      ->required()
      ->envname("SESSIONSINK_CLICKHOUSE");
  ch_init_cmd
      ->add_option("--kafka-brokers", ch_init.brokers,
                   "Kafka bootstrap servers, as ClickHouse reaches them (host:port,…).")
      ->required();
  ch_init_cmd->add_option("--database", ch_init.target.database, "The database to create.")
      ->capture_default_str();
  ch_init_cmd
      ->add_option("--sessions-topic", ch_init.sessions_topic,
                   "The sessions topic (serve --kafka-topic-sessions).")
      ->capture_default_str();
  ch_init_cmd
      ->add_option("--events-topic", ch_init.events_topic,
                   "The event envelopes' topic (serve --kafka-topic-clickhouse).")
      ->capture_default_str();
  ch_init_cmd
      ->add_option("--group", ch_init.group,
                   "Consumer group prefix (_sessions and _events are appended).")
      ->capture_default_str();

  sink::StoreCommands store_commands;
  sink::AddStoreCommands(&app, &store_commands);

  CLI11_PARSE(app, argc, argv);
  if (ch_init_cmd->parsed()) {
    sink::Result<std::string> out = sink::ClickHouseInit(ch_init);
    if (!out.ok()) {
      std::fprintf(stderr, "clickhouse init: %s\n", out.status().message().c_str());
      return sink::ExitCodeFor(out.status());
    }
    std::fputs(out.value().c_str(), stdout);
    return 0;
  }
  if (std::optional<int> rc = sink::RunStoreCommands(store_commands)) return *rc;
  if (report->parsed()) {
    if (report_list) {
      std::fputs(sink::ReportList().c_str(), stdout);
      return 0;
    }
    if (rr.name.empty()) {
      std::fputs("report: give a report name, or --list to see them\n", stderr);
      return 2;
    }
    auto set = [](const std::string& v, std::optional<std::string>* out) {
      if (!v.empty()) *out = v;
    };
    set(from, &rr.from);
    set(to, &rr.to);
    set(now, &rr.now);
    set(media, &rr.media);
    set(user, &rr.user);
    set(server, &rr.server);
    set(platform, &rr.platform);
    set(bucket, &rr.bucket);
    if (limit >= 0) rr.limit = limit;
    sink::Result<std::string> text = report_ch.url.empty()
                                         ? sink::RunReportText(report_db, rr)
                                         : sink::RunClickHouseReportText(report_ch, rr);
    if (!text.ok()) {
      std::fprintf(stderr, "report: %s\n", text.status().message().c_str());
      return sink::ExitCodeFor(text.status());
    }
    std::fputs(text.value().c_str(), stdout);
    return 0;
  }
  if (dev_kafka->parsed()) return sink::RunDevKafka(mock_brokers, mock_partitions, mock_topics);
  return 2;
}
