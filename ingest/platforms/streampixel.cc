// Streampixel: the iframe's window.postMessage messages (stream-state,
// stream-metadata) and the Web SDK's disconnect and AFK events, as relayed
// by clients/streampixel/sessionsink-streampixel.js.
//
// Wire item: {"key": string, "seq": integer?, "at": number, "message":
// object, "user_id"?, "project"?, "page"?, "user_agent"?}. One item per
// message; "streampixel/" + the client session key (one per page view) is
// the session id.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>

#include "ingest/json_check.h"
#include "ingest/platforms/platforms.h"
#include "store/text.h"
#include "store/timeutil.h"

namespace sink {

namespace od = simdjson::ondemand;
using json::Describe;
using json::Validate;
using simdjson::error_code;
using simdjson::SUCCESS;

namespace {

// A value read from one field: absent, read, or present with a type the
// wire format does not allow (the item is then rejected).
template <typename T>
struct Slot {
  std::optional<T> value;
  const char* wrong_type = nullptr;  // the JSON type found, when wrong
  void Set(T v) {
    value = std::move(v);
    wrong_type = nullptr;
  }
  void Wrong(od::json_type t) {
    value.reset();
    wrong_type = json::TypeName(t);
  }
};

// Text fields: a string as is, a number as its JSON text, null absent;
// anything else is the wrong type.
error_code ReadText(od::value v, Slot<std::string>* out) {
  od::json_type t;
  error_code err = v.type().get(t);
  if (err) return err;
  if (t == od::json_type::string || t == od::json_type::number) {
    std::string_view text;
    if ((err = json::ScalarText(v, t, &text))) return err;
    out->Set(std::string(text));
    return SUCCESS;
  }
  if ((err = Validate(v, 2))) return err;
  if (t == od::json_type::null) {
    out->value.reset();
    out->wrong_type = nullptr;
  } else {
    out->Wrong(t);
  }
  return SUCCESS;
}

// A string, or nothing (other types validated and ignored). For fields of
// the platform's message, which we keep whatever they hold.
error_code ReadLooseString(od::value v, int depth, std::optional<std::string>* out) {
  od::json_type t;
  error_code err = v.type().get(t);
  if (err) return err;
  if (t != od::json_type::string) {
    out->reset();
    return Validate(v, depth);
  }
  std::string_view s;
  if ((err = v.get_string().get(s))) return err;
  *out = std::string(s);
  return SUCCESS;
}

// What the item's "message" says that we read.
struct Message {
  std::optional<std::string> type;
  std::optional<std::string> value;  // stream-state's value
  std::optional<int64_t> code;       // an integer "code"
  std::optional<std::string> reason;
  std::optional<std::string> session_id;
  std::optional<std::string> streamer_id;
};

error_code ReadMessage(od::value v, Message* m) {
  od::object o;
  error_code err = v.get_object().get(o);
  if (err) return err;
  for (auto field : o) {
    std::string_view key;
    od::value fv;
    if ((err = field.unescaped_key().get(key)) || (err = field.value().get(fv))) return err;
    if (key == "type") {
      err = ReadLooseString(fv, 2, &m->type);
    } else if (key == "value") {
      err = ReadLooseString(fv, 2, &m->value);
    } else if (key == "reason") {
      err = ReadLooseString(fv, 2, &m->reason);
    } else if (key == "sessionId") {
      err = ReadLooseString(fv, 2, &m->session_id);
    } else if (key == "streamerId") {
      err = ReadLooseString(fv, 2, &m->streamer_id);
    } else if (key == "code") {
      od::json_type t;
      if ((err = fv.type().get(t))) return err;
      m->code.reset();
      if (t == od::json_type::number) {
        const std::string_view tok = json::Token(fv);
        if (!json::IsJsonNumber(tok)) return simdjson::NUMBER_ERROR;
        m->code = WholeInt64(tok);
      } else {
        err = Validate(fv, 2);
      }
    } else {
      err = Validate(fv, 2);
    }
    if (err) return err;
  }
  return SUCCESS;
}

// Why a session ended, from a Streampixel / WebSocket close code.
std::string EndClassForCode(int64_t code) {
  switch (code) {
    case 1000:
      return "normal";
    case 1001:
      return "user_left";
    case 1005:
    case 1006:
      return "network";
    case 4000:
      return "admin_kick";
    case 4001:
      return "capacity";
    case 4002:
      return "internal";
    case 4003:
    case 4005:
    case 4006:
      return "app_crash";
    case 4004:
      return "limit";
    default:
      return "unknown";  // 4007 included: its meaning is not documented consistently
  }
}

// "queue-N": waiting in line at position N.
bool IsQueuePosition(std::string_view v) {
  constexpr std::string_view kPrefix = "queue-";
  if (v.size() <= kPrefix.size() || v.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : v.substr(kPrefix.size())) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A stream-state value → phase and flags.
void ClassifyState(std::string_view v, const Message& m, Event* e) {
  if (v == "authenticating" || v == "requesting") {
    e->phase = Phase::kOpened;
  } else if (IsQueuePosition(v)) {
    e->phase = Phase::kOther;
    e->queue_enter = true;
  } else if (v == "connecting" || v == "finalising") {
    e->phase = Phase::kConnected;
    e->queue_leave = true;
  } else if (v == "loadingComplete" || v == "streaming") {
    e->phase = Phase::kStarted;
    e->queue_leave = true;
    e->reconnect_end = true;
  } else if (v == "afkWarning") {
    e->phase = Phase::kStalled;
  } else if (v == "afkAbort") {
    e->phase = Phase::kRecovered;
  } else if (v == "reconnecting") {
    e->phase = Phase::kStalled;
    e->reconnect_begin = true;
  } else if (v == "restricted") {
    e->phase = Phase::kDenied;
    e->end_class = "denied";
  } else if (v == "disconnected") {
    e->phase = Phase::kClosed;
    e->end_class = m.code ? EndClassForCode(*m.code) : "normal";
  } else if (v == "failed") {
    e->phase = Phase::kClosed;
    e->end_class = m.code ? EndClassForCode(*m.code) : "unknown";
  } else {
    e->phase = Phase::kOther;  // showPassword, hidePassword, anything new
  }
}

// The message → name, phase, flags, raw state and reason.
void Classify(const Message& m, Event* e) {
  const std::string& type = *m.type;
  e->name = "streampixel." + type;
  e->raw_state = type;
  if (m.code) {
    e->raw_reason = std::to_string(*m.code);
  } else if (m.reason) {
    e->raw_reason = m.reason;
  }

  if (type == "stream-state") {
    if (m.value) {
      e->raw_state = m.value;
      ClassifyState(*m.value, m, e);
    } else {
      e->phase = Phase::kOther;
    }
  } else if (type == "stream-metadata") {
    e->phase = Phase::kOther;
    if (m.session_id && !m.session_id->empty()) e->external_id = m.session_id;
    if (m.streamer_id && !m.streamer_id->empty()) e->server = m.streamer_id;
  } else if (type == "afkWarningActivate") {
    e->phase = Phase::kStalled;
  } else if (type == "afkWarningDeactivate") {
    e->phase = Phase::kRecovered;
  } else if (type == "afkTimedOut") {
    e->phase = Phase::kClosed;
    e->end_class = "idle_timeout";
  } else if (type == "disconnect") {
    e->phase = Phase::kClosed;
    e->end_class = m.code ? EndClassForCode(*m.code) : "unknown";
  } else {
    e->phase = Phase::kOther;  // afkWarningUpdate and any other message
  }
}

// Parses one wire item. Fills `event`, or `reject_reason` when the item is
// valid JSON but not a relayed message. REQUIRES: `capacity` >= item.size()
// + SIMDJSON_PADDING readable bytes.
Status ParseRelayItem(std::string_view item, size_t capacity, Event* event,
                      std::string* reject_reason) {
  std::unique_ptr<od::parser> big_parser;
  od::document doc;
  od::object obj;
  SINK_RETURN_IF_ERROR(
      json::OpenItem(item, capacity, "item", &big_parser, &doc, &obj, reject_reason));
  if (!reject_reason->empty()) return Status::Ok();  // not a relayed message
  error_code err = SUCCESS;
  Event& e = *event;
  Slot<std::string> key, user_id, project, page, user_agent;
  Slot<int64_t> seq;
  // "at": seconds or ms by magnitude; -1 when too large to be a time.
  double at = -1;
  bool has_at = false;
  const char* at_wrong_type = nullptr;
  Slot<Message> message;
  for (auto field : obj) {
    std::string_view name;
    od::value v;
    if ((err = field.unescaped_key().get(name)) || (err = field.value().get(v))) {
      return Status::Invalid(Describe(err));
    }
    od::json_type vt;
    if ((err = v.type().get(vt))) return Status::Invalid(Describe(err));
    if (name == "key") {
      if (vt == od::json_type::string) {
        std::string_view s;
        if (!(err = v.get_string().get(s))) key.Set(std::string(s));
      } else if (!(err = Validate(v, 1))) {
        key.Wrong(vt);
      }
    } else if (name == "seq") {
      if (vt == od::json_type::number) {
        const std::string_view tok = json::Token(v);
        if (!json::IsJsonNumber(tok)) return Status::Invalid(Describe(simdjson::NUMBER_ERROR));
        if (std::optional<int64_t> i = WholeInt64(tok)) {
          seq.Set(*i);
        } else {
          seq.value.reset();
          seq.wrong_type = "a number that is not an integer";
        }
      } else if (!(err = Validate(v, 1))) {
        if (vt == od::json_type::null) {
          seq = {};  // optional: null is absent
        } else {
          seq.Wrong(vt);
        }
      }
    } else if (name == "at") {
      if (vt == od::json_type::number) {
        const std::string_view tok = json::Token(v);
        if (!json::IsJsonNumber(tok)) return Status::Invalid(Describe(simdjson::NUMBER_ERROR));
        at = json::DoubleFromText(tok).value_or(-1);
        has_at = true;
        at_wrong_type = nullptr;
      } else if (!(err = Validate(v, 1))) {
        has_at = false;
        at_wrong_type = json::TypeName(vt);
      }
    } else if (name == "message") {
      if (vt == od::json_type::object) {
        Message m;
        if (!(err = ReadMessage(v, &m))) message.Set(std::move(m));
      } else if (!(err = Validate(v, 1))) {
        message.Wrong(vt);
      }
    } else if (name == "user_id") {
      err = ReadText(v, &user_id);
    } else if (name == "project") {
      err = ReadText(v, &project);
    } else if (name == "page") {
      err = ReadText(v, &page);
    } else if (name == "user_agent") {
      err = ReadText(v, &user_agent);
    } else {
      err = Validate(v, 1);
    }
    if (err) return Status::Invalid(Describe(err));
  }
  SINK_RETURN_IF_ERROR(json::AtEnd(doc));

  // The first problem found, in the order a sender would fix them.
  auto wrong = [](const char* field, const char* expected, const char* got) {
    return std::string("\"") + field + "\" must be " + expected + ", got " + got;
  };
  if (key.wrong_type) {
    *reject_reason = wrong("key", "a string", key.wrong_type);
  } else if (!key.value) {
    *reject_reason = "missing \"key\" (the client session key)";
  } else if (key.value->empty()) {
    *reject_reason = "\"key\" is empty";
  } else if (at_wrong_type) {
    *reject_reason = wrong("at", "a number (ms since the epoch)", at_wrong_type);
  } else if (!has_at) {
    *reject_reason = "missing \"at\" (ms since the epoch)";
  } else if (message.wrong_type) {
    *reject_reason = wrong("message", "an object", message.wrong_type);
  } else if (!message.value) {
    *reject_reason = "missing \"message\"";
  } else if (!message.value->type) {
    *reject_reason = "\"message\" has no string \"type\"";
  } else if (message.value->type->empty()) {
    *reject_reason = "\"message.type\" is empty";
  } else if (seq.wrong_type) {
    *reject_reason = wrong("seq", "an integer", seq.wrong_type);
  } else if (user_id.wrong_type) {
    *reject_reason = wrong("user_id", "a string", user_id.wrong_type);
  } else if (project.wrong_type) {
    *reject_reason = wrong("project", "a string", project.wrong_type);
  } else if (page.wrong_type) {
    *reject_reason = wrong("page", "a string", page.wrong_type);
  } else if (user_agent.wrong_type) {
    *reject_reason = wrong("user_agent", "a string", user_agent.wrong_type);
  }
  if (!reject_reason->empty()) return Status::Ok();

  // An integral value keeps its exact int64 (no rounding through double).
  const std::optional<int64_t> utc_ms = at == std::trunc(at) && std::fabs(at) < 9.0e15
                                            ? NormalizeTimestamp(static_cast<int64_t>(at))
                                            : NormalizeTimestamp(at);
  if (!utc_ms) {
    *reject_reason = "\"at\" must be a positive time (ms since the epoch)";
    return Status::Ok();
  }

  e.platform = NameOf(Platform::kStreampixel);
  e.kind = "play";
  e.kind_explicit = true;
  e.id = "streampixel/" + *key.value;  // its platform's namespace (PlatformIdPrefix)
  e.utc_ms = utc_ms;
  e.event_id = seq.value;
  e.user_id = std::move(user_id.value);
  e.media = std::move(project.value);
  e.url = std::move(page.value);
  e.user_agent = std::move(user_agent.value);
  Classify(*message.value, &e);
  e.body = std::string(item);
  return Status::Ok();
}

}  // namespace

Result<ParsedBody> ParseStreampixelBody(simdjson::padded_string_view body) {
  BodyItems items(body, &ParseRelayItem);
  const size_t start = items.Start();
  if (start == body.size()) {
    return Status::Invalid("empty body: expected a JSON object or an array of objects");
  }
  if (body[start] == '{') {
    SINK_RETURN_IF_ERROR(
        items.Add(json::TrimRight(std::string_view(body.data() + start, body.size() - start))));
    return items.Take();
  }
  if (body[start] != '[') {
    return Status::Invalid("body must be a JSON object or a JSON array of objects");
  }
  SINK_RETURN_IF_ERROR(items.AddArray(start));
  return items.Take();
}

}  // namespace sink
