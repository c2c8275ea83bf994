// The platform registry: for each Platform (store/platform.h), the route
// its request bodies arrive on, the parser that turns a body into events and
// the one that turns a stored event back into the Event it was (replay).
// Everything that asks "which parser serves this platform" asks here: the
// HTTP routes, replay at start (ReparseStoredEvent), the fuzzer and the tests.
//
// Adding a platform: its name in store/platform.h, one row in registry.cc,
// and its parser in ingest/platforms/.
#pragma once

#include <simdjson.h>

#include <span>
#include <string_view>

#include "ingest/body_items.h"
#include "ingest/event_rules.h"
#include "store/event_log.h"
#include "store/platform.h"

namespace sink {

struct PlatformSpec {
  Platform platform;
  // The POST path of its bodies; empty when it has an endpoint of its own
  // (nginx-rtmp: server/nginx_rtmp_endpoint.h).
  std::string_view route;
  // Posted by web pages (Streampixel): the allowed origins of
  // --streampixel-origins may post without the token.
  bool from_browsers = false;
  // A request body → events and rejects (see ParseBody); null when the
  // platform's events do not come as bodies of `route`.
  Result<ParsedBody> (*parse)(simdjson::padded_string_view body, const BodyContext& ctx) = nullptr;
  // A stored event (events.body, events.received_at) → the Event its parser
  // made of it; an error when the body no longer gives exactly one event.
  Result<Event> (*replay)(const StoredEvent& stored) = nullptr;
};

// Every platform, one row each, in Platform's order.
std::span<const PlatformSpec> PlatformSpecs();
const PlatformSpec& SpecOf(Platform p);

}  // namespace sink
