#include "store/segment_log.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

#include "store/compact_segment.h"

namespace sink {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "seg-";
constexpr std::string_view kSuffix = ".db";
constexpr std::string_view kCompactSuffix = ".zdb";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int64_t ModifiedMs(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

void Widen(std::optional<int64_t>* lo, std::optional<int64_t>* hi, int64_t v) {
  if (!*lo || v < **lo) *lo = v;
  if (!*hi || v > **hi) *hi = v;
}

}  // namespace

std::string SegmentDir(const std::string& db_path) { return db_path + ".events"; }

std::string SegmentPath(const std::string& dir, int64_t id) {
  char name[32];
  std::snprintf(name, sizeof name, "seg-%08lld.db", static_cast<long long>(id));
  return dir + "/" + name;
}

std::string CompactSegmentPath(const std::string& dir, int64_t id) {
  char name[32];
  std::snprintf(name, sizeof name, "seg-%08lld.zdb", static_cast<long long>(id));
  return dir + "/" + name;
}

Result<std::vector<SegmentFile>> ListSegmentFiles(const std::string& dir) {
  std::map<int64_t, SegmentFile> found;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return std::vector<SegmentFile>();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool compact = EndsWith(name, kCompactSuffix);
    const std::string_view suffix = compact ? kCompactSuffix : kSuffix;
    if (name.size() <= kPrefix.size() + suffix.size() || name.rfind(kPrefix, 0) != 0 ||
        !EndsWith(name, suffix)) {
      continue;
    }
    const std::string digits =
        name.substr(kPrefix.size(), name.size() - kPrefix.size() - suffix.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    SegmentFile& f = found[std::stoll(digits)];
    f.id = std::stoll(digits);
    (compact ? f.compact : f.raw) = true;
  }
  if (ec) return Status::IoError("cannot list " + dir + ": " + ec.message());
  std::vector<SegmentFile> out;
  out.reserve(found.size());
  for (const auto& [id, f] : found) out.push_back(f);
  return out;
}

Result<std::vector<int64_t>> ListSegments(const std::string& dir) {
  Result<std::vector<SegmentFile>> files = ListSegmentFiles(dir);
  if (!files.ok()) return files.status();
  std::vector<int64_t> ids;
  ids.reserve(files->size());
  for (const SegmentFile& f : files.value()) ids.push_back(f.id);
  return ids;
}

int64_t SqliteFileBytes(const std::string& path) {
  int64_t total = 0;
  for (const std::string& p : {path, path + "-wal"}) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0) total += static_cast<int64_t>(st.st_size);
  }
  return total;
}

Status RemoveSqliteFiles(const std::string& path) {
  std::error_code ec;
  // The database file first: without it the others are leftovers.
  fs::remove(path, ec);
  if (ec) return Status::IoError("cannot delete " + path + ": " + ec.message());
  for (const char* extra : {"-wal", "-shm", "-journal"}) fs::remove(path + extra, ec);
  return Status::Ok();
}

Status RemoveSegmentFiles(const std::string& path) {
  SINK_RETURN_IF_ERROR(RemoveSqliteFiles(path));
  if (!EndsWith(path, kSuffix)) return Status::Ok();
  return RemoveSqliteFiles(path.substr(0, path.size() - kSuffix.size()) +
                           std::string(kCompactSuffix));
}

