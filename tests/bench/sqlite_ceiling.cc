// sessionsink-sqlite-ceiling: the storage ceiling. The same events the load
// generator sends, written the plainest way SQLite allows, in transactions
// of --commit-events, with the sink's pragmas. Only the SQLite work is timed
// (generating the events is not).
//   --mode append  what a 2xx waits for in the sink: per event a dedup
//                  lookup and one append to a table with the sink's events
//                  columns and dedup index; WAL checkpoints on a second
//                  connection and thread, as the sink does them
//   --mode upsert  one append and one upsert of the session row per event:
//                  the ceiling of a design that writes the row with its event
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "tests/bench/workload.h"

namespace {

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sessionsink-sqlite-ceiling: raw SQLite append+upsert loop on benchmark events"};
  std::string path = "/tmp/sessionsink-ceiling.db", sync = "normal", mode = "append";
  int servers = 8;
  int64_t open_sessions = 100000, events = 1000000, commit_events = 1000;
  app.add_option("--db", path, "Database file (recreated).")->capture_default_str();
  app.add_option("--servers", servers, "Simulated servers (event streams).")->capture_default_str();
  app.add_option("--open-sessions", open_sessions, "Open sessions, all servers.")
      ->capture_default_str();
  app.add_option("--events", events, "Events to write.")->capture_default_str();
  app.add_option("--commit-events", commit_events, "Events per transaction.")
      ->capture_default_str();
  app.add_option("--synchronous", sync, "normal or full.")->capture_default_str();
  app.add_option("--mode", mode, "append (the event log) or upsert (log + session row).")
      ->check(CLI::IsMember({"append", "upsert"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  sqlite3* db = nullptr;
  Check(sqlite3_open(path.c_str(), &db), db, "open");
  const bool upsert_mode = mode == "upsert";
  const std::string setup =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + sync + "; PRAGMA cache_size=-65536;" +
      (upsert_mode
           ? "CREATE TABLE events(seq INTEGER PRIMARY KEY, received_at INTEGER, server TEXT, "
             "event TEXT, session_id TEXT, utc_ms INTEGER, body TEXT);"
             "CREATE TABLE sessions(id TEXT PRIMARY KEY, state TEXT, opened_at INTEGER,"
             " started_at INTEGER, updated_at INTEGER, closed_at INTEGER, bytes INTEGER,"
             " event_count INTEGER);"
           : "PRAGMA wal_autocheckpoint=0;"
             "CREATE TABLE events(seq INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, "
             "server TEXT, event TEXT NOT NULL, kind TEXT, phase TEXT, session_id TEXT, "
             "utc_ms INTEGER, event_id INTEGER, dedup INTEGER NOT NULL, body TEXT NOT NULL, "
             "platform TEXT); CREATE INDEX events_dedup ON events(utc_ms, dedup);");
  Check(sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr), db, "schema");
  sqlite3_stmt* append = nullptr;
  sqlite3_stmt* upsert = nullptr;
  sqlite3_stmt* find = nullptr;
  if (upsert_mode) {
    Check(sqlite3_prepare_v2(
              db,
              "INSERT INTO events(received_at, server, event, session_id, utc_ms, body)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
              -1, &append, nullptr),
          db, "prepare");
    Check(sqlite3_prepare_v2(
              db,
              "INSERT INTO sessions(id, state, opened_at, started_at, updated_at, closed_at, "
              "bytes, event_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1) ON CONFLICT(id) DO "
              "UPDATE SET state = excluded.state, opened_at = coalesce(opened_at, "
              "excluded.opened_at), started_at = coalesce(started_at, excluded.started_at),"
              " updated_at = max(coalesce(updated_at, 0), coalesce(excluded.updated_at, 0)),"
              " closed_at = coalesce(closed_at, excluded.closed_at),"
              " bytes = max(bytes, excluded.bytes), event_count = event_count + 1",
              -1, &upsert, nullptr),
          db, "prepare");
  } else {
    Check(sqlite3_prepare_v2(db,
                             "INSERT INTO events(received_at, server, event, kind, phase, "
                             "session_id, utc_ms, event_id, dedup, body) VALUES (?1, ?2, ?3, "
                             "'play', 'updated', ?4, ?5, ?6, ?7, ?8)",
                             -1, &append, nullptr),
          db, "prepare");
    Check(sqlite3_prepare_v2(db,
                             "SELECT server, event, session_id, event_id FROM events WHERE "
                             "utc_ms IS ?1 AND dedup = ?2",
                             -1, &find, nullptr),
          db, "prepare");
  }
  // Append mode: checkpoints after every commit on a connection of their own.
  std::mutex mu;
  std::condition_variable cv;
  bool due = false, stop = false;
  std::thread checkpointer;
  if (!upsert_mode) {
    checkpointer = std::thread([&] {
      sqlite3* c = nullptr;
      sqlite3_open(path.c_str(), &c);
      sqlite3_exec(c, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
      std::unique_lock<std::mutex> lock(mu);
      while (!stop) {
        cv.wait(lock, [&] { return due || stop; });
        due = false;
        lock.unlock();
        sqlite3_wal_checkpoint_v2(c, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        lock.lock();
      }
      sqlite3_close(c);
    });
  }

  std::vector<std::unique_ptr<sink::bench::Workload>> streams;
  for (int i = 0; i < servers; ++i) {
    sink::bench::WorkloadOptions wo;
    wo.server = "edge-" + std::to_string(i + 1);
    wo.open_sessions = std::max<int64_t>(1, open_sessions / servers);
    wo.seed = static_cast<uint64_t>(i + 1);
    streams.push_back(std::make_unique<sink::bench::Workload>(wo));
  }
  static const char* kState[] = {"establishing", "establishing", "running", "running",
                                 "stalling",     "running",      "finished"};
  std::chrono::duration<double> spent{0};
  int64_t done = 0;
  std::vector<sink::bench::GenEvent> chunk;
  while (done < events) {
    chunk.clear();
    const int64_t n = std::min(commit_events, events - done);
    for (int64_t i = 0; i < n; ++i)
      chunk.push_back(streams[static_cast<size_t>(i) % streams.size()]->Next());
    const auto t0 = std::chrono::steady_clock::now();
    Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
    for (const sink::bench::GenEvent& e : chunk) {
      if (!upsert_mode) {
        const int64_t dedup = static_cast<int64_t>(std::hash<std::string>()(e.json));
        sqlite3_bind_int64(find, 1, e.utc_ms);
        sqlite3_bind_int64(find, 2, dedup);
        while (sqlite3_step(find) == SQLITE_ROW) {
        }
        sqlite3_reset(find);
        sqlite3_bind_int64(append, 1, e.utc_ms);
        sqlite3_bind_text(append, 2, "edge", -1, SQLITE_STATIC);
        sqlite3_bind_text(append, 3, e.name.data(), static_cast<int>(e.name.size()), SQLITE_STATIC);
        sqlite3_bind_text(append, 4, e.session_id.data(), static_cast<int>(e.session_id.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(append, 5, e.utc_ms);
        sqlite3_bind_int64(append, 6, done);
        sqlite3_bind_int64(append, 7, dedup);
        sqlite3_bind_text(append, 8, e.json.data(), static_cast<int>(e.json.size()), SQLITE_STATIC);
        Check(sqlite3_step(append), db, "append");
        sqlite3_reset(append);
        continue;
      }
      sqlite3_bind_int64(append, 1, e.utc_ms);
      sqlite3_bind_text(append, 2, "edge", -1, SQLITE_STATIC);
      sqlite3_bind_text(append, 3, e.name.data(), static_cast<int>(e.name.size()), SQLITE_STATIC);
      sqlite3_bind_text(append, 4, e.session_id.data(), static_cast<int>(e.session_id.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(append, 5, e.utc_ms);
      sqlite3_bind_text(append, 6, e.json.data(), static_cast<int>(e.json.size()), SQLITE_STATIC);
      Check(sqlite3_step(append), db, "append");
      sqlite3_reset(append);
      sqlite3_bind_text(upsert, 1, e.session_id.data(), static_cast<int>(e.session_id.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(upsert, 2, kState[e.phase], -1, SQLITE_STATIC);
      e.phase == 0 ? sqlite3_bind_int64(upsert, 3, e.utc_ms) : sqlite3_bind_null(upsert, 3);
      e.phase == 2 ? sqlite3_bind_int64(upsert, 4, e.utc_ms) : sqlite3_bind_null(upsert, 4);
      sqlite3_bind_int64(upsert, 5, e.utc_ms);
      e.phase == 6 ? sqlite3_bind_int64(upsert, 6, e.utc_ms) : sqlite3_bind_null(upsert, 6);
      sqlite3_bind_int64(upsert, 7, e.bytes);
      Check(sqlite3_step(upsert), db, "upsert");
      sqlite3_reset(upsert);
    }
    Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
    spent += std::chrono::steady_clock::now() - t0;
    if (!upsert_mode) {
      std::lock_guard<std::mutex> lock(mu);
      due = true;
      cv.notify_one();
    }
    done += n;
  }
  if (checkpointer.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_one();
    checkpointer.join();
  }
  sqlite3_finalize(append);
  sqlite3_finalize(upsert);
  sqlite3_finalize(find);
  sqlite3_close(db);
  std::printf("events=%lld\nseconds=%.3f\nevents_per_s=%.0f\n", static_cast<long long>(done),
              spent.count(), static_cast<double>(done) / spent.count());
  return 0;
}
