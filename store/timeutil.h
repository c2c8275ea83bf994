// Time parsing shared by the parser (event timestamps) and the CLI (--from/--to).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sink {

// Values below this are seconds since the epoch; values at or above it are
// milliseconds (1e11 s is the year 5138; 1e11 ms is March 1973).
inline constexpr double kSecondsBelow = 1e11;

// The times an event may carry: [2000-01-01, 2100-01-01) UTC. A time
// outside is treated as absent, like an unparseable one: a clock set to 1970
// or to the year 2255 must not stretch sessions over centuries, and every
// difference of two times then fits easily in 64 bits.
inline constexpr int64_t kMinEventTimeMs = 946684800000;   // 2000-01-01T00:00:00Z
inline constexpr int64_t kMaxEventTimeMs = 4102444800000;  // 2100-01-01T00:00:00Z (excluded)
inline bool InEventRange(int64_t ms) { return ms >= kMinEventTimeMs && ms < kMaxEventTimeMs; }

// A numeric timestamp in seconds or milliseconds (by magnitude, see above),
// possibly fractional, as integer milliseconds rounded to nearest. Values
// outside [kMinEventTimeMs, kMaxEventTimeMs) give nullopt (treated as absent).
std::optional<int64_t> NormalizeTimestamp(double v);
std::optional<int64_t> NormalizeTimestamp(int64_t v);

// ISO-8601 / RFC 3339 date-time: "2021-11-16T20:36:34Z", with optional
// fraction ("…34.250Z"), offset ("+03:00", "+0300") or a space for "T".
// A value without offset is UTC; an offset beyond ±23:59 is malformed.
// Returns ms since the epoch (any year 0000–9999: windows, not event times).
std::optional<int64_t> ParseIso8601(std::string_view s);

// An event's timestamp as text: ISO-8601, or a number (seconds or ms, by
// magnitude); nullopt outside [kMinEventTimeMs, kMaxEventTimeMs).
std::optional<int64_t> ParseTimestampText(std::string_view s);

// A duration as text: a number with a unit — ms, s, m (or min), h, d — or a
// bare number in units of `bare_unit_ms`. Fractions allowed. Returns whole
// milliseconds; nullopt for negative, malformed or absurd (> 1e15 ms) input.
std::optional<int64_t> ParseDuration(std::string_view s, int64_t bare_unit_ms);

}  // namespace sink