Result<SegmentInfo> ReadSegmentInfo(const std::string& path, int64_t id) {
  if (EndsWith(path, kCompactSuffix)) {
    Result<CompactSegment> c = CompactSegment::Open(path);
    if (!c.ok()) return c.status();
    Result<int64_t> rejected = c->RejectCount();
    if (!rejected.ok()) return rejected.status();
    SegmentInfo s;
    s.id = id;
    s.compact = true;
    s.first_seq = c->meta().first_seq;
    s.last_seq = c->meta().last_seq;
    s.events = c->meta().count;
    s.rejected = rejected.value();
    s.min_received_at = c->meta().min_received_at;
    s.max_received_at = c->meta().max_received_at;
    s.min_utc_ms = c->meta().min_utc_ms;
    s.max_utc_ms = c->meta().max_utc_ms;
    s.bytes = SqliteFileBytes(path);
    return s;
  }
  Result<Db> db = Db::Open(path, /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  SINK_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout=5000; BEGIN"));
  SegmentInfo s;
  s.id = id;
  // Seqs are consecutive inside a segment; arrival times follow them.
  Result<Stmt> q = db->Prepare(
      "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events), "
      "(SELECT received_at FROM events ORDER BY seq LIMIT 1), "
      "(SELECT received_at FROM events ORDER BY seq DESC LIMIT 1), "
      "(SELECT min(utc_ms) FROM events), (SELECT max(utc_ms) FROM events), "
      "(SELECT count(*) FROM rejected)");
  if (!q.ok()) return q.status();
  Result<bool> row = q->Step();
  if (!row.ok()) return row.status();
  if (!q->IsNull(0)) {
    s.first_seq = q->Int(0);
    s.last_seq = q->Int(1);
    s.events = s.last_seq - s.first_seq + 1;
    s.min_received_at = q->Int(2);
    s.max_received_at = q->Int(3);
    s.min_utc_ms = q->OptInt(4);
    s.max_utc_ms = q->OptInt(5);
  }
  s.rejected = q->Int(6);
  q->Reset();
  (void)db->Exec("COMMIT");  // a read transaction: nothing to lose
  s.bytes = SqliteFileBytes(path);
  return s;
}

std::vector<SegmentInfo> SegmentCatalog::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SegmentInfo> out;
  out.reserve(segments_.size());
  for (const auto& [id, s] : segments_) out.push_back(s);
  return out;
}

std::optional<SegmentInfo> SegmentCatalog::Get(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = segments_.find(id);
  if (it == segments_.end()) return std::nullopt;
  return it->second;
}

void SegmentCatalog::Put(const SegmentInfo& s) {
  std::lock_guard<std::mutex> lock(mu_);
  segments_[s.id] = s;
  ++version_;
}

bool SegmentCatalog::Replace(const SegmentInfo& s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = segments_.find(s.id);
  if (it == segments_.end()) return false;
  it->second = s;
  ++version_;
  return true;
}

void SegmentCatalog::Erase(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  segments_.erase(id);
  ++version_;
}

int64_t SegmentCatalog::Bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t total = 0;
  for (const auto& [id, s] : segments_) total += s.bytes;
  return total;
}

uint64_t SegmentCatalog::version() const { return version_.load(); }

// A closed segment's read connection: the raw form's, with its EventLog,
// or the compact form's.
struct SegmentLog::Closed {
  bool compact = false;
  Db db;
  EventLog log;
  std::optional<CompactSegment> segment;

  ~Closed() { log = EventLog(); }  // statements before their connection
};

SegmentLog::SegmentLog(const SegmentLogOptions& o, SegmentCatalog* catalog)
    : o_(o), dir_(SegmentDir(o.db_path)), catalog_(catalog) {}

SegmentLog::~SegmentLog() {
  // Statements before their connections.
  open_log_ = EventLog();
  closed_.clear();
}

