// Event parsing: a request body in, normalized Events and Rejects out.
//
// Accepts a JSON array of events (Flussonic's batch), a single JSON object
// (older Flussonic), or NDJSON (one object per line). Uses simdjson
// On-Demand with one parser pair per thread (thread_local), so ParseBody is
// safe to call from any number of HTTP worker threads at once.
//
// Every item is fully validated, including fields we do not read, so the
// `body` stored and fanned out is always valid JSON. An item that is valid
// JSON but not an event (not an object, no "event" string) becomes a Reject;
// the rest of the batch is still accepted. Invalid JSON anywhere makes the
// whole body unreadable (Status kInvalid).
//
// Buffer lifetime: the returned Events and Rejects own copies of their
// strings; `body` may be freed as soon as ParseBody returns.
#pragma once

#include <simdjson.h>

#include <vector>

#include "store/event.h"
#include "store/status.h"

namespace sink {

// At most limits::kMaxItemsPerRequest items (more: kTooLarge) and
// limits::kMaxRejectRowsPerRequest rejects kept one by one; the non-event
// items past that are only counted.
struct ParsedBody {
  std::vector<Event> events;
  std::vector<Reject> rejects;
  int64_t rejects_dropped = 0;       // non-event items counted, not kept
  int64_t first_dropped_index = -1;  // the first of them
  std::string first_dropped_reason;  // and why it was not an event
};

// Keeps `r` in `out`, or only counts it once limits::kMaxRejectRowsPerRequest
// rejects are kept.
void AddReject(Reject r, ParsedBody* out);
// kTooLarge when a request has more items than limits::kMaxItemsPerRequest.
Status CheckItemCount(size_t items);

// REQUIRES: `body` is padded (simdjson::pad or padded_string), i.e. at least
// SIMDJSON_PADDING readable bytes follow it.
Result<ParsedBody> ParseBody(simdjson::padded_string_view body);

// Session ids of every platform but Flussonic start with the platform's
// name and a slash ("streampixel/<key>", "gamelift/<Arn>", "zego/…",
// "nginx-rtmp/…"): a session belongs to one platform, and an event from
// one platform's endpoint never lands in another's session. A Flussonic
// event (POST /events) whose id starts with one of these is rejected.
// The platform prefix ("<name>/", a name of common/platform.h other than
// Flussonic's) `id` starts with, or empty.
std::string_view PlatformIdPrefix(std::string_view id);

// One part of a composite session id, with '%' and '/' percent-encoded
// ("%25", "%2F"), so that parts joined with '/' after a fixed tag can be
// split back: two distinct tuples of parts never give the same id.
std::string IdPart(std::string_view part);

// Drops from `e` every time later than received_at + limits::kMaxClockSkewMs
// (utc_ms, opened/authorized/started/updated/closed_at): the event then
// counts as one without that time. True when it dropped one. Applied to
// every event of every endpoint, and again when the log is replayed (with
// the same receive time, so the outcome is the same).
bool DropFutureTimes(Event* e, int64_t received_at);

// Parses one item (the text of one event object). Exposed for tests and the
// fuzzer. Fills `event`, or `reject_reason` when the item is not an event.
// REQUIRES: `capacity` >= item.size() + SIMDJSON_PADDING readable bytes.
Status ParseItem(std::string_view item, size_t capacity, Event* event, std::string* reject_reason);

// For body parsers built like ParseBody (ParseItem's signature: an error
// only for invalid JSON, `reject_reason` for a readable non-item).
using ItemParser = Status (*)(std::string_view item, size_t capacity, Event* event,
                              std::string* reject_reason);

// A body being split into items: each item is parsed with `parse` and
// becomes an Event or, when not acceptable, a Reject with its index.
class BodyItems {
 public:
  // REQUIRES: `body` is padded, as for ParseBody.
  BodyItems(simdjson::padded_string_view body, ItemParser parse) : body_(body), parse_(parse) {}

  // Where the content starts: after a UTF-8 byte order mark and blanks
  // (body.size() when there is none).
  size_t Start() const;
  // Parses `item`, a view into the body. Error: the item is invalid JSON.
  Status Add(std::string_view item);
  // Parses every element of the JSON array at `start`, then checks nothing
  // follows it.
  Status AddArray(size_t start);
  // Whether `item` parses (as an item or a reject), without collecting it.
  bool Parses(std::string_view item) const;
  ParsedBody Take() { return std::move(out_); }

 private:
  size_t CapacityOf(std::string_view item) const {
    return static_cast<size_t>(body_.data() + body_.capacity() - item.data());
  }

  simdjson::padded_string_view body_;
  ItemParser parse_;
  ParsedBody out_;
  int64_t index_ = 0;
};

}  // namespace sink
