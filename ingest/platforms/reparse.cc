// Replay: a stored event back into the Event its parser made of it.
#include "ingest/platforms/registry.h"

namespace sink {

Result<Event> ReparseStoredEvent(const StoredEvent& stored) {
  const std::string_view name = stored.platform ? *stored.platform : kFlussonicPlatform;
  const std::optional<Platform> platform = PlatformNamed(name);
  if (!platform) return Status::Invalid("unknown platform '" + std::string(name) + "'");
  Result<Event> e = SpecOf(*platform).replay(stored);
  // As when it was received (the same receive time: the same outcome).
  if (e.ok()) DropFutureTimes(&e.value(), stored.received_at);
  return e;
}

}  // namespace sink
