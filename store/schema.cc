#include "store/schema.h"

#include <string>

namespace sink {

Status Migrate(Db& db) {
  Result<int64_t> current = db.QueryInt("PRAGMA user_version");
  if (!current.ok()) return current.status();
  const std::vector<Migration>& all = Migrations();
  const int newest = all.empty() ? 0 : all.back().version;
  if (current.value() > newest) {
    return Status::IoError("database schema version " + std::to_string(current.value()) +
                           " is newer than this sessionsink understands (" +
                           std::to_string(newest) + ")");
  }
  for (const Migration& m : all) {
    if (m.version <= current.value()) continue;
    SINK_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status st = db.Exec(m.sql);
    if (st.ok()) st = db.Exec("PRAGMA user_version = " + std::to_string(m.version));
    if (st.ok()) st = db.Exec("COMMIT");
    if (!st.ok()) {
      db.Exec("ROLLBACK");
      return Status::IoError("migration " + std::string(m.name) + " failed: " + st.message());
    }
  }
  return Status::Ok();
}

}  // namespace sink
