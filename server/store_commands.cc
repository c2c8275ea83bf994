#include "server/store_commands.h"

#include <cstdio>

#include "server/status_codes.h"
#include "store/backup.h"
#include "store/log_reader.h"

namespace sink {
namespace {

int Fail(const char* command, const Status& s) {
  std::fprintf(stderr, "%s: %s\n", command, s.message().c_str());
  return ExitCodeFor(s);
}

void AddDb(CLI::App* cmd, std::string* db) {
  cmd->add_option("--db", *db, "The sink's database (its main file, as given to serve --db).")
      ->envname("SESSIONSINK_DB")
      ->capture_default_str();
}

}  // namespace

void AddStoreCommands(CLI::App* app, StoreCommands* c) {
  c->events = app->add_subcommand(
      "events",
      "Print the stored events as NDJSON — one compact JSON object a line, the body as stored, in "
      "seq order — or with --count their number. Reads beside a running sink.");
  AddDb(c->events, &c->db);
  c->events->add_option("--session", c->session, "Only this session id.");
  c->events->add_option("--server", c->server, "Only this server.");
  c->events->add_option("--from", c->from,
                        "Only events at or after this time (utc_ms, or the receive time when an "
                        "event has none): ISO-8601 or epoch ms.");
  c->events->add_option("--to", c->to, "Only events before this time: ISO-8601 or epoch ms.");
  c->events->add_flag("--count", c->request.count, "Print the number of matching events only.");

  c->backup = app->add_subcommand(
      "backup",
      "Write a consistent copy of the store into a new directory while the sink runs (under "
      "load too). Restore: sessionsink serve --db OUT/<the main file's name>.");
  AddDb(c->backup, &c->db);
  c->backup->add_option("--out", c->out, "Directory for the copy: new or empty.")->required();
}

std::optional<int> RunStoreCommands(StoreCommands& c) {
  if (c.events != nullptr && c.events->parsed()) {
    auto set = [](const std::string& v, std::optional<std::string>* out) {
      if (!v.empty()) *out = v;
    };
    set(c.session, &c.request.session);
    set(c.server, &c.request.server);
    set(c.from, &c.request.from);
    set(c.to, &c.request.to);
    Result<LogReader> log = LogReader::Open(c.db);
    if (!log.ok()) return Fail("events", log.status());
    Status st = ExportEvents(
        c.request,
        [&](const std::function<Status(const LogRecord&)>& fn) { return log->ForEachAfter(0, fn); },
        stdout);
    return st.ok() ? 0 : Fail("events", st);
  }
  if (c.backup != nullptr && c.backup->parsed()) {
    Result<BackupReport> r = Backup(c.db, c.out);
    if (!r.ok()) return Fail("backup", r.status());
    for (const BackupFile& f : r->files) {
      std::printf("wrote %s (%lld bytes)\n", f.path.c_str(), static_cast<long long>(f.bytes));
    }
    std::printf("events up to seq %lld, sessions up to seq %lld, in %lld ms\n",
                static_cast<long long>(r->last_seq), static_cast<long long>(r->watermark),
                static_cast<long long>(r->elapsed_ms));
    std::printf("restore: sessionsink serve --db %s\n", r->files.front().path.c_str());
    return 0;
  }
  return std::nullopt;
}

}  // namespace sink
