// The message ClickHouse reads for each event: an envelope the sink builds,
// always one valid JSON object whatever the media server sent.
//
// The events topic carries each body as received (schemas/kafka/
// sessionsink.events.schema.json), which may be anything a media server
// sent; ClickHouse's Kafka engine (JSONEachRow) stalls for good on one
// message it cannot parse (18.16 has no kafka_skip_broken_messages). The
// relay therefore also produces, on a topic of its own
// (--kafka-topic-clickhouse), this envelope:
//
//   {"sink":"edge-a","seq":42,"server":"fl1","kind":"play","phase":"started",
//    "session_id":"s1","body":"{\"event\":\"play_started\",…}"}
//
// server, kind, phase and session_id are null when the event has none; body
// is the event as received, as a JSON string. Strings are escaped so that
// the object is valid JSON and valid UTF-8: control characters as \u00XX,
// bytes that are not UTF-8 as U+FFFD.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sink {

struct EventEnvelope {
  std::string_view sink;  // --sink-name: which sink stored the event
  int64_t seq = 0;        // events.seq in that sink's database
  std::optional<std::string_view> server, kind, phase, session_id;
  std::string_view body;  // as received
};

// Appends `s` as a JSON string (with the quotes).
void AppendJsonString(std::string* out, std::string_view s);

std::string ClickHouseEventMessage(const EventEnvelope& e);

}  // namespace sink
