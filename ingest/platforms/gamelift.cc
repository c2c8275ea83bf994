// Amazon GameLift Streams: stream session status records → Events.
//
// Status (API_StreamSessionSummary): ACTIVATING (placement) → ACTIVE (ready;
// the client has ConnectionTimeoutSeconds to connect) → CONNECTED →
// PENDING_CLIENT_RECONNECTION / RECONNECTING → TERMINATING → TERMINATED, or
// ERROR (failed to activate). docs/platforms.md has the whole mapping.
#include <string>

#include "ingest/platforms/platforms.h"
#include "ingest/platforms/record.h"
#include "store/limits.h"

namespace sink {

namespace {

// end_class of a TERMINATED session by StatusReason.
std::string TerminatedClass(const std::optional<std::string>& reason) {
  if (!reason) return "unknown";
  if (*reason == "apiTerminated") return "admin_kick";
  if (*reason == "idleTimeout") return "idle_timeout";
  if (*reason == "maxSessionLengthTimeout") return "limit";
  if (*reason == "connectionTimeout" || *reason == "reconnectionTimeout") return "network";
  if (*reason == "applicationExit") return "app_crash";
  return "unknown";
}

// The record of one session, or why it is not one.
Status ToEvent(const Record& r, Event* e) {
  const std::optional<std::string> arn = r.Text("Arn");
  const std::optional<std::string> status = r.Text("Status");
  if (!arn) return Status::Invalid("not a GameLift Streams session record: no \"Arn\"");
  if (!status) return Status::Invalid("not a GameLift Streams session record: no \"Status\"");
  e->platform = NameOf(Platform::kGameLift);
  e->kind = "play";
  e->kind_explicit = true;
  e->body = r.json;
  e->id = "gamelift/" + *arn;  // its platform's namespace (PlatformIdPrefix)
  e->name = "gamelift." + *status;
  e->raw_state = status;
  e->raw_reason = r.Text("StatusReason");
  e->user_id = r.Text("UserId");
  e->server = r.Text("Location");
  e->media = r.Text("ApplicationArn");
  e->proto = r.Text("Protocol");
  e->opened_at = r.Time("CreatedAt");
  e->utc_ms = r.Time("LastUpdatedAt");
  if (!e->utc_ms) e->utc_ms = e->opened_at;

  // Placement (waiting for capacity) runs from CreatedAt until ACTIVE.
  e->queue_enter = e->opened_at.has_value() || *status == "ACTIVATING";
  const std::string& s = *status;
  if (s == "ACTIVATING") {
    e->phase = Phase::kOpened;
  } else if (s == "ACTIVE") {
    e->phase = Phase::kAuthorized;
    e->queue_leave = true;
  } else if (s == "CONNECTED") {
    e->phase = Phase::kStarted;
    e->queue_leave = true;
    e->reconnect_end = true;
  } else if (s == "PENDING_CLIENT_RECONNECTION" || s == "RECONNECTING") {
    e->phase = Phase::kStalled;
    e->queue_leave = true;
    e->reconnect_begin = true;
  } else if (s == "TERMINATING") {
    e->phase = Phase::kOther;
    e->queue_leave = true;
  } else if (s == "TERMINATED") {
    e->phase = Phase::kClosed;
    e->queue_leave = true;
    e->end_class = TerminatedClass(e->raw_reason);
  } else if (s == "ERROR") {
    // Failed to activate: still in placement when it failed.
    e->phase = Phase::kClosed;
    e->end_class = e->raw_reason == "placementTimeout" ? "capacity" : "internal";
  } else {
    e->phase = Phase::kOther;  // kept verbatim in raw_state
  }
  if (e->phase == Phase::kClosed) {
    e->reason = e->raw_reason;
    e->closed_at = e->utc_ms;
  }
  return Status::Ok();
}

}  // namespace

Result<ParsedBody> ParseGameLiftBody(simdjson::padded_string_view body) {
  std::unique_ptr<simdjson::dom::parser> big;
  simdjson::dom::parser& parser = ParserFor(body.size(), &big);
  Result<std::vector<simdjson::dom::element>> items =
      JsonItems(parser, std::string_view(body.data(), body.size()));
  if (!items.ok()) return items.status();
  // ListStreamSessions' {"Items": [...]} and EventBridge's {"detail": {...}}.
  std::vector<simdjson::dom::element> records;
  for (simdjson::dom::element item : items.value()) {
    simdjson::dom::array list;
    simdjson::dom::element detail;
    if (item["Items"].get_array().get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element e : list) records.push_back(e);
    } else if (item["detail"].get(detail) == simdjson::SUCCESS && detail.is_object()) {
      records.push_back(detail);
    } else {
      records.push_back(item);
    }
  }
  SINK_RETURN_IF_ERROR(CheckItemCount(records.size()));
  ParsedBody out;
  for (size_t i = 0; i < records.size(); ++i) {
    simdjson::dom::object o;
    Status st = Status::Invalid("not an object: expected a GameLift Streams session record");
    Event e;
    if (records[i].get_object().get(o) == simdjson::SUCCESS) st = ToEvent(RecordFromObject(o), &e);
    if (st.ok()) {
      out.events.push_back(std::move(e));
    } else {
      Reject rej;
      rej.index = static_cast<int64_t>(i);
      rej.reason = st.message();
      if (out.rejects.size() < limits::kMaxRejectRowsPerRequest) {
        rej.body = simdjson::minify(records[i]);
      }
      AddReject(std::move(rej), &out);
    }
  }
  return out;
}

}  // namespace sink
