#include "ingest/platforms/nginx_rtmp_stored.h"

#include "ingest/platforms/platforms.h"
#include "ingest/platforms/record.h"
#include "store/json_text.h"
#include "store/platform.h"

namespace sink {
namespace nginx_rtmp {

namespace {

void Field(std::string* out, std::string_view key, std::string_view value) {
  *out += ',';
  AppendJsonString(out, key);
  *out += ':';
  AppendJsonString(out, value);
}
void Field(std::string* out, std::string_view key, int64_t value) {
  *out += ',';
  AppendJsonString(out, key);
  *out += ':';
  *out += std::to_string(value);
}

}  // namespace

bool IsClose(std::string_view call) {
  return call == "publish_done" || call == "play_done" || call == "done" || call == "disconnect";
}

std::string StoredBody(std::string_view instance, std::string_view call, int64_t at,
                       int64_t event_id, const Decision& d, const FormFields& fields,
                       const std::vector<std::string>& repeated,
                       const std::optional<std::string>& user,
                       const std::optional<std::string>& token) {
  std::string b = "{\"event\":";
  AppendJsonString(&b, std::string(kEventPrefix) + std::string(call));
  Field(&b, "server", instance);
  Field(&b, "utc_ms", at);
  Field(&b, "event_id", event_id);
  if (d.id) Field(&b, "id", *d.id);
  if (d.kind) Field(&b, "kind", *d.kind);
  if (d.media) Field(&b, "media", *d.media);
  if (user) Field(&b, "user_id", *user);
  if (token) Field(&b, "token", *token);
  if (d.opened_at) Field(&b, "opened_at", *d.opened_at);
  if (d.started_at) Field(&b, "started_at", *d.started_at);
  if (d.duration_ms) Field(&b, "duration_ms", *d.duration_ms);
  b += ",\"callback\":{";
  bool first = true;
  for (const auto& [k, v] : fields) {
    if (!first) b += ',';
    first = false;
    AppendJsonString(&b, k);
    b += ':';
    AppendJsonString(&b, v);
  }
  b += '}';
  if (!repeated.empty()) {
    b += ",\"repeated\":[";
    for (size_t i = 0; i < repeated.size(); ++i) {
      if (i) b += ',';
      AppendJsonString(&b, repeated[i]);
    }
    b += ']';
  }
  b += '}';
  return b;
}

}  // namespace nginx_rtmp

using nginx_rtmp::IsClose;
using nginx_rtmp::kEventPrefix;
using nginx_rtmp::StoredFields;

// A stored body (written by StoredBody) → its Event.
Result<Event> ParseNginxRtmpStored(std::string_view body, int64_t received_at) {
  std::unique_ptr<simdjson::dom::parser> big;
  simdjson::dom::parser& parser = ParserFor(body.size(), &big);
  simdjson::dom::element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root)) {
    return Status::Invalid(std::string("not an nginx-rtmp event: ") + simdjson::error_message(err));
  }
  simdjson::dom::object top, cb;
  if (root.get_object().get(top) != simdjson::SUCCESS) {
    return Status::Invalid("not an nginx-rtmp event: not a JSON object");
  }
  if (top["callback"].get_object().get(cb) != simdjson::SUCCESS) {
    return Status::Invalid("not an nginx-rtmp event: no \"callback\" object");
  }
  const StoredFields r{top};
  const StoredFields c{cb};
  const std::optional<std::string> name = r.Text("event");
  if (!name || name->compare(0, kEventPrefix.size(), kEventPrefix) != 0) {
    return Status::Invalid("not an nginx-rtmp event: \"event\" does not start with nginx-rtmp.");
  }
  Event e;
  e.platform = NameOf(Platform::kNginxRtmp);
  e.name = *name;
  e.body = std::string(body);
  e.kind_explicit = true;
  e.server = r.Text("server");
  e.utc_ms = r.Int("utc_ms");
  if (!e.utc_ms || *e.utc_ms <= 0) e.utc_ms = received_at;
  e.event_id = r.Int("event_id");
  e.media = r.Text("media");
  e.user_id = r.Text("user_id");
  e.token = r.Text("token");
  e.opened_at = r.Int("opened_at");
  e.started_at = r.Int("started_at");
  e.duration_ms = r.Int("duration_ms");
  const std::string call = c.Text("call").value_or(name->substr(kEventPrefix.size()));
  e.raw_state = call;
  e.proto = "rtmp";
  e.user_agent = c.Text("flashver");
  e.referer = c.Text("pageurl");
  const std::optional<std::string> kind = r.Text("kind");
  const std::optional<std::string> addr = c.Text("addr");
  const std::optional<std::string> stream = c.Text("name");
  if (kind == std::optional<std::string>("push")) {
    // A relay: addr is the push target (host:port/app), not a client.
    if (addr && stream) e.url = "rtmp://" + *addr + "/" + *stream;
  } else {
    e.ip = addr;
    const std::optional<std::string> tcurl = c.Text("tcurl");
    if (tcurl && stream) e.url = *tcurl + "/" + *stream;
  }
  const std::optional<std::string> id = r.Text("id");
  if (!id || !kind) {
    e.phase = Phase::kNone;  // connect, record_done, a disconnect of no session, …
    return e;
  }
  e.id = id;
  e.kind = *kind;
  e.external_id = c.Text("clientid");
  if (call == "publish" || call == "play") {
    e.phase = e.started_at ? Phase::kStarted : Phase::kOpened;
  } else if (call == "update_publish" || call == "update_play") {
    // Before it started (a player waiting for a stream nobody publishes),
    // an update only keeps the session alive.
    e.phase = e.started_at ? Phase::kUpdated : Phase::kOther;
    e.updated_at = e.utc_ms;
  } else if (IsClose(call)) {
    e.phase = Phase::kClosed;
    e.closed_at = e.utc_ms;
    e.end_class = "normal";
    e.raw_reason = call;
  } else {
    e.phase = Phase::kOther;
  }
  return e;
}

}  // namespace sink
