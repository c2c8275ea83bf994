#include "store/segment_log.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

namespace sink {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "seg-";
constexpr std::string_view kSuffix = ".db";

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

Result<std::vector<int64_t>> ListSegments(const std::string& dir) {
  std::vector<int64_t> ids;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return ids;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= kPrefix.size() + kSuffix.size() || name.rfind(kPrefix, 0) != 0 ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    const std::string digits =
        name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    ids.push_back(std::stoll(digits));
  }
  if (ec) return Status::IoError("cannot list " + dir + ": " + ec.message());
  std::sort(ids.begin(), ids.end());
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

Status RemoveSegmentFiles(const std::string& path) {
  std::error_code ec;
  // The database file first: without it the others are leftovers.
  fs::remove(path, ec);
  if (ec) return Status::IoError("cannot delete " + path + ": " + ec.message());
  fs::remove(path + "-wal", ec);
  fs::remove(path + "-shm", ec);
  return Status::Ok();
}

Result<SegmentInfo> ReadSegmentInfo(const std::string& path, int64_t id) {
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

struct SegmentLog::Closed {
  Db db;
  EventLog log;
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
  // A segment whose creation a crash interrupted holds nothing.
  for (fs::directory_iterator it(log->dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      fs::remove(it->path(), ec);
    }
  }
  Result<std::vector<int64_t>> ids = ListSegments(log->dir_);
  if (!ids.ok()) return ids.status();
  for (size_t i = 0; i < ids->size(); ++i) {
    const int64_t id = ids.value()[i];
    const std::string path = SegmentPath(log->dir_, id);
    const bool last = i + 1 == ids->size();
    Result<SegmentInfo> info = ReadSegmentInfo(path, id);
    if (!info.ok()) {
      return Status::IoError("cannot read log segment " + path + ": " + info.status().message());
    }
    info->closed = !last;
    if (!last) {
      auto known = o.closed_at.find(id);
      info->closed_at = known != o.closed_at.end() ? known->second : ModifiedMs(path);
    }
    catalog->Put(info.value());
    log->last_seq_ = std::max(log->last_seq_, info->last_seq);
  }
  if (ids->empty()) {
    SINK_RETURN_IF_ERROR(log->OpenSegment(1, /*create=*/true));
  } else {
    SINK_RETURN_IF_ERROR(log->OpenSegment(ids->back(), /*create=*/false));
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

Result<SegmentLog::Closed*> SegmentLog::ClosedSegment(int64_t id) {
  auto it = closed_.find(id);
  if (it != closed_.end()) return it->second.get();
  auto c = std::make_unique<Closed>();
  Result<Db> db = Db::Open(SegmentPath(dir_, id), /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  c->db = std::move(db.value());
  SINK_RETURN_IF_ERROR(c->db.Exec("PRAGMA busy_timeout=5000"));
  Result<EventLog> log = EventLog::Open(&c->db, /*writable=*/false);
  if (!log.ok()) return log.status();
  c->log = std::move(log.value());
  Closed* raw = c.get();
  closed_[id] = std::move(c);
  return raw;
}

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
    Result<Closed*> c = ClosedSegment(s.id);
    if (!c.ok()) {
      // Deleted by retention meanwhile: its events are past the horizon.
      if (!catalog_->Get(s.id)) continue;
      return c.status();
    }
    Result<bool> dup = c.value()->log.IsDuplicate(e, dedup);
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
