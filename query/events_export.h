// `sessionsink events`: the stored events, as an operator reads them without
// knowing how the log is laid out — one compact JSON object a line (NDJSON),
// in seq order, or their number.
//
// The bodies are printed as stored, minified to one line (JSON strings are
// kept byte for byte; only the whitespace between tokens goes).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "store/log_block.h"
#include "store/status.h"

namespace sink {

struct EventsRequest {
  std::optional<std::string> session;  // only this session id
  std::optional<std::string> server;   // only this server
  // Only events whose time (utc_ms, or the receive time when an event has
  // none) is in [from, to): ISO-8601 or epoch ms, as for the reports.
  std::optional<std::string> from, to;
  bool count = false;  // print the number of matching events instead
};

// Calls its argument for every stored event in seq order.
using EventScan = std::function<Status(const std::function<Status(const LogRecord&)>&)>;

// Writes the matching events to `out`. kInvalid for a bad option (the
// message names it); the error of `scan` otherwise.
Status ExportEvents(const EventsRequest& request, const EventScan& scan, std::FILE* out);

}  // namespace sink
