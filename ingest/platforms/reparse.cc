// Replay: a stored event back into the Event its parser made of it.
#include <string>

#include "ingest/platforms/platforms.h"

namespace sink {

Result<Event> ReparseStoredEvent(const StoredEvent& stored) {
  std::string body = stored.body;
  const size_t size = body.size();
  body.append(simdjson::SIMDJSON_PADDING, ' ');
  const simdjson::padded_string_view padded(body.data(), size, body.size());
  const std::string platform = stored.platform.value_or(std::string(kFlussonicPlatform));
  Result<ParsedBody> parsed = Status::Invalid("unknown platform '" + platform + "'");
  if (platform == "nginx-rtmp") {
    Result<Event> e = ParseNginxRtmpStored(stored.body, stored.received_at);
    if (e.ok()) DropFutureTimes(&e.value(), stored.received_at);
    return e;
  }
  if (platform == kFlussonicPlatform) {
    parsed = ParseBody(padded);
  } else if (platform == "gamelift") {
    parsed = ParseGameLiftBody(padded);
  } else if (platform == "zego") {
    parsed = ParseZegoBody(std::string_view(body.data(), size), /*form=*/false);
  } else if (platform == "streampixel") {
    parsed = ParseStreampixelBody(padded);
  }
  if (!parsed.ok()) return parsed.status();
  if (parsed->events.size() != 1 || !parsed->rejects.empty()) {
    return Status::Invalid("stored event " + std::to_string(stored.seq) + " gives " +
                           std::to_string(parsed->events.size()) + " events when parsed again");
  }
  // As when it was received (the same receive time: the same outcome).
  DropFutureTimes(&parsed->events[0], stored.received_at);
  return std::move(parsed->events[0]);
}

}  // namespace sink
