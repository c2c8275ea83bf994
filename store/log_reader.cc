#include "store/log_reader.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "store/compact_segment.h"
#include "store/segment_log.h"

namespace sink {

namespace {

constexpr const char* kColumns =
    "SELECT seq, received_at, server, event, kind, phase, session_id, utc_ms, event_id, dedup, "
    "body, platform FROM events ";

void ReadRecord(const Stmt& s, LogRecord* r) {
  r->seq = s.Int(0);
  r->received_at = s.Int(1);
  r->server = s.OptText(2);
  r->event = std::string(s.Text(3));
  r->kind = s.OptText(4);
  r->phase = s.OptText(5);
  r->session_id = s.OptText(6);
  r->utc_ms = s.OptInt(7);
  r->event_id = s.OptInt(8);
  r->dedup = s.Int(9);
  r->body = std::string(s.Text(10));
  r->platform = s.OptText(11);
}

// Steps `q` to the end, calling `fn` on each row; resets it either way.
template <typename Fn>
Status EachRow(Stmt& q, Fn&& fn) {
  Status st;
  for (;;) {
    Result<bool> row = q.Step();
    if (!row.ok()) {
      st = row.status();
      break;
    }
    if (!row.value()) break;
    st = fn(q);
    if (!st.ok()) break;
  }
  q.Reset();
  return st;
}

}  // namespace

void ReadLogReject(const Stmt& q, LogReject* r) {
  r->rowid = q.Int(0);
  r->after_seq = q.Int(1);
  r->received_at = q.Int(2);
  r->remote_addr = q.OptText(3);
  r->reason = std::string(q.Text(4));
  r->item_index = q.OptInt(5);
  r->server = q.OptText(6);
  r->body = std::string(q.Blob(7));
}

struct LogReader::Segment {
  int64_t id = 0;
  bool compact = false;  // the form listed last
  std::string path;
  bool opened = false;
  bool ranged = false;  // first_seq/last_seq were read (final for a closed segment)
  // The raw form's connection …
  Db db;
  Stmt after, one, since, rejects, range;
  // … or the compact form.
  std::optional<CompactSegment> cs;
  int64_t first_seq = 0, last_seq = 0;  // as of the last look (0, 0: empty)

  void Close() {
    after = Stmt();
    one = Stmt();
    since = Stmt();
    rejects = Stmt();
    range = Stmt();
    db = Db();
    cs.reset();
    opened = false;
  }
};

LogReader::LogReader(std::string dir) : dir_(std::move(dir)) {}
LogReader::LogReader(LogReader&&) noexcept = default;
LogReader& LogReader::operator=(LogReader&&) noexcept = default;
LogReader::~LogReader() = default;

Result<LogReader> LogReader::Open(const std::string& db_path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db_path, ec)) {
    return Status::IoError("cannot open database " + db_path + ": no such file");
  }
  const std::string dir = SegmentDir(db_path);
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::IoError(db_path + " has no event log beside it (" + dir +
                           "): not a sessionsink database, or one not yet upgraded (start "
                           "sessionsink serve on it once)");
  }
  LogReader r(dir);
  SINK_RETURN_IF_ERROR(r.Refresh());
  return r;
}

Status LogReader::Refresh() {
  Result<std::vector<SegmentFile>> files = ListSegmentFiles(dir_);
  if (!files.ok()) return files.status();
  std::vector<std::unique_ptr<Segment>> next;
  size_t j = 0;
  for (const SegmentFile& f : files.value()) {
    while (j < segments_.size() && segments_[j]->id < f.id) ++j;
    if (j < segments_.size() && segments_[j]->id == f.id) {
      std::unique_ptr<Segment>& s = segments_[j++];
      if (s->compact != f.compact) {
        // Compacted since: the raw file is gone, its connection goes too
        // (the range stays: the same events).
        s->Close();
        s->compact = f.compact;
        s->path = f.Path(dir_);
      }
      next.push_back(std::move(s));
      continue;
    }
    auto s = std::make_unique<Segment>();
    s->id = f.id;
    s->compact = f.compact;
    s->path = f.Path(dir_);
    next.push_back(std::move(s));
  }
  segments_ = std::move(next);
  return Status::Ok();
}

