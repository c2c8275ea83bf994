// The generic body splitter every JSON body parser shares (Flussonic's
// ParseBody, Streampixel's): a padded body is split into items — the
// elements of a JSON array, or given one by one (NDJSON lines, one object) —
// and each item, parsed by the platform's ItemParser, becomes an Event or a
// Reject with its index. ParsedBody is what every platform's body parser
// answers (ingest/platforms/).
//
// Buffer lifetime: the returned Events and Rejects own copies of their
// strings; the body may be freed once the parser returns.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>
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

// What a body parser may need to know about a request besides its body.
struct BodyContext {
  std::string_view content_type;  // the request's Content-Type; empty on replay
};

// Keeps `r` in `out`, or only counts it once limits::kMaxRejectRowsPerRequest
// rejects are kept.
void AddReject(Reject r, ParsedBody* out);
// kTooLarge when a request has more items than limits::kMaxItemsPerRequest.
Status CheckItemCount(size_t items);

// For body parsers built like ParseBody (ingest/platforms/flussonic.h; ParseItem's signature: an
// error only for invalid JSON, `reject_reason` for a readable non-item).
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
