#include "query/events_export.h"

#include <simdjson.h>

#include <string>

#include "query/report.h"
#include "store/json_text.h"

namespace sink {
namespace {

Status ParseWindowTime(const char* what, const std::optional<std::string>& in,
                       std::optional<int64_t>* out) {
  if (!in) return Status::Ok();
  *out = ParseReportTime(*in);
  if (!*out) {
    return Status::Invalid(std::string(what) + ": expected ISO-8601 (2026-11-23T10:00:00Z) or " +
                           "epoch milliseconds, got '" + *in + "'");
  }
  return Status::Ok();
}

}  // namespace

Status ExportEvents(const EventsRequest& r, const EventScan& scan, std::FILE* out) {
  std::optional<int64_t> from, to;
  SINK_RETURN_IF_ERROR(ParseWindowTime("--from", r.from, &from));
  SINK_RETURN_IF_ERROR(ParseWindowTime("--to", r.to, &to));
  if (from && to && *from >= *to) {
    return Status::Invalid("--from must be earlier than --to (the window is [from, to))");
  }
  int64_t matched = 0;
  std::string line;
  Status st = scan([&](const LogRecord& e) -> Status {
    if (r.session && e.session_id != r.session) return Status::Ok();
    if (r.server && e.server != r.server) return Status::Ok();
    const int64_t t = e.utc_ms.value_or(e.received_at);
    if ((from && t < *from) || (to && t >= *to)) return Status::Ok();
    ++matched;
    if (r.count) return Status::Ok();
    line.resize(e.body.size() + 1);
    size_t n = 0;
    if (simdjson::minify(e.body.data(), e.body.size(), line.data(), n) != simdjson::SUCCESS) {
      // Not JSON (it cannot be, once accepted): printed as a JSON string,
      // so that every line still parses.
      line.clear();
      AppendJsonString(&line, e.body);
      n = line.size();
    }
    line.resize(n);
    line += '\n';
    if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) {
      return Status::IoError("cannot write the events (output closed?)");
    }
    return Status::Ok();
  });
  SINK_RETURN_IF_ERROR(st);
  if (r.count) std::fprintf(out, "%lld\n", static_cast<long long>(matched));
  return std::fflush(out) == 0 ? Status::Ok() : Status::IoError("cannot write the events");
}

}  // namespace sink
