// Online backup: a consistent copy of a live sink's store, taken beside it
// under load, from which `sessionsink serve --db OUT/<file>` starts.
//
// A live SQLite file is copied with VACUUM INTO on a read-only connection:
// one read transaction, so the copy is one committed state of the file,
// and it neither blocks the writer nor restarts on its commits (the backup
// API restarts on every write from another connection and may never finish
// at a sink's commit rate). The copy is synced before Backup returns.
// Closed log segments, which never change, are copied as files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/status.h"

namespace sink {

struct BackupFile {
  std::string path;  // in the output directory
  int64_t bytes = 0;
};

struct BackupReport {
  std::vector<BackupFile> files;
  int64_t last_seq = 0;   // the newest event in the copy
  int64_t watermark = 0;  // the copy's sessions table covers events up to here
  int64_t elapsed_ms = 0;
};

// Copies the store whose main file is `db_path` into `out_dir`, which must
// not exist or be empty (it is created). kInvalid for a bad argument, the
// I/O error otherwise; nothing half-written is left named as a database.
Result<BackupReport> Backup(const std::string& db_path, const std::string& out_dir);

}  // namespace sink