void LogReader::Release() {
  // A closed segment's range never changes: its connection is let go so
  // that a file the compactor or retention deleted gives its space back.
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    if (segments_[i]->opened && segments_[i]->ranged) segments_[i]->Close();
  }
}

Status LogReader::OpenSegment(Segment* s) {
  if (s->compact) {
    Result<CompactSegment> cs = CompactSegment::Open(s->path);
    if (!cs.ok()) return cs.status();
    s->cs.emplace(std::move(cs.value()));
    s->opened = true;
    return Status::Ok();
  }
  Result<Db> db = Db::Open(s->path, /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  s->db = std::move(db.value());
  SINK_RETURN_IF_ERROR(s->db.Exec("PRAGMA busy_timeout=5000"));
  const std::string cols = kColumns;
  SINK_RETURN_IF_ERROR(s->db.Prepare(cols + "WHERE seq > ?1 ORDER BY seq LIMIT ?2", &s->after));
  SINK_RETURN_IF_ERROR(s->db.Prepare(cols + "WHERE seq = ?1", &s->one));
  SINK_RETURN_IF_ERROR(s->db.Prepare(cols + "WHERE received_at >= ?1 AND event GLOB ?2 "
                                            "ORDER BY seq",
                                     &s->since));
  SINK_RETURN_IF_ERROR(s->db.Prepare(
      "SELECT id, after_seq, received_at, remote_addr, reason, item_index, server, body "
      "FROM rejected WHERE after_seq > ?1 ORDER BY id",
      &s->rejects));
  SINK_RETURN_IF_ERROR(
      s->db.Prepare("SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events", &s->range));
  s->opened = true;
  return Status::Ok();
}

Result<LogReader::Segment*> LogReader::Use(Segment* s) {
  // Only the newest segment grows: an older one's range is read once.
  const bool newest = !segments_.empty() && segments_.back().get() == s;
  if (s->opened && s->ranged && !newest) return s;
  if (!s->opened) {
    Status st = OpenSegment(s);
    if (!st.ok() && !s->compact) {
      // Compacted between the listing and now: the compact form is there.
      std::error_code ec;
      const std::string compact = CompactSegmentPath(dir_, s->id);
      if (std::filesystem::exists(compact, ec)) {
        s->Close();
        s->compact = true;
        s->path = compact;
        st = OpenSegment(s);
      }
    }
    if (!st.ok()) {
      s->Close();
      return st;
    }
  }
  if (s->compact) {
    s->first_seq = s->cs->meta().first_seq;
    s->last_seq = s->cs->meta().last_seq;
  } else {
    Status st = EachRow(s->range, [&](const Stmt& q) {
      s->first_seq = q.Int(0);
      s->last_seq = q.Int(1);
      return Status::Ok();
    });
    if (!st.ok()) return st;
  }
  s->ranged = true;
  return s;
}

bool LogReader::Gone(const Segment* s) const {
  std::error_code ec;
  return !std::filesystem::exists(SegmentPath(dir_, s->id), ec) &&
         !std::filesystem::exists(CompactSegmentPath(dir_, s->id), ec);
}

Status LogReader::ForEachAfter(int64_t seq, const std::function<Status(const LogRecord&)>& fn,
                               int64_t limit) {
  SINK_RETURN_IF_ERROR(Refresh());
  LogRecord r;
  for (size_t i = 0; i < segments_.size() && limit > 0; ++i) {
    Segment* s = segments_[i].get();
    // A closed segment whose events all lie at or before `seq` is skipped
    // without a look once it was seen (its range no longer changes).
    if (s->ranged && i + 1 < segments_.size() && s->last_seq <= seq) continue;
    Result<Segment*> u = Use(s);
    if (!u.ok()) {
      if (Gone(s)) continue;  // deleted by retention
      return u.status();
    }
    if (s->last_seq <= seq) continue;
    if (s->compact) {
      SINK_RETURN_IF_ERROR(s->cs->ForEachAfter(
          seq,
          [&](const LogRecord& rec) {
            seq = rec.seq;
            --limit;
            return fn(rec);
          },
          limit));
      continue;
    }
    s->after.Bind(1, seq);
    s->after.Bind(2, limit);
    Status st = EachRow(s->after, [&](const Stmt& q) {
      ReadRecord(q, &r);
      seq = r.seq;
      --limit;
      return fn(r);
    });
    SINK_RETURN_IF_ERROR(st);
  }
  Release();
  return Status::Ok();
}

Result<std::optional<LogRecord>> LogReader::Get(int64_t seq) {
  // Segments are in seq order: the one holding `seq` is the last whose first
  // seq is at or below it (ranges are looked at as needed).
  for (int pass = 0; pass < 2; ++pass) {
    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
      Segment* s = it->get();
      Result<Segment*> u = Use(s);
      if (!u.ok()) continue;  // deleted by retention
      if (s->first_seq == 0 || s->first_seq > seq) continue;
      if (s->last_seq < seq) break;
      if (s->compact) return s->cs->Get(seq);
      s->one.Bind(1, seq);
      std::optional<LogRecord> out;
      Status st = EachRow(s->one, [&](const Stmt& q) {
        out.emplace();
        ReadRecord(q, &*out);
        return Status::Ok();
      });
      if (!st.ok()) return st;
      return out;
    }
    if (pass == 0) SINK_RETURN_IF_ERROR(Refresh());
  }
  return std::optional<LogRecord>();
}

