// Event: one normalized event, the value the parser hands to the store.
//
// An Event owns all its strings (nothing points into the request body), so a
// request buffer can be freed as soon as parsing returns. Timestamps are
// integer milliseconds since the Unix epoch, whatever unit the sender used.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sink {

// The lifecycle step an event reports, normalized across families
// (push_blocked → kStalled, push_restored → kRecovered, stream_stopped → kClosed).
enum class Phase : uint8_t {
  kNone,  // not a session event (server_started, config_external_error, …)
  kOpened,
  kConnected,
  kAuthorized,
  kStarted,
  kUpdated,
  kAltered,
  kOverflowed,
  kStalled,
  kRecovered,
  kDenied,
  kClosed,
  kOther,  // a session family with a phase we do not know: kept, no state change
};

std::string_view PhaseName(Phase p);

// Event::platform of Flussonic's events (the default).
inline constexpr std::string_view kFlussonicPlatform = "flussonic";

struct Event {
  // The event as stored and fanned out: Flussonic's and Streampixel's JSON
  // exactly as received; other platforms' records as their parsers store
  // them (ingest/platforms/platforms.h).
  std::string body;
  std::string name;  // the "event" field, verbatim
  // Session kind: play|publish|ingest|push|stream; empty when the event
  // belongs to no session family.
  std::string kind;
  // True when the kind is stated (family name or "type"), false when it was
  // inferred (a source_* event without "type").
  bool kind_explicit = false;
  Phase phase = Phase::kNone;

  std::optional<std::string> id;  // session id ("id")
  std::optional<std::string> server;
  std::optional<std::string> media;
  std::optional<std::string> source_id;
  std::optional<std::string> parent_id;
  std::optional<std::string> user_id;
  std::optional<std::string> token;
  std::optional<std::string> ip;
  std::optional<std::string> proto;
  std::optional<std::string> country;
  std::optional<std::string> user_agent;
  std::optional<std::string> referer;
  std::optional<std::string> url;
  // "reason": a string as is, any other JSON value as compact JSON text.
  std::optional<std::string> reason;

  std::optional<int64_t> event_id;
  std::optional<int64_t> utc_ms;
  std::optional<int64_t> opened_at;
  std::optional<int64_t> authorized_at;
  std::optional<int64_t> started_at;
  std::optional<int64_t> updated_at;
  std::optional<int64_t> closed_at;
  std::optional<int64_t> bytes;
  std::optional<int64_t> duration_ms;  // "duration" is seconds on the wire

  // Platforms other than Flussonic (ingest/platforms/) say more than a phase.
  std::string platform{kFlussonicPlatform};  // flussonic|streampixel|gamelift|zego
  std::optional<std::string> raw_state;      // the platform's own state name, verbatim
  std::optional<std::string> raw_reason;     // its end code or reason, verbatim
  // On a closing event (kClosed/kDenied): why it ended, one of kEndClasses.
  // Unset on Flussonic events: the session derives it from `reason`.
  std::optional<std::string> end_class;
  std::optional<std::string> external_id;  // the platform's own session id
  // The event's time is when the session started (queue_enter) or stopped
  // (queue_leave) waiting for capacity: a queue, a placement.
  bool queue_enter = false;
  bool queue_leave = false;
  // A reconnection began (also a stall) or ended (also a recovery).
  bool reconnect_begin = false;
  bool reconnect_end = false;

  // True when this event belongs to a session row.
  bool HasSession() const { return !kind.empty() && id.has_value() && !id->empty(); }

  // The time the event happened: utc_ms, else the timestamp its phase names
  // (opened_at for an opened event, …), else nullopt.
  std::optional<int64_t> EventTime() const;

  bool operator==(const Event&) const = default;
};

// The values of sessions.end_class.
inline constexpr std::string_view kEndClasses[] = {
    "normal",    "user_left", "idle_timeout", "limit",    "denied",  "capacity",
    "app_crash", "network",   "admin_kick",   "internal", "unknown",
};

// A readable item the store must keep but cannot accept as an event
// (not an object, no "event" field, …). Goes to the `rejected` table.
struct Reject {
  int64_t index = 0;   // position in the request (array element or NDJSON line)
  std::string reason;  // why, in words a sender can act on
  std::string body;    // the item as received
  std::optional<std::string> server;
};

}  // namespace sink
