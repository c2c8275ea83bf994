#include "store/backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "store/log_reader.h"
#include "store/segment_log.h"
#include "store/sqlite.h"

namespace sink {
namespace {

namespace fs = std::filesystem;

Status SyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("cannot open " + path + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::IoError("cannot sync " + path);
}

// VACUUM INTO `to` from a read-only connection to `from`, then sync.
Status CopyLive(const std::string& from, const std::string& to) {
  Result<Db> db = Db::Open(from, /*create=*/false, /*read_only=*/true);
  if (!db.ok()) return db.status();
  // A busy writer holds its lock only for a moment; a reader never waits
  // for it in WAL mode, but the first open may meet a checkpoint.
  sqlite3_busy_timeout(db->get(), 5000);
  Result<Stmt> vacuum = db->Prepare("VACUUM INTO ?");
  if (!vacuum.ok()) return vacuum.status();
  vacuum->Bind(1, std::string_view(to));
  Status st = vacuum->RunAndReset();
  if (!st.ok()) {
    std::error_code ec;
    fs::remove(to, ec);
    return Status::IoError("VACUUM INTO " + to + " failed: " + st.message());
  }
  return SyncPath(to, false);
}

// Copies a closed segment, which never changes, as a file.
Status CopyClosed(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::IoError("cannot open " + from);
  const std::string tmp = to + ".tmp";
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    ::close(in);
    return Status::IoError("cannot create " + tmp);
  }
  char buf[1 << 16];
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(in, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0 || ::write(out, buf, static_cast<size_t>(n)) != n) {
      ok = false;
      break;
    }
  }
  ok = ok && ::fsync(out) == 0;
  ::close(in);
  ok = ::close(out) == 0 && ok;
  std::error_code ec;
  if (ok) fs::rename(tmp, to, ec);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    return Status::IoError("cannot copy " + from + " to " + to);
  }
  return Status::Ok();
}

}  // namespace

Result<BackupReport> Backup(const std::string& db_path, const std::string& out_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::is_regular_file(db_path, ec)) {
    return Status::Invalid("--db " + db_path + ": no such database file");
  }
  if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec)) {
    return Status::Invalid("--out " + out_dir + " exists and is not empty");
  }
  fs::create_directories(out_dir, ec);
  if (ec) return Status::IoError("cannot create " + out_dir + ": " + ec.message());

  BackupReport report;
  // The main file first: the sessions and their watermark. Every segment is
  // copied after it, so the copy's log holds every event the watermark
  // covers (and those committed since, replayed when the copy starts).
  const std::string main_copy = (fs::path(out_dir) / fs::path(db_path).filename()).string();
  SINK_RETURN_IF_ERROR(CopyLive(db_path, main_copy));
  report.files.push_back({main_copy, static_cast<int64_t>(fs::file_size(main_copy, ec))});

  const std::string dir = SegmentDir(db_path);
  const std::string out_log = SegmentDir(main_copy);
  fs::create_directories(out_log, ec);
  if (ec) return Status::IoError("cannot create " + out_log + ": " + ec.message());
  Result<std::vector<SegmentFile>> files = ListSegmentFiles(dir);
  if (!files.ok()) return files.status();
  for (size_t i = 0; i < files->size(); ++i) {
    const SegmentFile& f = files.value()[i];
    const bool newest = i + 1 == files->size() && !f.compact;
    std::string from = f.Path(dir);
    std::string to = f.Path(out_log);
    Status st;
    if (newest) {
      st = CopyLive(from, to);
    } else {
      // Closed: it never changes. Opened first, so that retention deleting
      // it meanwhile does not cut the copy short. Either form: a compact
      // one is copied as it is.
      st = CopyClosed(from, to);
      if (!st.ok() && !f.compact && fs::exists(CompactSegmentPath(dir, f.id), ec)) {
        // Compacted between the listing and the copy.
        from = CompactSegmentPath(dir, f.id);
        to = CompactSegmentPath(out_log, f.id);
        st = CopyClosed(from, to);
      }
    }
    if (!st.ok()) {
      if (!fs::exists(from, ec)) continue;  // deleted by retention before it was opened
      return st;
    }
    report.files.push_back({to, static_cast<int64_t>(fs::file_size(to, ec))});
  }
  SINK_RETURN_IF_ERROR(SyncPath(out_log, true));
  SINK_RETURN_IF_ERROR(SyncPath(out_dir, true));

  Result<Db> copy = Db::Open(main_copy, /*create=*/false, /*read_only=*/true);
  if (!copy.ok()) return copy.status();
  Result<LogReader> log = LogReader::Open(main_copy);
  if (!log.ok()) return log.status();
  Result<int64_t> last = log->LastSeq();
  if (!last.ok()) return last.status();
  report.last_seq = last.value();
  Result<int64_t> mark = copy->QueryInt(
      "SELECT coalesce((SELECT value FROM store_state WHERE name = 'sessions_watermark'), 0)");
  if (mark.ok()) report.watermark = mark.value();
  report.elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  return report;
}

}  // namespace sink
