// WriteBatch: one request's worth of input for the writer, or the Kafka
// relay's progress; and what the writer answers for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/event.h"

namespace sink {

// A message Kafka refused for good; kept in `kafka_dead_letters`.
struct KafkaDeadLetter {
  std::string topic;
  std::optional<int64_t> seq;
  std::optional<std::string> key;
  std::string reason;
};

// Everything in a batch commits together or not at all.
struct WriteBatch {
  int64_t received_at = 0;  // sink clock, ms
  std::string remote_addr;
  std::vector<Event> events;    // readable events, in request order
  std::vector<Reject> rejects;  // items or bodies to keep as dead letters
  // Relay progress: cursor name → delivered up to this seq (never moves back).
  std::vector<std::pair<std::string, int64_t>> cursors;
  std::vector<KafkaDeadLetter> kafka_dead_letters;
};

struct WriteOutcome {
  int64_t accepted = 0;    // distinct events newly stored
  int64_t duplicates = 0;  // events already stored before (or earlier in the group)
  int64_t rejected = 0;    // items stored in `rejected`
};

}  // namespace sink
