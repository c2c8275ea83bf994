// The platforms the sink takes events from, by name: the values of the
// `platform` column of `events` and `sessions`. Replay finds the parser of a
// stored event by this name, so a name never changes once events carry it.
//
// This is the part of the platform registry every layer may read (reports
// filter by platform, the store replays by it); which route and parser serve
// each platform is in ingest/platforms/registry.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sink {

enum class Platform : uint8_t { kFlussonic, kStreampixel, kGameLift, kZego, kNginxRtmp };

// Indexed by Platform, in the order `report --platform` lists them.
inline constexpr auto kPlatformNames =
    std::to_array<std::string_view>({"flussonic", "streampixel", "gamelift", "zego", "nginx-rtmp"});

constexpr std::string_view NameOf(Platform p) { return kPlatformNames[static_cast<size_t>(p)]; }

// The platform stored as `name`; nullopt for a name no platform has.
constexpr std::optional<Platform> PlatformNamed(std::string_view name) {
  for (size_t i = 0; i < kPlatformNames.size(); ++i) {
    if (kPlatformNames[i] == name) return static_cast<Platform>(i);
  }
  return std::nullopt;
}

}  // namespace sink