Result<std::unique_ptr<SegmentLog>> SegmentLog::Open(const SegmentLogOptions& o,
                                                     SegmentCatalog* catalog) {
  auto log = std::unique_ptr<SegmentLog>(new SegmentLog(o, catalog));
  std::error_code ec;
  fs::create_directories(log->dir_, ec);
  if (ec) return Status::IoError("cannot create " + log->dir_ + ": " + ec.message());
  // A segment whose creation a crash interrupted holds nothing; nor does a
  // compact segment still under its temporary name (the raw form is whole).
  for (fs::directory_iterator it(log->dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (EndsWith(name, ".tmp") || EndsWith(name, ".tmp-journal")) fs::remove(it->path(), ec);
  }
  Result<std::vector<SegmentFile>> files = ListSegmentFiles(log->dir_);
  if (!files.ok()) return files.status();
  for (size_t i = 0; i < files->size(); ++i) {
    SegmentFile& f = files.value()[i];
    const std::string raw = SegmentPath(log->dir_, f.id);
    const std::string compact = CompactSegmentPath(log->dir_, f.id);
    const bool last = i + 1 == files->size();
    Result<SegmentInfo> info = Status::Internal("no segment");
    if (f.compact) {
      // A crash during compaction: the compact form was renamed into place
      // whole and synced before the raw one is deleted, so it wins when it
      // opens and holds the raw form's events; otherwise the raw form does.
      info = ReadSegmentInfo(compact, f.id);
      if (info.ok() && f.raw) {
        Result<SegmentInfo> r = ReadSegmentInfo(raw, f.id);
        if (!r.ok() || (r->first_seq == info->first_seq && r->last_seq == info->last_seq &&
                        r->events == info->events && r->rejected == info->rejected)) {
          spdlog::warn("store: log segment {} is in both forms; keeping the compact one", f.id);
          SINK_RETURN_IF_ERROR(RemoveSqliteFiles(raw));
          f.raw = false;
        } else {
          info = Status::Invalid("the compact form does not hold the raw form's events");
        }
      }
      if (!info.ok()) {
        if (!f.raw) {
          return Status::IoError("cannot read log segment " + compact + ": " +
                                 info.status().message());
        }
        spdlog::warn("store: deleting {}, which cannot replace the raw log segment: {}", compact,
                     info.status().message());
        SINK_RETURN_IF_ERROR(RemoveSqliteFiles(compact));
        f.compact = false;
      }
    }
    if (!f.compact) info = ReadSegmentInfo(raw, f.id);
    if (!info.ok()) {
      return Status::IoError("cannot read log segment " + f.Path(log->dir_) + ": " +
                             info.status().message());
    }
    // A compact segment is never the open one.
    info->closed = !last || f.compact;
    if (info->closed) {
      auto known = o.closed_at.find(f.id);
      info->closed_at = known != o.closed_at.end() ? known->second : ModifiedMs(f.Path(log->dir_));
    }
    catalog->Put(info.value());
    log->last_seq_ = std::max(log->last_seq_, info->last_seq);
  }
  if (files->empty()) {
    SINK_RETURN_IF_ERROR(log->OpenSegment(1, /*create=*/true));
  } else if (files->back().compact) {
    // Never appended to: the next one is opened.
    SINK_RETURN_IF_ERROR(log->OpenSegment(files->back().id + 1, /*create=*/true));
  } else {
    SINK_RETURN_IF_ERROR(log->OpenSegment(files->back().id, /*create=*/false));
  }
  return log;
}

Status SegmentLog::OpenSegment(int64_t id, bool create) {
  const std::string path = SegmentPath(dir_, id);
  if (create) {
    // Built under a temporary name and renamed: a reader listing the
    // directory never finds a segment without its tables.
    const std::string tmp = path + ".tmp";
    {
      Result<Db> db = Db::Open(tmp, /*create=*/true);
      if (!db.ok()) return db.status();
      SINK_RETURN_IF_ERROR(db->Exec("BEGIN"));
      Status st = db->Exec(SegmentSchemaSql());
      if (st.ok()) {
        st = db->Exec("INSERT INTO meta(name, value) VALUES ('base_seq', " +
                      std::to_string(last_seq_) + "); PRAGMA user_version = 1");
      }
      if (st.ok()) st = db->Exec("COMMIT");
      if (!st.ok()) {
        std::error_code ec;
        fs::remove(tmp, ec);
        return Status::IoError("cannot create log segment " + path + ": " + st.message());
      }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) return Status::IoError("cannot create log segment " + path + ": " + ec.message());
  }
  Result<Db> db = Db::Open(path, /*create=*/false);
  if (!db.ok()) return db.status();
  open_log_ = EventLog();
  open_db_ = std::move(db.value());
  {
    Result<Stmt> jm = open_db_.Prepare("PRAGMA journal_mode=WAL");
    if (!jm.ok()) return jm.status();
    Result<bool> row = jm->Step();
    if (!row.ok()) return row.status();
    if (!row.value() || jm->Text(0) != "wal") {
      return Status::IoError("cannot switch " + path + " to WAL mode");
    }
  }
  SINK_RETURN_IF_ERROR(open_db_.Exec(
      std::string("PRAGMA synchronous=") + (o_.synchronous_full ? "FULL" : "NORMAL") +
      "; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0; PRAGMA busy_timeout=" +
      std::to_string(o_.busy_timeout_ms) + "; PRAGMA cache_size=-" +
      std::to_string(std::max<int64_t>(o_.cache_bytes / 1024, 2048)) +
      "; PRAGMA journal_size_limit=" + std::to_string(o_.wal_limit_pages * 4096) + ";"));
  sqlite3_wal_hook(open_db_.get(), &SegmentLog::OnWal, this);
  wal_pages_ = checkpointed_ = 0;
  if (o_.max_file_bytes > 0) {
    Result<int64_t> page = open_db_.QueryInt("PRAGMA page_size");
    if (!page.ok()) return page.status();
    const int64_t pages = std::max<int64_t>(o_.max_file_bytes / page.value(), 1);
    SINK_RETURN_IF_ERROR(open_db_.Exec("PRAGMA max_page_count=" + std::to_string(pages)));
  }
  Result<int64_t> base =
      open_db_.QueryInt("SELECT coalesce((SELECT value FROM meta WHERE name = 'base_seq'), 0)");
  if (!base.ok()) return base.status();
  last_seq_ = std::max(last_seq_, base.value());
  Result<EventLog> log = EventLog::Open(&open_db_, /*writable=*/true);
  if (!log.ok()) return log.status();
  open_log_ = std::move(log.value());
  Result<SegmentInfo> info = ReadSegmentInfo(path, id);
  if (!info.ok()) return info.status();
  open_ = info.value();
  // Its age counts from now when it already holds events (a restart).
  first_event_at_ = open_.empty() ? 0 : -1;
  catalog_->Put(open_);
  next_seq_ = last_seq_ + 1;
  return Status::Ok();
}

Status SegmentLog::CloseOpen(int64_t now_ms) {
  // Everything into the file: a closed segment is one file that never changes.
  const int rc = sqlite3_wal_checkpoint_v2(open_db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                           nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return Status::IoError(std::string("closing log segment: checkpoint: ") +
                           sqlite3_errmsg(open_db_.get()));
  }
  SegmentInfo closed = open_;
  closed.closed = true;
  closed.closed_at = now_ms;
  closed.bytes = SqliteFileBytes(SegmentPath(dir_, closed.id));
  const int64_t next = open_.id + 1;
  SINK_RETURN_IF_ERROR(OpenSegment(next, /*create=*/true));
  catalog_->Put(closed);
  return Status::Ok();
}

Status SegmentLog::MaybeRotate(int64_t now_ms) {
  if (open_.empty()) return Status::Ok();
  const bool big = SqliteFileBytes(SegmentPath(dir_, open_.id)) >= o_.segment_bytes;
  if (first_event_at_ < 0) first_event_at_ = now_ms;
  const bool old = first_event_at_ > 0 && now_ms - first_event_at_ >= o_.segment_ms;
  if (!big && !old) return Status::Ok();
  return CloseOpen(now_ms);
}

Status SegmentLog::Rotate(int64_t now_ms) {
  if (open_.empty()) return Status::Ok();
  return CloseOpen(now_ms);
}

Status SegmentLog::Begin(int64_t now_ms) {
  now_ms_ = now_ms;
  pending_ = open_;
  next_seq_ = last_seq_ + 1;
  return open_db_.Exec("BEGIN IMMEDIATE");
}

Result<SegmentLog::Closed*> SegmentLog::ClosedSegment(const SegmentInfo& s) {
  auto it = closed_.find(s.id);
  // A connection to the form the segment is no longer in is dropped (the
  // compactor deleted that file: its space comes back when it is closed).
  if (it != closed_.end() && it->second->compact == s.compact) return it->second.get();
  if (it != closed_.end()) closed_.erase(it);
  auto c = std::make_unique<Closed>();
  c->compact = s.compact;
  if (s.compact) {
    Result<CompactSegment> seg = CompactSegment::Open(CompactSegmentPath(dir_, s.id));
    if (!seg.ok()) return seg.status();
    c->segment.emplace(std::move(seg.value()));
  } else {
    Result<Db> db = Db::Open(SegmentPath(dir_, s.id), /*create=*/false, /*read_only=*/true);
    if (!db.ok()) return db.status();
    c->db = std::move(db.value());
    SINK_RETURN_IF_ERROR(c->db.Exec("PRAGMA busy_timeout=5000"));
    Result<EventLog> log = EventLog::Open(&c->db, /*writable=*/false);
    if (!log.ok()) return log.status();
    c->log = std::move(log.value());
  }
  Closed* raw = c.get();
  closed_[s.id] = std::move(c);
  return raw;
}

namespace {

// Whether the compact segment holds an event with `e`'s dedup key: its
// candidates by (utc_ms, 32 bits of the hash), compared field by field.
Result<bool> DuplicateInCompact(CompactSegment& seg, const Event& e, int64_t dedup) {
  Result<std::vector<int64_t>> seqs = seg.Candidates(e.utc_ms, dedup);
  if (!seqs.ok()) return seqs.status();
  const DedupKey key = DedupKeyOf(e);
  for (int64_t seq : seqs.value()) {
    Result<std::optional<LogRecord>> r = seg.Get(seq);
    if (!r.ok()) return r.status();
    if (!r.value()) continue;
    const LogRecord& got = *r.value();
    if (DedupKey{got.server, got.event, got.session_id, got.utc_ms, got.event_id} == key) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<bool> SegmentLog::DuplicateInClosed(const Event& e, int64_t dedup, int64_t now_ms) {
  // Newest first: a resend is most likely of something recent.
  const uint64_t version = catalog_->version();
  if (version != snapshot_version_) {
    snapshot_ = catalog_->Snapshot();
    snapshot_version_ = version;
  }
  const std::vector<SegmentInfo>& segments = snapshot_;
  bool previous = true;  // the segment closed before the open one
  std::map<int64_t, bool> wanted;
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    const SegmentInfo& s = *it;
    if (!s.closed || s.events == 0) continue;
    const bool in_horizon = now_ms - s.closed_at <= o_.dedup_horizon_ms;
    const bool in_range =
        e.utc_ms && s.min_utc_ms && *e.utc_ms >= *s.min_utc_ms && *e.utc_ms <= *s.max_utc_ms;
    const bool look = previous || (in_horizon && in_range);
    previous = false;
    wanted[s.id] = in_horizon;
    if (!look) continue;
    Result<Closed*> c = ClosedSegment(s);
    if (!c.ok()) {
      // Deleted by retention meanwhile: its events are past the horizon.
      const std::optional<SegmentInfo> now = catalog_->Get(s.id);
      if (!now) continue;
      // Compacted meanwhile: the catalog says so now.
      if (now->compact != s.compact) c = ClosedSegment(now.value());
      if (!c.ok()) return c.status();
    }
    Result<bool> dup = c.value()->compact ? DuplicateInCompact(*c.value()->segment, e, dedup)
                                          : c.value()->log.IsDuplicate(e, dedup);
    if (!dup.ok() || dup.value()) return dup;
  }
  // Connections to segments gone or past the horizon are closed.
  for (auto it = closed_.begin(); it != closed_.end();) {
    auto w = wanted.find(it->first);
    it = (w == wanted.end() || !w->second) ? closed_.erase(it) : std::next(it);
  }
  return false;
}

Result<std::optional<int64_t>> SegmentLog::Append(const Event& e, int64_t received_at,
                                                  int64_t now_ms) {
  const int64_t dedup = DedupHash(e);
  Result<bool> dup = open_log_.IsDuplicate(e, dedup);
  if (dup.ok() && !dup.value()) dup = DuplicateInClosed(e, dedup, now_ms);
  if (!dup.ok()) return dup.status();
  if (dup.value()) return std::optional<int64_t>();
  const int64_t seq = next_seq_;
  SINK_RETURN_IF_ERROR(open_log_.Append(e, seq, dedup, received_at));
  ++next_seq_;
  if (pending_.events == 0) {
    pending_.first_seq = seq;
    pending_.min_received_at = received_at;
  }
  pending_.last_seq = seq;
  ++pending_.events;
  pending_.min_received_at = std::min(pending_.min_received_at, received_at);
  pending_.max_received_at = std::max(pending_.max_received_at, received_at);
  if (e.utc_ms) Widen(&pending_.min_utc_ms, &pending_.max_utc_ms, *e.utc_ms);
  return std::optional<int64_t>(seq);
}

Result<int64_t> SegmentLog::AddReject(const Reject& r, int64_t received_at,
                                      std::string_view remote_addr) {
  Result<int64_t> rowid = open_log_.AddReject(r, next_seq_ - 1, received_at, remote_addr);
  if (rowid.ok()) ++pending_.rejected;
  return rowid;
}

Status SegmentLog::Commit() {
  SINK_RETURN_IF_ERROR(open_db_.Exec("COMMIT"));
  if (first_event_at_ == 0 && !pending_.empty()) first_event_at_ = now_ms_;
  open_ = pending_;
  last_seq_ = next_seq_ - 1;
  if (wal_pages_ > o_.wal_limit_pages) {
    // Readers held the PASSIVE copies back: wait for them once.
    const int rc = sqlite3_wal_checkpoint_v2(open_db_.get(), nullptr, SQLITE_CHECKPOINT_RESTART,
                                             nullptr, nullptr);
    if (rc == SQLITE_OK) checkpointed_ = 0;
  }
  open_.bytes = SqliteFileBytes(SegmentPath(dir_, open_.id));
  catalog_->Put(open_);
  return Status::Ok();
}

void SegmentLog::Rollback() {
  if (!sqlite3_get_autocommit(open_db_.get())) (void)open_db_.Exec("ROLLBACK");
  pending_ = open_;
  next_seq_ = last_seq_ + 1;
}

Status SegmentLog::Checkpoint(int64_t min_pages) {
  if (wal_pages_ - checkpointed_ < std::max<int64_t>(min_pages, 1)) return Status::Ok();
  int log = 0, done = 0;
  const int rc =
      sqlite3_wal_checkpoint_v2(open_db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    return Status::IoError(std::string("checkpoint: ") + sqlite3_errmsg(open_db_.get()));
  }
  ++checkpoints_;
  if (rc == SQLITE_OK && log >= 0) {
    wal_pages_ = log;
    checkpointed_ = done;
  }
  return Status::Ok();
}

int SegmentLog::OnWal(void* self, sqlite3*, const char*, int pages) {
  auto* log = static_cast<SegmentLog*>(self);
  if (pages < log->wal_pages_) log->checkpointed_ = 0;  // the WAL started over
  log->wal_pages_ = pages;
  return SQLITE_OK;
}

}  // namespace sink
