#include "store/schema.h"

#include <string>

namespace sink {

Status Migrate(Db& db, int up_to) {
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
    if (m.version > up_to) break;
    SINK_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status st = db.Exec(m.sql);
    if (st.ok()) st = db.Exec("PRAGMA user_version = " + std::to_string(m.version));
    if (st.ok()) st = db.Exec("COMMIT");
    if (!st.ok()) {
      // The migration's error is the one to report; if ROLLBACK fails too,
      // closing the connection rolls the transaction back.
      (void)db.Exec("ROLLBACK");
      std::string msg = "migration " + std::string(m.name) + " failed: " + st.message();
      // A busy or full database may succeed on the next start; say so.
      return st.code() == Status::Code::kUnavailable ? Status::Unavailable(std::move(msg))
                                                     : Status::IoError(std::move(msg));
    }
  }
  return Status::Ok();
}

}  // namespace sink
