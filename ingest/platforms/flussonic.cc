#include "ingest/platforms/flussonic.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>

#include "ingest/json_check.h"
#include "store/limits.h"
#include "store/text.h"
#include "store/timeutil.h"

namespace sink {

namespace od = simdjson::ondemand;
using json::Describe;
using json::IsJsonNumber;
using json::Token;
using json::TrimRight;
using json::Validate;
using simdjson::error_code;
using simdjson::SUCCESS;

namespace {

// The fields we read. Everything else is validated and kept in the body.
enum class Field {
  kEvent,
  kId,
  kSessionId,
  kType,
  kServer,
  kMedia,
  kSourceId,
  kParentId,
  kUserId,
  kToken,
  kIp,
  kProto,
  kCountry,
  kUserAgent,
  kReferer,
  kUrl,
  kReason,
  kEventId,
  kUtcMs,
  kOpenedAt,
  kAuthorizedAt,
  kStartedAt,
  kUpdatedAt,
  kClosedAt,
  kBytes,
  kDuration,
};

const std::unordered_map<std::string_view, Field>& FieldTable() {
  static const std::unordered_map<std::string_view, Field> kTable = {
      {"event", Field::kEvent},
      {"id", Field::kId},
      {"session_id", Field::kSessionId},
      {"type", Field::kType},
      {"server", Field::kServer},
      {"media", Field::kMedia},
      {"source_id", Field::kSourceId},
      {"parent_id", Field::kParentId},
      {"user_id", Field::kUserId},
      {"token", Field::kToken},
      {"ip", Field::kIp},
      {"proto", Field::kProto},
      {"country", Field::kCountry},
      {"user_agent", Field::kUserAgent},
      {"referer", Field::kReferer},
      {"url", Field::kUrl},
      {"reason", Field::kReason},
      {"event_id", Field::kEventId},
      {"utc_ms", Field::kUtcMs},
      {"opened_at", Field::kOpenedAt},
      {"authorized_at", Field::kAuthorizedAt},
      {"started_at", Field::kStartedAt},
      {"updated_at", Field::kUpdatedAt},
      {"closed_at", Field::kClosedAt},
      {"bytes", Field::kBytes},
      {"duration", Field::kDuration},
  };
  return kTable;
}

// Number text → an exact int64 when it is one, else a finite double.
// Leaves both absent when the text is not a number or does not fit.
void NumberFromText(std::string_view s, std::optional<double>* out,
                    std::optional<int64_t>* as_int) {
  if (const std::optional<int64_t> i = WholeInt64(s)) {
    *as_int = i;
    *out = static_cast<double>(*i);
  } else if (const std::optional<double> d = json::DoubleFromText(s)) {
    *out = d;
  }
}

// Reads a number or a numeric string. Numbers that do not fit, and other
// types: absent.
error_code ReadNumber(od::value v, std::optional<double>* out, std::optional<int64_t>* as_int) {
  od::json_type t;
  error_code err = v.type().get(t);
  if (err) return err;
  if (t == od::json_type::number) {
    const std::string_view tok = Token(v);
    if (!IsJsonNumber(tok)) return simdjson::NUMBER_ERROR;
    NumberFromText(tok, out, as_int);
    return SUCCESS;
  }
  if (t == od::json_type::string) {
    std::string_view s;
    if ((err = v.get_string().get(s))) return err;
    NumberFromText(s, out, as_int);
    return SUCCESS;
  }
  return Validate(v, 1);
}

error_code ReadInt(od::value v, std::optional<int64_t>* out) {
  std::optional<double> d;
  std::optional<int64_t> i;
  error_code err = ReadNumber(v, &d, &i);
  if (err) return err;
  if (i) {
    *out = i;
  } else if (d && std::fabs(*d) < 9.0e18) {
    *out = static_cast<int64_t>(std::llround(*d));
  }
  return SUCCESS;
}

// Timestamps: numbers in seconds or ms (by magnitude), numeric strings, ISO-8601.
error_code ReadTimestamp(od::value v, std::optional<int64_t>* out) {
  od::json_type t;
  error_code err = v.type().get(t);
  if (err) return err;
  if (t == od::json_type::string) {
    std::string_view s;
    if ((err = v.get_string().get(s))) return err;
    *out = ParseTimestampText(s);
    return SUCCESS;
  }
  std::optional<double> d;
  std::optional<int64_t> i;
  if ((err = ReadNumber(v, &d, &i))) return err;
  if (i) {
    *out = NormalizeTimestamp(*i);
  } else if (d) {
    *out = NormalizeTimestamp(*d);
  }
  return SUCCESS;
}

// Text fields: strings as they are; numbers as their JSON text (user_id 42 →
// "42"); null, booleans, objects and arrays: absent.
error_code ReadText(od::value v, std::optional<std::string>* out) {
  od::json_type t;
  error_code err = v.type().get(t);
  if (err) return err;
  if (t != od::json_type::string && t != od::json_type::number) return Validate(v, 1);
  std::string_view text;
  if ((err = json::ScalarText(v, t, &text))) return err;
  *out = std::string(text);
  return SUCCESS;
}

// "reason": a string is kept as is; any other value as compact JSON text.
error_code ReadReason(od::document& doc, od::value v, std::optional<std::string>* out) {
  od::json_type t;
  error_code err = v.type().get(t);
  if (err) return err;
  if (t == od::json_type::string) {
    std::string_view s;
    if ((err = v.get_string().get(s))) return err;
    *out = std::string(s);
    return SUCCESS;
  }
  if (t == od::json_type::null) return Validate(v, 1);
  if (t == od::json_type::number || t == od::json_type::boolean) {
    const std::string_view tok = Token(v);
    if ((err = Validate(v, 1))) return err;
    *out = std::string(tok);
    return SUCCESS;
  }
  const char* start = v.raw_json_token().data();
  if ((err = Validate(v, 1))) return err;
  const char* end = nullptr;
  if ((err = doc.current_location().get(end))) return err;  // "}" or "," follows
  std::string_view raw = TrimRight(std::string_view(start, static_cast<size_t>(end - start)));
  std::string compact(raw.size(), '\0');
  size_t len = 0;
  if ((err = simdjson::minify(raw.data(), raw.size(), compact.data(), len))) return err;
  compact.resize(len);
  *out = std::move(compact);
  return SUCCESS;
}

// Splits "play_opened" into a session kind and a phase.
void Classify(Event* e, const std::optional<std::string>& type) {
  std::string_view name = e->name;
  const size_t us = name.find('_');
  const std::string_view family = name.substr(0, us);
  const std::string_view phase = us == std::string_view::npos ? "" : name.substr(us + 1);

  if (family == "play" || family == "publish" || family == "ingest" || family == "push" ||
      family == "stream") {
    e->kind = std::string(family);
    e->kind_explicit = true;
  } else if (family == "source") {
    // Flussonic reports publish and ingest sessions both as source_*; "type"
    // tells which. Without it, a "publish://" URL means publish; otherwise
    // the source was pulled by the server: ingest.
    if (type && (*type == "publish" || *type == "ingest")) {
      e->kind = *type;
      e->kind_explicit = true;
    } else {
      const bool publish_url = e->url && e->url->rfind("publish://", 0) == 0;
      e->kind = publish_url ? "publish" : "ingest";
      e->kind_explicit = false;  // inferred: a stated "type" elsewhere wins
    }
  } else {
    e->phase = Phase::kNone;
    return;
  }

  static const std::unordered_map<std::string_view, Phase> kPhases = {
      {"opened", Phase::kOpened},         {"connected", Phase::kConnected},
      {"authorized", Phase::kAuthorized}, {"started", Phase::kStarted},
      {"updated", Phase::kUpdated},       {"altered", Phase::kAltered},
      {"overflowed", Phase::kOverflowed}, {"stalled", Phase::kStalled},
      {"recovered", Phase::kRecovered},   {"denied", Phase::kDenied},
      {"closed", Phase::kClosed},         {"blocked", Phase::kStalled},
      {"restored", Phase::kRecovered},    {"stopped", Phase::kClosed},
  };
  auto it = kPhases.find(phase);
  e->phase = it == kPhases.end() ? Phase::kOther : it->second;
}

// The fields of an item that are not Event members as such.
struct ItemFields {
  std::optional<std::string> name, type, session_id;
  bool name_wrong_type = false;
};

// Reads the value of one field we model into `e` (or `x`).
error_code ReadField(Field field, od::document& doc, od::value v, Event* e, ItemFields* x) {
  error_code err = SUCCESS;
  switch (field) {
    case Field::kEvent: {
      od::json_type vt;
      if ((err = v.type().get(vt))) break;
      if (vt == od::json_type::string) {
        std::string_view s;
        if (!(err = v.get_string().get(s))) {
          x->name = std::string(s);
          x->name_wrong_type = false;
        }
      } else {
        x->name.reset();
        x->name_wrong_type = true;
        err = Validate(v, 1);
      }
      break;
    }
    case Field::kId:
      err = ReadText(v, &e->id);
      break;
    case Field::kSessionId:
      err = ReadText(v, &x->session_id);
      break;
    case Field::kType:
      err = ReadText(v, &x->type);
      break;
    case Field::kServer:
      err = ReadText(v, &e->server);
      break;
    case Field::kMedia:
      err = ReadText(v, &e->media);
      break;
    case Field::kSourceId:
      err = ReadText(v, &e->source_id);
      break;
    case Field::kParentId:
      err = ReadText(v, &e->parent_id);
      break;
    case Field::kUserId:
      err = ReadText(v, &e->user_id);
      break;
    case Field::kToken:
      err = ReadText(v, &e->token);
      break;
    case Field::kIp:
      err = ReadText(v, &e->ip);
      break;
    case Field::kProto:
      err = ReadText(v, &e->proto);
      break;
    case Field::kCountry:
      err = ReadText(v, &e->country);
      break;
    case Field::kUserAgent:
      err = ReadText(v, &e->user_agent);
      break;
    case Field::kReferer:
      err = ReadText(v, &e->referer);
      break;
    case Field::kUrl:
      err = ReadText(v, &e->url);
      break;
    case Field::kReason:
      err = ReadReason(doc, v, &e->reason);
      break;
    case Field::kEventId:
      err = ReadInt(v, &e->event_id);
      break;
    case Field::kUtcMs:
      err = ReadTimestamp(v, &e->utc_ms);
      break;
    case Field::kOpenedAt:
      err = ReadTimestamp(v, &e->opened_at);
      break;
    case Field::kAuthorizedAt:
      err = ReadTimestamp(v, &e->authorized_at);
      break;
    case Field::kStartedAt:
      err = ReadTimestamp(v, &e->started_at);
      break;
    case Field::kUpdatedAt:
      err = ReadTimestamp(v, &e->updated_at);
      break;
    case Field::kClosedAt:
      err = ReadTimestamp(v, &e->closed_at);
      break;
    case Field::kBytes:
      err = ReadInt(v, &e->bytes);
      break;
    case Field::kDuration: {
      std::optional<double> d;
      std::optional<int64_t> i;
      err = ReadNumber(v, &d, &i);
      if (!err && d && std::isfinite(*d) && *d >= 0 && *d < 9.0e15) {
        e->duration_ms = static_cast<int64_t>(std::llround(*d * 1000.0));
      }
      break;
    }
  }
  return err;
}

}  // namespace

Status ParseItem(std::string_view item, size_t capacity, Event* event, std::string* reject_reason) {
  std::unique_ptr<od::parser> big_parser;
  od::document doc;
  od::object obj;
  SINK_RETURN_IF_ERROR(
      json::OpenItem(item, capacity, "event", &big_parser, &doc, &obj, reject_reason));
  if (!reject_reason->empty()) return Status::Ok();  // not an event
  error_code err = SUCCESS;
  Event& e = *event;
  ItemFields x;
  const auto& table = FieldTable();
  for (auto field : obj) {
    std::string_view key;
    od::value v;
    if ((err = field.unescaped_key().get(key)) || (err = field.value().get(v))) {
      return Status::Invalid(Describe(err));
    }
    auto it = table.find(key);
    err = it == table.end() ? Validate(v, 1) : ReadField(it->second, doc, v, &e, &x);
    if (err) return Status::Invalid(Describe(err));
  }
  SINK_RETURN_IF_ERROR(json::AtEnd(doc));

  if (!x.name) {
    *reject_reason = x.name_wrong_type ? "\"event\" must be a string" : "missing \"event\" field";
    return Status::Ok();
  }
  if (x.name->empty()) {
    *reject_reason = "\"event\" is empty";
    return Status::Ok();
  }
  e.name = std::move(*x.name);
  if (e.id && e.id->empty()) e.id.reset();
  if (x.session_id && x.session_id->empty()) x.session_id.reset();
  if (!e.id) e.id = std::move(x.session_id);
  if (e.id) {
    if (const std::string_view prefix = PlatformIdPrefix(*e.id); !prefix.empty()) {
      *reject_reason = "\"id\" starts with '" + std::string(prefix) +
                       "', which names another platform's sessions (docs/platforms.md)";
      return Status::Ok();
    }
  }
  Classify(&e, x.type);
  e.body = std::string(item);
  return Status::Ok();
}

Result<ParsedBody> ParseBody(simdjson::padded_string_view body) {
  BodyItems items(body, &ParseItem);
  const size_t start = items.Start();
  if (start == body.size()) return Status::Invalid("empty body: expected a JSON array of events");
  const char first = body[start];
  if (first == '[') {
    SINK_RETURN_IF_ERROR(items.AddArray(start));
    return items.Take();
  }
  if (first != '{') {
    return Status::Invalid(
        "body must be a JSON array of events, a JSON object or NDJSON (one object per line)");
  }

  // NDJSON (one object per line) when the first line holds a whole value;
  // otherwise one object, possibly pretty-printed over several lines.
  std::string_view text(body.data() + start, body.size() - start);
  const size_t first_eol = text.find('\n');
  if (first_eol != std::string_view::npos && !items.Parses(TrimRight(text.substr(0, first_eol)))) {
    SINK_RETURN_IF_ERROR(items.Add(TrimRight(text)));
    return items.Take();
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    line = TrimRight(json::TrimLeft(line));
    if (!line.empty()) SINK_RETURN_IF_ERROR(items.Add(line));
  }
  return items.Take();
}

}  // namespace sink
