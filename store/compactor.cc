#include "store/compactor.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <system_error>

#include <spdlog/spdlog.h>

#include "store/log_limit.h"

namespace sink {
namespace {

namespace fs = std::filesystem;

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("cannot open " + dir + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::IoError("cannot sync " + dir);
}

// Copies the raw segment's dead letters and base_seq into the compact one.
Status CopyRest(Db& raw, Db& out) {
  Result<Stmt> get = raw.Prepare(
      "SELECT id, after_seq, received_at, remote_addr, reason, item_index, server, body "
      "FROM rejected ORDER BY id");
  if (!get.ok()) return get.status();
  Result<Stmt> put = out.Prepare(
      "INSERT INTO rejected(id, after_seq, received_at, remote_addr, reason, item_index, server, "
      "body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!put.ok()) return put.status();
  for (;;) {
    Result<bool> row = get->Step();
    if (!row.ok()) return row.status();
    if (!row.value()) break;
    put->Bind(1, get->Int(0));
    put->Bind(2, get->Int(1));
    put->Bind(3, get->Int(2));
    put->Bind(4, get->OptText(3));
    put->Bind(5, get->Text(4));
    put->Bind(6, get->OptInt(5));
    put->Bind(7, get->OptText(6));
    put->BindBlob(8, get->Blob(7));
    SINK_RETURN_IF_ERROR(put->RunAndReset());
  }
  Result<int64_t> base =
      raw.QueryInt("SELECT coalesce((SELECT value FROM meta WHERE name = 'base_seq'), 0)");
  if (!base.ok()) return base.status();
  return out.Exec("INSERT INTO meta(name, value) VALUES ('base_seq', " +
                  std::to_string(base.value()) + ")");
}

}  // namespace

Compactor::Compactor(CompactorOptions o, std::shared_ptr<SegmentCatalog> catalog)
    : o_(std::move(o)), catalog_(std::move(catalog)) {
  thread_ = std::thread([this] { Run(); });
}

Compactor::~Compactor() { Stop(); }

void Compactor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Compactor::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

Status Compactor::CompactOne(const std::string& dir, const SegmentInfo& s,
                             const CompactOptions& options, SegmentCatalog* catalog,
                             const std::atomic<bool>* stop) {
  const std::string raw_path = SegmentPath(dir, s.id);
  const std::string compact_path = CompactSegmentPath(dir, s.id);
  std::error_code ec;
  if (!fs::exists(raw_path, ec) && fs::exists(compact_path, ec)) {
    // Compacted already (the catalog was put back from an older copy).
    Result<SegmentInfo> info = ReadSegmentInfo(compact_path, s.id);
    if (!info.ok()) return info.status();
    SegmentInfo next = s;
    next.compact = true;
    next.bytes = info->bytes;
    catalog->Replace(next);
    return Status::Ok();
  }
  const auto t0 = std::chrono::steady_clock::now();
  {
    Result<Db> raw = Db::Open(raw_path, /*create=*/false, /*read_only=*/true);
    if (!raw.ok()) return raw.status();
    SINK_RETURN_IF_ERROR(raw->Exec("PRAGMA busy_timeout=5000; BEGIN"));
    Result<RecordSource> events = EventsTableSource(&raw.value(), s.first_seq - 1, s.last_seq);
    if (!events.ok()) return events.status();
    RecordSource source = [&](LogRecord* r) -> Result<bool> {
      if (stop && stop->load()) return Status::Unavailable("shutting down");
      return events.value()(r);
    };
    Result<SegmentMeta> meta = WriteCompactSegment(
        compact_path, source, options, [&](Db& out) { return CopyRest(raw.value(), out); });
    (void)raw->Exec("COMMIT");  // a read transaction
    if (!meta.ok()) return meta.status();
  }
  // The new file must hold the segment whole before anything points at it.
  Result<SegmentInfo> info = ReadSegmentInfo(compact_path, s.id);
  Status st = info.status();
  if (st.ok() && (info->first_seq != s.first_seq || info->last_seq != s.last_seq ||
                  info->events != s.events || info->rejected != s.rejected)) {
    st = Status::Internal("the compact form of segment " + std::to_string(s.id) +
                          " does not hold its events (seqs " + std::to_string(info->first_seq) +
                          "–" + std::to_string(info->last_seq) + ", expected " +
                          std::to_string(s.first_seq) + "–" + std::to_string(s.last_seq) + ")");
  }
  if (st.ok()) {
    // Dated as the raw file: the dedup horizon counts from the close
    // (SegmentLog::Open reads it from the file at start).
    fs::last_write_time(compact_path, fs::last_write_time(raw_path, ec), ec);
    st = SyncDir(dir);
  }
  if (!st.ok()) {
    (void)RemoveSqliteFiles(compact_path);
    return st;
  }
  SegmentInfo next = s;
  next.compact = true;
  next.bytes = info->bytes;
  if (!catalog->Replace(next)) {
    // Retention deleted the segment meanwhile.
    return RemoveSegmentFiles(raw_path);
  }
  SINK_RETURN_IF_ERROR(RemoveSqliteFiles(raw_path));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "store: compacted log segment {} (seqs {}–{}, {} events): {} → {} bytes ({:.0f} B/event) "
      "in {:.1f} s",
      s.id, s.first_seq, s.last_seq, s.events, s.bytes, next.bytes,
      static_cast<double>(next.bytes) / static_cast<double>(std::max<int64_t>(s.events, 1)), secs);
  return Status::Ok();
}

void Compactor::Run() {
  if (o_.nice) {
    // Linux: a thread's nice value is its own.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
  }
  std::map<int64_t, Backoff> backoff;  // segments whose compaction failed
  LogLimit log;
  while (!stop_) {
    // The oldest closed segment not yet compact whose pause is over.
    std::optional<SegmentInfo> next;
    std::chrono::milliseconds wait(o_.poll_ms);
    std::map<int64_t, Backoff> kept;
    for (const SegmentInfo& s : catalog_->Snapshot()) {
      if (!s.closed || s.compact || s.events == 0) continue;
      auto b = backoff.find(s.id);
      if (b != backoff.end()) {
        kept[s.id] = b->second;
        if (!b->second.Due()) {
          wait = std::min(wait, b->second.Remaining());
          continue;
        }
      }
      if (!next) next = s;
    }
    backoff = std::move(kept);  // segments gone or compacted are forgotten
    if (next) {
      Status st = CompactOne(o_.dir, *next, o_.compact, catalog_.get(), &stop_);
      if (stop_) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        error_ =
            st.ok() ? std::string() : "segment " + std::to_string(next->id) + ": " + st.message();
      }
      if (st.ok()) {
        ++compacted_;
        backoff.erase(next->id);
      } else {
        ++failures_;
        backoff[next->id].Failed();
        uint64_t skipped = 0;
        if (log.Allow(&skipped)) {
          spdlog::error("store: cannot compact log segment {} (kept as it is, tried again): {}{}",
                        next->id, st.ToString(), Skipped(skipped));
        }
      }
      continue;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [this] { return stop_.load() || wake_; });
    wake_ = false;
  }
}

}  // namespace sink
