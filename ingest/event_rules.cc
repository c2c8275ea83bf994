#include "ingest/event_rules.h"

#include "store/limits.h"
#include "store/platform.h"

namespace sink {

std::string_view PlatformIdPrefix(std::string_view id) {
  for (std::string_view name : kPlatformNames) {
    if (name == NameOf(Platform::kFlussonic)) continue;
    if (id.size() > name.size() && id[name.size()] == '/' && id.starts_with(name)) {
      return id.substr(0, name.size() + 1);
    }
  }
  return {};
}

bool DropFutureTimes(Event* e, int64_t received_at) {
  const int64_t limit = received_at + limits::kMaxClockSkewMs;
  bool dropped = false;
  for (std::optional<int64_t>* t : {&e->utc_ms, &e->opened_at, &e->authorized_at, &e->started_at,
                                    &e->updated_at, &e->closed_at}) {
    if (*t && **t > limit) {
      t->reset();
      dropped = true;
    }
  }
  return dropped;
}

std::string IdPart(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (char c : part) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace sink
