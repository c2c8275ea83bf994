// sessionsink: receives media-server session events over HTTP, keeps one row
// per session in SQLite. This file only wires configuration to objects and
// shuts them down in order: HTTP (stop accepting, finish requests) → writer
// (commit what is queued) → database.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "ingest/config.h"
#include "ingest/http_server.h"
#include "store/clock.h"
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
    return "the directory " + dir.string() + " is not writable (SQLite needs to create " +
           "its -wal and -shm files next to the database)";
  }
  return {};
}

int Serve(const sink::ServeConfig& cfg) {
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  if (std::string err = CheckDbPath(cfg.db_path); !err.empty()) {
    spdlog::critical("{}", err);
    return 1;
  }

  // Block termination signals in every thread; one thread waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  sink::SystemClock clock;
  sink::WriterOptions wo;
  wo.db_path = cfg.db_path;
  wo.synchronous_full = cfg.synchronous == "full";
  wo.session_timeout_ms = cfg.session_timeout_ms;
  wo.max_pending_events = cfg.max_pending_events;
  wo.max_db_bytes = static_cast<int64_t>(cfg.max_db_bytes);
  auto writer = sink::Writer::Open(wo, &clock);
  if (!writer.ok()) {
    spdlog::critical("{}", writer.status().message());
    return 1;
  }

  sink::HttpServer http(cfg, writer.value().get(), &clock);
  if (sink::Status st = http.Start(); !st.ok()) {
    spdlog::critical("{}", st.message());
    return 1;
  }
  std::string host;
  int port = 0;
  sink::SplitHostPort(cfg.listen, &host, &port);
  spdlog::info("sessionsink {} listening on http://{}:{} (db {}, synchronous={}, auth {})",
               SESSIONSINK_VERSION, host, http.port(), cfg.db_path, cfg.synchronous,
               cfg.token.empty() ? "off" : "on");

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("received {}, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  http.Stop();
  writer.value()->Stop();
  const sink::WriterStats s = writer.value()->Stats();
  spdlog::info("stopped: {} events accepted, {} duplicates, {} rejected, {} commits",
               s.events_accepted, s.events_duplicate, s.items_rejected, s.commits);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("sessionsink");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  CLI::App app{
      "sessionsink: receives session events from media servers (Flussonic event_sink/notify),\n"
      "keeps one row per session in SQLite and answers only after a durable commit."};
  app.set_version_flag("--version", SESSIONSINK_VERSION);
  app.require_subcommand(1);

  sink::ServeConfig cfg;
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Run the HTTP sink. Point Flussonic at http://HOST:PORT/events. Every flag can also be "
      "set with the environment variable shown.");
  sink::AddServeOptions(serve, &cfg);

  CLI11_PARSE(app, argc, argv);
  if (serve->parsed()) return Serve(cfg);
  return 2;
}