Status LogReader::ForEachReceivedSince(int64_t received_at, const std::string& pattern,
                                       const std::function<Status(const LogRecord&)>& fn) {
  SINK_RETURN_IF_ERROR(Refresh());
  LogRecord r;
  for (auto& seg : segments_) {
    Result<Segment*> u = Use(seg.get());
    if (!u.ok()) continue;  // deleted by retention
    Segment* s = u.value();
    if (s->compact) {
      SINK_RETURN_IF_ERROR(s->cs->ForEachReceivedSince(received_at, pattern, fn));
      continue;
    }
    s->since.Bind(1, received_at);
    s->since.Bind(2, std::string_view(pattern));
    SINK_RETURN_IF_ERROR(EachRow(s->since, [&](const Stmt& q) {
      ReadRecord(q, &r);
      return fn(r);
    }));
  }
  Release();
  return Status::Ok();
}

Status LogReader::ForEachRejectAfter(int64_t after_seq,
                                     const std::function<Status(const LogReject&)>& fn) {
  SINK_RETURN_IF_ERROR(Refresh());
  LogReject r;
  for (size_t i = 0; i < segments_.size(); ++i) {
    Segment* s = segments_[i].get();
    Result<Segment*> u = Use(s);
    if (!u.ok()) continue;  // deleted by retention
    if (s->compact) {
      SINK_RETURN_IF_ERROR(s->cs->ForEachRejectAfter(after_seq, [&](const LogReject& cr) {
        LogReject copy = cr;
        copy.segment = s->id;
        return fn(copy);
      }));
      continue;
    }
    s->rejects.Bind(1, after_seq);
    SINK_RETURN_IF_ERROR(EachRow(s->rejects, [&](const Stmt& q) {
      r.segment = s->id;
      ReadLogReject(q, &r);
      return fn(r);
    }));
  }
  Release();
  return Status::Ok();
}

Result<int64_t> LogReader::LastSeq() {
  SINK_RETURN_IF_ERROR(Refresh());
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    Result<Segment*> u = Use(it->get());
    if (!u.ok()) continue;
    if (u.value()->last_seq > 0) {
      Release();
      return u.value()->last_seq;
    }
  }
  Release();
  return int64_t{0};
}

Result<std::optional<std::pair<int64_t, int64_t>>> LogReader::Oldest() {
  std::optional<std::pair<int64_t, int64_t>> out;
  Status st = ForEachAfter(
      0,
      [&](const LogRecord& r) {
        out = std::make_pair(r.seq, r.received_at);
        return Status::Ok();
      },
      1);
  if (!st.ok()) return st;
  return out;
}

}  // namespace sink
