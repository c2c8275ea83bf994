#include "ingest/platforms/registry.h"

#include <string>

#include "ingest/platforms/flussonic.h"
#include "ingest/platforms/platforms.h"

namespace sink {
namespace {

// Replays a stored event through its platform's body parser: the stored
// body must give exactly one event again.
template <Result<ParsedBody> (*kParse)(simdjson::padded_string_view, const BodyContext&)>
Result<Event> ReplayBody(const StoredEvent& stored) {
  std::string body = stored.body;
  const size_t size = body.size();
  body.append(simdjson::SIMDJSON_PADDING, ' ');
  Result<ParsedBody> parsed =
      kParse(simdjson::padded_string_view(body.data(), size, body.size()), BodyContext{});
  if (!parsed.ok()) return parsed.status();
  if (parsed->events.size() != 1 || !parsed->rejects.empty()) {
    return Status::Invalid("stored event " + std::to_string(stored.seq) + " gives " +
                           std::to_string(parsed->events.size()) + " events when parsed again");
  }
  return std::move(parsed->events[0]);
}

Result<ParsedBody> Flussonic(simdjson::padded_string_view body, const BodyContext&) {
  return ParseBody(body);
}
Result<ParsedBody> Streampixel(simdjson::padded_string_view body, const BodyContext&) {
  return ParseStreampixelBody(body);
}
Result<ParsedBody> GameLift(simdjson::padded_string_view body, const BodyContext&) {
  return ParseGameLiftBody(body);
}
// A form-encoded body holds one callback (ZEGO's own callbacks); JSON, one or many.
Result<ParsedBody> Zego(simdjson::padded_string_view body, const BodyContext& ctx) {
  return ParseZegoBody(std::string_view(body.data(), body.size()),
                       ctx.content_type.starts_with("application/x-www-form-urlencoded"));
}
Result<Event> NginxRtmpStored(const StoredEvent& stored) {
  return ParseNginxRtmpStored(stored.body, stored.received_at);
}

constexpr PlatformSpec kSpecs[] = {
    {Platform::kFlussonic, "/events", false, Flussonic, ReplayBody<Flussonic>},
    {Platform::kStreampixel, "/events/streampixel", true, Streampixel, ReplayBody<Streampixel>},
    {Platform::kGameLift, "/events/gamelift", false, GameLift, ReplayBody<GameLift>},
    {Platform::kZego, "/events/zego", false, Zego, ReplayBody<Zego>},
    {Platform::kNginxRtmp, "", false, nullptr, NginxRtmpStored},
};

constexpr bool InPlatformOrder() {
  if (std::size(kSpecs) != kPlatformNames.size()) return false;
  for (size_t i = 0; i < std::size(kSpecs); ++i) {
    // (Whether each has a replay parser is checked by the platform tests: a
    // function pointer is not a constant expression under the sanitizers.)
    if (static_cast<size_t>(kSpecs[i].platform) != i) return false;
  }
  return true;
}
static_assert(InPlatformOrder(), "one row per Platform, in its order");
// Events stored without a platform are Flussonic's (store/event.h).
static_assert(NameOf(Platform::kFlussonic) == kFlussonicPlatform);

}  // namespace

std::span<const PlatformSpec> PlatformSpecs() { return kSpecs; }

const PlatformSpec& SpecOf(Platform p) { return kSpecs[static_cast<size_t>(p)]; }

}  // namespace sink
