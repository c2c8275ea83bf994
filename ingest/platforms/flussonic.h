// Flussonic's events (POST /events): a request body in, normalized Events
// and Rejects out.
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

#include <string>
#include <string_view>

#include "ingest/body_items.h"
#include "ingest/event_rules.h"
#include "store/event.h"
#include "store/status.h"

namespace sink {

// REQUIRES: `body` is padded (simdjson::pad or padded_string), i.e. at least
// SIMDJSON_PADDING readable bytes follow it.
Result<ParsedBody> ParseBody(simdjson::padded_string_view body);

// Parses one item (the text of one event object). Exposed for tests and the
// fuzzer. Fills `event`, or `reject_reason` when the item is not an event.
// REQUIRES: `capacity` >= item.size() + SIMDJSON_PADDING readable bytes.
Status ParseItem(std::string_view item, size_t capacity, Event* event, std::string* reject_reason);

}  // namespace sink
