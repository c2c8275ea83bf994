// sessionsink-codec-bench: bytes per event on disk for the ways the event
// log can keep its bodies, on the load generator's events (the same ones
// scripts/bench.sh posts), and what each costs in CPU.
//
//   table      the events table as schema 7 keeps it (row + dedup index)
//   zstd-N     each body alone, zstd level N, no dictionary
//   dict-N     each body alone with a dictionary trained on the first
//              --train bodies (--dict-bytes), zstd level N
//   blocks-B   a compact segment (store/compact_segment.h): blocks of B
//              events, level 3, with its dedup table; "+dict" with a
//              dictionary trained on the segment's first bodies
//
// Sizes of whole SQLite files are page counts × page size after the last
// commit (what the disk holds; no WAL: written in one transaction).
#include <sqlite3.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "store/compact_segment.h"
#include "store/fnv.h"
#include "store/log_block.h"
#include "store/sqlite.h"
#include "store/zstd_codec.h"
#include "tests/bench/workload.h"

namespace {

using Clock = std::chrono::steady_clock;
using sink::LogRecord;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int64_t FileBytes(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

void Die(const sink::Status& st) {
  std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
  std::exit(1);
}

int64_t Fnv(const std::string& s) { return static_cast<int64_t>(sink::Fnv1a::Of(s)); }

std::vector<LogRecord> Generate(int64_t n, int64_t open_sessions, int servers) {
  std::vector<sink::bench::Workload> loads;
  for (int i = 0; i < servers; ++i) {
    sink::bench::WorkloadOptions o;
    o.server = "edge-" + std::to_string(i + 1);
    o.open_sessions = std::max<int64_t>(1, open_sessions / servers);
    o.seed = static_cast<uint64_t>(i + 1);
    loads.emplace_back(o);
  }
  std::vector<LogRecord> rs;
  rs.reserve(static_cast<size_t>(n));
  static const char* kPhases[] = {"opened",  "authorized", "started", "updated",
                                  "stalled", "recovered",  "closed"};
  for (int64_t i = 0; i < n; ++i) {
    sink::bench::GenEvent e = loads[static_cast<size_t>(i % servers)].Next();
    LogRecord r;
    r.seq = i + 1;
    r.received_at = 1767225600000 + i / 50;  // 50k events a second
    r.server = "edge-" + std::to_string(i % servers + 1);
    r.event = e.name;
    r.kind = "play";
    r.phase = kPhases[e.phase];
    r.session_id = e.session_id;
    r.utc_ms = e.utc_ms;
    r.event_id = i + 1;
    r.dedup = Fnv(e.json);
    r.body = std::move(e.json);
    rs.push_back(std::move(r));
  }
  return rs;
}

// The events table and its dedup index as schema 7 has them.
int64_t TableBytes(const std::vector<LogRecord>& rs, const std::string& path) {
  std::remove(path.c_str());
  sink::Result<sink::Db> db = sink::Db::Open(path, true);
  if (!db.ok()) Die(db.status());
  sink::Status st = db->Exec(
      "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF;"
      "CREATE TABLE events (seq INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, server TEXT,"
      " event TEXT NOT NULL, kind TEXT, phase TEXT, session_id TEXT, utc_ms INTEGER,"
      " event_id INTEGER, dedup INTEGER NOT NULL, body TEXT NOT NULL, platform TEXT);"
      "CREATE INDEX events_dedup ON events(utc_ms, dedup); BEGIN");
  if (!st.ok()) Die(st);
  sink::Result<sink::Stmt> ins = db->Prepare(
      "INSERT INTO events(seq, received_at, server, event, kind, phase, session_id, utc_ms,"
      " event_id, dedup, body, platform) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!ins.ok()) Die(ins.status());
  for (const LogRecord& r : rs) {
    ins->Bind(1, r.seq);
    ins->Bind(2, r.received_at);
    ins->Bind(3, r.server);
    ins->Bind(4, std::string_view(r.event));
    ins->Bind(5, r.kind);
    ins->Bind(6, r.phase);
    ins->Bind(7, r.session_id);
    ins->Bind(8, r.utc_ms);
    ins->Bind(9, r.event_id);
    ins->Bind(10, r.dedup);
    ins->Bind(11, std::string_view(r.body));
    ins->Bind(12, r.platform);
    st = ins->RunAndReset();
    if (!st.ok()) Die(st);
  }
  st = db->Exec("COMMIT");
  if (!st.ok()) Die(st);
  db = sink::Db();
  const int64_t bytes = FileBytes(path);
  std::remove(path.c_str());
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sessionsink-codec-bench: bytes per event for the event log's storage forms"};
  int64_t events = 200000, open_sessions = 100000, train = 4000;
  int servers = 8;
  size_t dict_bytes = 64 << 10;
  std::string dir = "/tmp";
  app.add_option("--events", events, "Events to store.")->capture_default_str();
  app.add_option("--open-sessions", open_sessions, "Open sessions (the hard load: 100k).")
      ->capture_default_str();
  app.add_option("--servers", servers, "Simulated servers.")->capture_default_str();
  app.add_option("--train", train, "Bodies a dictionary is trained on.")->capture_default_str();
  app.add_option("--dict-bytes", dict_bytes, "Dictionary size.")->capture_default_str();
  app.add_option("--dir", dir, "Where the scratch files go.")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::vector<LogRecord> rs = Generate(events, open_sessions, servers);
  double raw = 0;
  for (const LogRecord& r : rs) raw += static_cast<double>(r.body.size());
  const double n = static_cast<double>(rs.size());
  std::printf("events %lld, body %.1f B on average\n", static_cast<long long>(events), raw / n);
  std::printf("%-16s %12s %12s %14s %14s\n", "form", "B/event", "body B/event", "encode us/ev",
              "decode us/ev");

  const std::string scratch = dir + "/sessionsink-codec-bench-" + std::to_string(::getpid());
  {
    const auto t0 = Clock::now();
    const int64_t bytes = TableBytes(rs, scratch + ".table");
    std::printf("%-16s %12.1f %12.1f %14.2f %14s\n", "table", static_cast<double>(bytes) / n,
                raw / n, Seconds(t0) * 1e6 / n, "-");
  }
  for (int level : {1, 3}) {
    double out = 0;
    std::vector<std::string> frames;
    frames.reserve(rs.size());
    auto t0 = Clock::now();
    for (const LogRecord& r : rs) {
      sink::Result<std::string> z = sink::ZstdCompress(r.body, level);
      if (!z.ok()) Die(z.status());
      out += static_cast<double>(z.value().size());
      frames.push_back(std::move(z.value()));
    }
    const double enc = Seconds(t0);
    t0 = Clock::now();
    for (const std::string& f : frames) {
      if (!sink::ZstdDecompress(f, 1 << 20).ok()) Die(sink::Status::Internal("decode"));
    }
    std::printf("%-16s %12s %12.1f %14.2f %14.2f\n", ("zstd-" + std::to_string(level)).c_str(), "-",
                out / n, enc * 1e6 / n, Seconds(t0) * 1e6 / n);
  }
  std::vector<std::string> samples;
  for (int64_t i = 0; i < std::min<int64_t>(train, events); ++i) {
    samples.push_back(rs[static_cast<size_t>(i)].body);
  }
  for (int level : {1, 3}) {
    auto t0 = Clock::now();
    sink::Result<std::shared_ptr<const sink::ZstdDict>> dict =
        sink::ZstdDict::Train(samples, dict_bytes, level);
    if (!dict.ok()) Die(dict.status());
    const double train_s = Seconds(t0);
    double out = 0;
    std::vector<std::string> frames;
    frames.reserve(rs.size());
    t0 = Clock::now();
    for (const LogRecord& r : rs) {
      sink::Result<std::string> z = sink::ZstdCompress(r.body, level, dict.value().get());
      if (!z.ok()) Die(z.status());
      out += static_cast<double>(z.value().size());
      frames.push_back(std::move(z.value()));
    }
    const double enc = Seconds(t0);
    t0 = Clock::now();
    for (const std::string& f : frames) {
      if (!sink::ZstdDecompress(f, 1 << 20, dict.value().get()).ok()) {
        Die(sink::Status::Internal("decode"));
      }
    }
    std::printf("%-16s %12s %12.1f %14.2f %14.2f   (dictionary %zu B trained in %.2f s)\n",
                ("dict-" + std::to_string(level)).c_str(), "-", out / n, enc * 1e6 / n,
                Seconds(t0) * 1e6 / n, dict.value()->bytes().size(), train_s);
  }
  for (size_t block : {size_t{16}, size_t{64}, size_t{128}, size_t{256}}) {
    for (size_t with_dict : {size_t{0}, dict_bytes}) {
      sink::CompactOptions o;
      o.block_records = block;
      o.dict_bytes = with_dict;
      const std::string path = scratch + ".seg";
      size_t i = 0;
      auto t0 = Clock::now();
      sink::Result<sink::SegmentMeta> meta = sink::WriteCompactSegment(
          path,
          [&](LogRecord* out) -> sink::Result<bool> {
            if (i == rs.size()) return false;
            *out = rs[i++];
            return true;
          },
          o);
      if (!meta.ok()) Die(meta.status());
      const double enc = Seconds(t0);
      const int64_t bytes = FileBytes(path);
      sink::Result<sink::CompactSegment> seg = sink::CompactSegment::Open(path);
      if (!seg.ok()) Die(seg.status());
      int64_t seen = 0;
      t0 = Clock::now();
      sink::Status st = seg->ForEachAfter(0, [&](const LogRecord&) {
        ++seen;
        return sink::Status::Ok();
      });
      if (!st.ok() || seen != events) Die(sink::Status::Internal("read back"));
      const double dec = Seconds(t0);
      // What the blocks alone take, without the dedup table.
      sink::Result<sink::Db> db = sink::Db::Open(path, false, true);
      if (!db.ok()) Die(db.status());
      sink::Result<int64_t> blob = db->QueryInt("SELECT sum(length(data)) FROM blocks");
      if (!blob.ok()) Die(blob.status());
      db = sink::Db();
      std::remove(path.c_str());
      const std::string name = "blocks-" + std::to_string(block) + (with_dict ? "+dict" : "");
      std::printf("%-16s %12.1f %12.1f %14.2f %14.2f\n", name.c_str(),
                  static_cast<double>(bytes) / n, static_cast<double>(blob.value()) / n,
                  enc * 1e6 / n, dec * 1e6 / n);
    }
  }
  std::printf(
      "(B/event: the whole file; body B/event: the bodies alone, or for blocks every column\n"
      " of the events inside the zstd blocks; the dedup table is the difference)\n");
  return 0;
}
