// Schema migrations: the files in schemas/sql/NNN_*.sql, compiled into the
// binary, applied in order and tracked with PRAGMA user_version.
#pragma once

#include <string_view>
#include <vector>

#include "store/sqlite.h"

namespace sink {

struct Migration {
  int version;            // NNN from the file name
  std::string_view name;  // the file name
  std::string_view sql;
};

// All migrations known to this build, ordered by version.
const std::vector<Migration>& Migrations();

// Brings `db` to the newest schema version. Each migration runs in its own
// transaction. Fails (and changes nothing) when the file was written by a
// newer sessionsink.
// With `up_to`, stops after that version.
Status Migrate(Db& db, int up_to = 1 << 30);

}  // namespace sink
