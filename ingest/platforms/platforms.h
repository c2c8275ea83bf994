// Platform adapters: request bodies from platforms other than Flussonic,
// turned into the same normalized Events (store/event.h), so their sessions
// land in the same rows, reports and Kafka topics. docs/platforms.md has the
// mapping of every documented state, code and reason.
//
// Each adapter works like ParseBody (ingest/platforms/flussonic.h): an unreadable
// body is an error Status (the server answers 400 and keeps the body as a
// dead letter); a readable item that is not a record of the platform becomes
// a Reject; unknown states and codes are kept verbatim (raw_state,
// raw_reason) with end_class "unknown", never rejected. Event::body is what
// is stored: the Streampixel item's JSON text as received; the GameLift or
// ZEGO record re-serialized as minified JSON (a form body and the same
// record sent as JSON store the same text); for nginx-rtmp a JSON object the
// sink builds from the callback (nginx_rtmp.cc, StoredBody). Safe to call
// from any number of threads.
#pragma once

#include <simdjson.h>

#include <string_view>

#include "ingest/body_items.h"
#include "ingest/event_rules.h"
#include "store/event_log.h"
#include "store/platform.h"

namespace sink {

// Amazon GameLift Streams session records (GetStreamSession's output, a
// list of them, ListStreamSessions' {"Items": [...]}, or an EventBridge
// envelope {"detail": {...}}). POST /events/gamelift.
Result<ParsedBody> ParseGameLiftBody(simdjson::padded_string_view body);

// ZEGO server callbacks (room_login, room_logout, stream_create,
// stream_close, room_close) and client state changes forwarded by the app.
// `form` is true for application/x-www-form-urlencoded bodies (one
// callback), unless the body starts like JSON; JSON bodies may hold one
// object or an array. POST /events/zego.
Result<ParsedBody> ParseZegoBody(std::string_view body, bool form);

// Messages forwarded by clients/streampixel/sessionsink-streampixel.js: one
// object or an array of {"key", "seq", "at", "message", ...}.
// POST /events/streampixel.
Result<ParsedBody> ParseStreampixelBody(simdjson::padded_string_view body);

// The Event a stored event was made from, parsed again from its body with
// the parser of its platform (the store replays the log through this at
// start). An error when the body no longer gives exactly one event.
Result<Event> ReparseStoredEvent(const StoredEvent& stored);

// nginx-rtmp: the callbacks themselves go through NginxRtmp
// (ingest/platforms/nginx_rtmp.h), which keeps the map of connections that
// gives them their session ids. Each event it produces is stored with a
// body (events.body) that holds what it decided: a JSON object
//   {"event":"nginx-rtmp.<call>","server":<instance>,"utc_ms":<receive time>,
//    "event_id":…, "id","kind","media","user_id","token","opened_at",
//    "started_at","duration_ms" (those that apply),
//    "callback":{<the form fields, first occurrence of each, in order>},
//    "repeated":[<keys the form held more than once>] (when any)}
// ParseNginxRtmpStored gives back from such a body, with no state, the same
// Event (body included) that was stored — for replaying the events table.
// `received_at` (events.received_at) stands in for a missing "utc_ms".
// Error (kInvalid): not such a body.
Result<Event> ParseNginxRtmpStored(std::string_view body, int64_t received_at);

}  // namespace sink
