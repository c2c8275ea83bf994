#include "store/compact_segment.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>

namespace sink {
namespace {

// utc_ms is NULL for events without a time; the dedup table's key cannot
// be, so those are stored under the smallest integer.
constexpr int64_t kNoUtc = std::numeric_limits<int64_t>::min();

// The dedup table keeps the low 32 bits of each key's hash: a lookup finds
// its candidates by (time, hash) and the caller compares them field by
// field, so a shorter hash costs nothing in exactness and 4 bytes less a
// row.
int64_t Hash32(int64_t dedup) { return static_cast<int64_t>(static_cast<int32_t>(dedup)); }

// Bodies the dictionary is trained on: the first ones of the segment.
constexpr size_t kTrainSamples = 4000;

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE dict(id INTEGER PRIMARY KEY, bytes BLOB NOT NULL);
CREATE TABLE blocks(first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE dedup(utc_ms INTEGER NOT NULL, hash INTEGER NOT NULL, seq INTEGER NOT NULL,
                   PRIMARY KEY(utc_ms, hash, seq)) WITHOUT ROWID;
CREATE TABLE rejected(id INTEGER PRIMARY KEY, after_seq INTEGER NOT NULL,
                      received_at INTEGER NOT NULL, remote_addr TEXT, reason TEXT NOT NULL,
                      item_index INTEGER, server TEXT, body BLOB NOT NULL);
)sql";

void Widen(SegmentMeta* m, const LogRecord& r) {
  if (m->count == 0) {
    m->first_seq = r.seq;
    m->min_received_at = m->max_received_at = r.received_at;
  }
  m->last_seq = r.seq;
  ++m->count;
  m->min_received_at = std::min(m->min_received_at, r.received_at);
  m->max_received_at = std::max(m->max_received_at, r.received_at);
  if (r.utc_ms) {
    m->min_utc_ms = m->min_utc_ms ? std::min(*m->min_utc_ms, *r.utc_ms) : *r.utc_ms;
    m->max_utc_ms = m->max_utc_ms ? std::max(*m->max_utc_ms, *r.utc_ms) : *r.utc_ms;
  }
}

Status Build(Db& db, const RecordSource& next, const CompactOptions& o,
             const std::function<Status(Db&)>& finish, SegmentMeta* meta) {
  SINK_RETURN_IF_ERROR(db.Exec(kSchema));
  SINK_RETURN_IF_ERROR(db.Exec("BEGIN"));
  Result<Stmt> put_block =
      db.Prepare("INSERT INTO blocks(first_seq, last_seq, data) VALUES (?, ?, ?)");
  Result<Stmt> put_key = db.Prepare("INSERT INTO dedup(utc_ms, hash, seq) VALUES (?, ?, ?)");
  if (!put_block.ok()) return put_block.status();
  if (!put_key.ok()) return put_key.status();

  std::vector<LogRecord> pending;  // read ahead of the dictionary, then blocks
  bool more = true;
  std::shared_ptr<const ZstdDict> dict;
  if (o.dict_bytes > 0) {
    while (more && pending.size() < kTrainSamples) {
      LogRecord r;
      Result<bool> got = next(&r);
      if (!got.ok()) return got.status();
      more = got.value();
      if (more) pending.push_back(std::move(r));
    }
    std::vector<std::string> samples;
    for (const LogRecord& r : pending) samples.push_back(r.body);
    // Too few or too alike bodies to train on: blocks without a dictionary.
    Result<std::shared_ptr<const ZstdDict>> trained =
        ZstdDict::Train(samples, o.dict_bytes, o.level);
    if (trained.ok()) {
      dict = trained.value();
      Result<Stmt> put_dict = db.Prepare("INSERT INTO dict(id, bytes) VALUES (?, ?)");
      if (!put_dict.ok()) return put_dict.status();
      put_dict->Bind(1, static_cast<int64_t>(dict->id()));
      put_dict->BindBlob(2, dict->bytes());
      SINK_RETURN_IF_ERROR(put_dict->RunAndReset());
    }
  }

  std::vector<LogRecord> block;
  auto flush = [&]() -> Status {
    if (block.empty()) return Status::Ok();
    Result<std::string> data = EncodeLogBlock(block, o.level, dict.get());
    if (!data.ok()) return data.status();
    put_block->Bind(1, block.front().seq);
    put_block->Bind(2, block.back().seq);
    put_block->BindBlob(3, data.value());
    SINK_RETURN_IF_ERROR(put_block->RunAndReset());
    block.clear();
    return Status::Ok();
  };
  auto add = [&](LogRecord r) -> Status {
    if (meta->count > 0 && r.seq <= meta->last_seq) {
      return Status::Internal("log records out of seq order");
    }
    Widen(meta, r);
    put_key->Bind(1, r.utc_ms.value_or(kNoUtc));
    put_key->Bind(2, Hash32(r.dedup));
    put_key->Bind(3, r.seq);
    SINK_RETURN_IF_ERROR(put_key->RunAndReset());
    block.push_back(std::move(r));
    return block.size() >= o.block_records ? flush() : Status::Ok();
  };
  for (LogRecord& r : pending) SINK_RETURN_IF_ERROR(add(std::move(r)));
  pending.clear();
  while (more) {
    LogRecord r;
    Result<bool> got = next(&r);
    if (!got.ok()) return got.status();
    more = got.value();
    if (more) SINK_RETURN_IF_ERROR(add(std::move(r)));
  }
  SINK_RETURN_IF_ERROR(flush());
  if (meta->count == 0) return Status::Internal("a compact segment of no events");

  Result<Stmt> put_meta = db.Prepare("INSERT INTO meta(name, value) VALUES (?, ?)");
  if (!put_meta.ok()) return put_meta.status();
  const std::pair<const char*, std::optional<int64_t>> rows[] = {
      {"format", 1},
      {"first_seq", meta->first_seq},
      {"last_seq", meta->last_seq},
      {"count", meta->count},
      {"min_received_at", meta->min_received_at},
      {"max_received_at", meta->max_received_at},
      {"min_utc_ms", meta->min_utc_ms},
      {"max_utc_ms", meta->max_utc_ms},
  };
  for (const auto& [name, value] : rows) {
    put_meta->Bind(1, std::string_view(name));
    put_meta->Bind(2, value);
    SINK_RETURN_IF_ERROR(put_meta->RunAndReset());
  }
  if (finish) SINK_RETURN_IF_ERROR(finish(db));
  return db.Exec("COMMIT");
}

}  // namespace

Result<RecordSource> EventsTableSource(Db* db, int64_t after_seq, int64_t up_to_seq) {
  Result<Stmt> st = db->Prepare(
      "SELECT seq, received_at, server, event, kind, phase, session_id, utc_ms, event_id, dedup,"
      " body, platform FROM events WHERE seq > ? AND seq <= ? ORDER BY seq");
  if (!st.ok()) return st.status();
  auto s = std::make_shared<Stmt>(std::move(st.value()));
  s->Bind(1, after_seq);
  s->Bind(2, up_to_seq);
  return RecordSource([s](LogRecord* r) -> Result<bool> {
    Result<bool> row = s->Step();
    if (!row.ok() || !row.value()) {
      s->Reset();
      return row;
    }
    r->seq = s->Int(0);
    r->received_at = s->Int(1);
    r->server = s->OptText(2);
    r->event = std::string(s->Text(3));
    r->kind = s->OptText(4);
    r->phase = s->OptText(5);
    r->session_id = s->OptText(6);
    r->utc_ms = s->OptInt(7);
    r->event_id = s->OptInt(8);
    r->dedup = s->Int(9);
    r->body = std::string(s->Text(10));
    r->platform = s->OptText(11);
    return true;
  });
}

Result<SegmentMeta> WriteCompactSegment(const std::string& path, const RecordSource& next,
                                        const CompactOptions& options,
                                        const std::function<Status(Db&)>& finish) {
  const std::string tmp = path + ".tmp";
  std::remove(tmp.c_str());
  std::remove((tmp + "-journal").c_str());
  SegmentMeta meta;
  {
    Result<Db> db = Db::Open(tmp, /*create=*/true);
    if (!db.ok()) return db.status();
    // Written once by this connection alone, then renamed: a rollback
    // journal is enough, and the file is synced before it is renamed.
    Status st =
        db->Exec("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL; PRAGMA page_size=4096");
    if (st.ok()) st = Build(db.value(), next, options, finish, &meta);
    if (!st.ok()) {
      db = Db();
      std::remove(tmp.c_str());
      std::remove((tmp + "-journal").c_str());
      return st;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::IoError("cannot rename " + tmp + " to " + path);
  }
  return meta;
}

Result<CompactSegment> CompactSegment::Open(const std::string& path) {
  CompactSegment s;
  Result<Db> db = Db::Open(path, /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  s.db_ = std::move(db.value());
  Result<Stmt> meta = s.db_.Prepare("SELECT name, value FROM meta");
  if (!meta.ok()) return meta.status();
  for (;;) {
    Result<bool> row = meta->Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    const std::string_view name = meta->Text(0);
    const std::optional<int64_t> v = meta->OptInt(1);
    if (name == "first_seq") s.meta_.first_seq = v.value_or(0);
    if (name == "last_seq") s.meta_.last_seq = v.value_or(0);
    if (name == "count") s.meta_.count = v.value_or(0);
    if (name == "min_received_at") s.meta_.min_received_at = v.value_or(0);
    if (name == "max_received_at") s.meta_.max_received_at = v.value_or(0);
    if (name == "min_utc_ms") s.meta_.min_utc_ms = v;
    if (name == "max_utc_ms") s.meta_.max_utc_ms = v;
  }
  if (s.meta_.count == 0) return Status::Invalid(path + " is not a compact log segment");
  Result<Stmt> dict = s.db_.Prepare("SELECT bytes FROM dict LIMIT 1");
  if (!dict.ok()) return dict.status();
  Result<bool> has = dict->Step();
  if (!has.ok()) return has.status();
  if (has.value()) {
    Result<std::shared_ptr<const ZstdDict>> d =
        ZstdDict::Load(std::string(dict->Blob(0)), CompactOptions().level);
    if (!d.ok()) return d.status();
    s.dict_ = d.value();
  }
  SINK_RETURN_IF_ERROR(s.db_.Prepare(
      // From the block holding seq + 1 on, found through the primary key
      // (a reader resuming after a seq does not scan the blocks before it).
      "SELECT data FROM blocks WHERE first_seq >= coalesce((SELECT first_seq FROM blocks WHERE "
      "first_seq <= ?1 + 1 ORDER BY first_seq DESC LIMIT 1), 0) AND last_seq > ?1 "
      "ORDER BY first_seq",
      &s.blocks_after_));
  SINK_RETURN_IF_ERROR(
      s.db_.Prepare("SELECT data FROM blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1",
                    &s.block_of_));
  SINK_RETURN_IF_ERROR(
      s.db_.Prepare("SELECT seq FROM dedup WHERE utc_ms = ? AND hash = ?", &s.candidates_));
  SINK_RETURN_IF_ERROR(s.db_.Prepare(
      "SELECT id, after_seq, received_at, remote_addr, reason, item_index, server, body "
      "FROM rejected WHERE after_seq > ?1 ORDER BY id",
      &s.rejects_));
  return s;
}

Status CompactSegment::ForEachAfter(int64_t seq, const std::function<Status(const LogRecord&)>& fn,
                                    int64_t limit) {
  Stmt& s = blocks_after_;
  s.Bind(1, seq);
  Status st;
  while (limit > 0) {
    Result<bool> row = s.Step();
    if (!row.ok()) {
      st = row.status();
      break;
    }
    if (!row.value()) break;
    Result<std::vector<LogRecord>> rs = DecodeLogBlock(s.Blob(0), dict_.get());
    if (!rs.ok()) {
      st = rs.status();
      break;
    }
    for (const LogRecord& r : rs.value()) {
      if (r.seq <= seq) continue;
      if (limit-- <= 0) break;
      st = fn(r);
      if (!st.ok()) break;
    }
    if (!st.ok()) break;
  }
  s.Reset();
  return st;
}

Status CompactSegment::ForEachReceivedSince(int64_t received_at, const std::string& pattern,
                                            const std::function<Status(const LogRecord&)>& fn) {
  if (meta_.max_received_at < received_at) return Status::Ok();
  return ForEachAfter(0, [&](const LogRecord& r) {
    if (r.received_at < received_at || sqlite3_strglob(pattern.c_str(), r.event.c_str()) != 0) {
      return Status::Ok();
    }
    return fn(r);
  });
}

Status CompactSegment::ForEachRejectAfter(int64_t after_seq,
                                          const std::function<Status(const LogReject&)>& fn) {
  Stmt& q = rejects_;
  q.Bind(1, after_seq);
  LogReject r;
  Status st;
  for (;;) {
    Result<bool> row = q.Step();
    if (!row.ok()) {
      st = row.status();
      break;
    }
    if (!row.value()) break;
    ReadLogReject(q, &r);
    st = fn(r);
    if (!st.ok()) break;
  }
  q.Reset();
  return st;
}

Result<int64_t> CompactSegment::RejectCount() {
  return db_.QueryInt("SELECT count(*) FROM rejected");
}

Result<std::optional<LogRecord>> CompactSegment::Get(int64_t seq) {
  if (!cached_.empty() && cached_.front().seq <= seq && seq <= cached_.back().seq) {
    for (const LogRecord& r : cached_) {
      if (r.seq == seq) return std::optional<LogRecord>(r);
    }
    return std::optional<LogRecord>();
  }
  Stmt& s = block_of_;
  s.Bind(1, seq);
  Result<bool> row = s.Step();
  std::optional<LogRecord> found;
  Status st;
  if (!row.ok()) {
    st = row.status();
  } else if (row.value()) {
    Result<std::vector<LogRecord>> rs = DecodeLogBlock(s.Blob(0), dict_.get());
    if (!rs.ok()) {
      st = rs.status();
    } else {
      cached_ = std::move(rs.value());
      for (const LogRecord& r : cached_) {
        if (r.seq == seq) found = r;
      }
    }
  }
  s.Reset();
  if (!st.ok()) return st;
  return found;
}

Result<std::vector<int64_t>> CompactSegment::Candidates(std::optional<int64_t> utc_ms,
                                                        int64_t dedup) {
  Stmt& s = candidates_;
  s.Bind(1, utc_ms.value_or(kNoUtc));
  s.Bind(2, Hash32(dedup));
  std::vector<int64_t> seqs;
  for (;;) {
    Result<bool> row = s.Step();
    if (!row.ok()) {
      s.Reset();
      return row.status();
    }
    if (!row.value()) break;
    seqs.push_back(s.Int(0));
  }
  s.Reset();
  return seqs;
}

}  // namespace sink
