// Log blocks: consecutive stored events packed into one zstd frame.
//
// A closed segment of the event log holds its events as blocks of a few
// dozen records each (store/compact_segment.h). Inside a block the records
// are laid out by column — every seq, then every time, then every name, …,
// then every body — so that zstd sees like next to like; a 300-byte event
// body costs a few dozen bytes this way (docs/performance.md, "Bytes on
// disk"). Reading one event decompresses its block.
//
// The encoding is exact: DecodeLogBlock(EncodeLogBlock(r)) == r, bodies
// byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"
#include "store/zstd_codec.h"

namespace sink {

// One row of the event log, every stored column.
struct LogRecord {
  int64_t seq = 0;
  int64_t received_at = 0;
  std::optional<std::string> server;
  std::string event;
  std::optional<std::string> kind;
  std::optional<std::string> phase;
  std::optional<std::string> session_id;
  std::optional<int64_t> utc_ms;
  std::optional<int64_t> event_id;
  int64_t dedup = 0;
  std::string body;
  std::optional<std::string> platform;  // nullopt: Flussonic

  bool operator==(const LogRecord&) const = default;
};

// REQUIRES: records in ascending seq order, at least one.
Result<std::string> EncodeLogBlock(const std::vector<LogRecord>& records, int level,
                                   const ZstdDict* dict = nullptr);
// kInvalid when `block` is not one EncodeLogBlock made (damaged, truncated,
// or made with another dictionary).
Result<std::vector<LogRecord>> DecodeLogBlock(std::string_view block,
                                              const ZstdDict* dict = nullptr);

}  // namespace sink
