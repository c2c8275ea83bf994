#include "query/native.h"

#include <map>

#include "query/native_common.h"

namespace sink {

namespace {

using native::Window;
using NativeFn = Result<Table> (*)(Db&, const Window&);

const std::map<std::string_view, NativeFn>& Natives() {
  static const std::map<std::string_view, NativeFn> kAll = {
      {"sessions-per-user", &native::SessionsPerUser},
      {"concurrency", &native::Concurrency},
      {"media", &native::Media},
      {"startup", &native::Startup},
      {"endings", &native::Endings},
      {"stalls", &native::Stalls},
      {"sharing", &native::Sharing},
      {"sources", &native::Sources},
      {"outages", &native::Outages},
  };
  return kAll;
}

}  // namespace

bool HasNativeReport(std::string_view name) { return Natives().count(name) > 0; }

Result<Table> RunNativeReport(Db& db, std::string_view name, const ReportParams& params) {
  auto it = Natives().find(name);
  if (it == Natives().end()) return Status::Invalid("no native report " + std::string(name));
  Result<Window> w = native::Resolve(db, params);
  if (!w.ok()) return w.status();
  // One read transaction: every scan sees the same database.
  SINK_RETURN_IF_ERROR(db.Exec("BEGIN"));
  Result<Table> t = it->second(db, w.value());
  // Ends the read transaction (a read-only one commits nothing, so ending it
  // cannot lose data); a failure there means the connection is unusable.
  Status end = db.Exec("COMMIT");
  if (t.ok() && !end.ok()) return end;
  return t;
}

}  // namespace sink
