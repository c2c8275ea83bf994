// ZEGO: server callbacks and client state changes → Events.
//
// Sessions (ids are built so server and client reports of the same thing
// meet in one row):
//   room presence  zego/<room_id>/user/<user>/<login session_id>  kind play
//   a published stream  zego/<room_id>/stream/<stream_id>         kind publish
//   a played stream  zego/<room_id>/play/<stream_id>/<user>       kind play
//   the room itself  zego/<room_id>/room/<room_seq>               kind stream
// Each part is IdPart-escaped (no '/' inside), and the tag after the room
// says how many parts follow: two distinct sessions never share an id.
// docs/platforms.md has the mapping of every callback, state and code.
#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string>

#include "ingest/platforms/platforms.h"
#include "ingest/platforms/record.h"
#include "store/limits.h"

namespace sink {

namespace {

std::string Upper(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '-' || c == ' ') continue;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

// A state given by name ("RECONNECTING", "Reconnecting") or by number, as
// an index into `names` (spelled without underscores, upper case); -1 if
// unknown.
int StateIndex(const std::optional<std::string>& v, std::initializer_list<const char*> names) {
  if (!v) return -1;
  const std::string u = Upper(*v);
  int i = 0;
  for (const char* n : names) {
    if (u == n || u == std::to_string(i)) return i;
    ++i;
  }
  return -1;
}

std::string PresenceId(const std::string& room, const std::string& user, const Record& r) {
  return "zego/" + IdPart(room) + "/user/" + IdPart(user) + "/" +
         IdPart(r.Text("session_id").value_or(""));
}
std::string StreamId(const std::string& room, const std::string& stream) {
  return "zego/" + IdPart(room) + "/stream/" + IdPart(stream);
}

// room_logout "reason".
std::string LogoutClass(const std::optional<int64_t>& reason) {
  if (!reason) return "unknown";
  switch (*reason) {
    case 0:
      return "normal";
    case 1:  // heartbeat timeout (no heartbeat for 90 s)
    case 2:  // network disconnected
      return "network";
    case 3:  // kicked out
      return "admin_kick";
    case 4:  // token expired
      return "denied";
    default:
      return "unknown";
  }
}

// stream_close "type".
std::string StreamCloseClass(const std::optional<int64_t>& type) {
  if (!type) return "unknown";
  switch (*type) {
    case 0:  // stopPublishingStream
      return "normal";
    case 1:  // heartbeat timeout
    case 4:  // TCP disconnected
      return "network";
    case 2:  // the same user logged into the room again
      return "user_left";
    case 3:    // kicked out by the server
    case 5:    // room cleared
    case 100:  // DeleteStream server API
      return "admin_kick";
    default:
      return "unknown";
  }
}

// room_close "close_reason".
std::string RoomCloseClass(const std::optional<int64_t>& reason) {
  if (!reason) return "unknown";
  switch (*reason) {
    case 0:
      return "normal";
    case 1:  // the last user's heartbeat timed out
      return "network";
    case 2:  // the last user went offline
      return "user_left";
    case 3:  // the last user was kicked out
      return "admin_kick";
    default:
      return "unknown";
  }
}

void Close(Event* e, std::string end_class, std::optional<std::string> raw_reason) {
  e->phase = Phase::kClosed;
  e->end_class = std::move(end_class);
  e->raw_reason = raw_reason;
  e->reason = std::move(raw_reason);
}

// A publisher or player state forwarded by the app (ZegoPublisherState /
// ZegoPlayerState: stopped, requesting, active, by name or number).
void MediaState(const Record& r, std::initializer_list<const char*> names, Event* e) {
  const std::optional<std::string> state = r.Text("state");
  if (state) e->raw_state = state;
  const std::optional<int64_t> code = r.Int("error_code");
  e->raw_reason = r.Text("error_code");
  switch (StateIndex(state, names)) {
    case 0:
      Close(e, code.value_or(0) == 0 ? "normal" : "unknown", r.Text("error_code"));
      break;
    case 1:  // back to requesting with an error: the SDK is retrying
      e->phase = code.value_or(0) == 0 ? Phase::kOpened : Phase::kStalled;
      e->reconnect_begin = code.value_or(0) != 0;
      break;
    case 2:
      e->phase = Phase::kStarted;
      e->reconnect_end = true;
      break;
    default:
      e->phase = Phase::kOther;
      break;
  }
}

// onRoomStateChanged, forwarded by the app: "reason" is
// ZegoRoomStateChangedReason (name or number).
void RoomStateChanged(const Record& r, const std::optional<std::string>& event, Event* e) {
  const std::optional<std::string> reason = r.Text("reason");
  e->raw_state = reason ? reason : event;
  e->raw_reason = r.Text("error_code");
  switch (StateIndex(reason, {"LOGINING", "LOGINED", "LOGINFAILED", "RECONNECTING", "RECONNECTED",
                              "RECONNECTFAILED", "KICKOUT", "LOGOUT", "LOGOUTFAILED"})) {
    case 0:
      e->phase = Phase::kOpened;
      break;
    case 1:
      e->phase = Phase::kStarted;
      e->reconnect_end = true;
      break;
    case 2:
      Close(e, "denied", r.Text("error_code"));
      break;
    case 3:
      e->phase = Phase::kStalled;
      e->reconnect_begin = true;
      break;
    case 4:
      e->phase = Phase::kRecovered;
      e->reconnect_end = true;
      break;
    case 5:
      Close(e, "network", r.Text("error_code"));
      break;
    case 6:
      Close(e, "admin_kick", r.Text("error_code"));
      break;
    case 7:
      Close(e, "normal", r.Text("error_code"));
      break;
    default:  // LOGOUT_FAILED and unknown reasons: kept verbatim
      e->phase = Phase::kOther;
      break;
  }
}

Status ToEvent(const Record& r, Event* e) {
  const std::optional<std::string> event = r.Text("event");
  if (!event) return Status::Invalid("not a ZEGO callback: no \"event\"");
  e->platform = NameOf(Platform::kZego);
  e->kind_explicit = true;
  e->body = r.json;
  e->name = "zego." + *event;
  e->raw_state = event;
  e->server = r.Text("appid");
  const std::optional<std::string> room =
      r.Text("room_id") ? r.Text("room_id") : r.Text("channel_id");
  const std::optional<std::string> user =
      r.Text("user_account") ? r.Text("user_account") : r.Text("user_id");
  const std::optional<std::string> stream =
      r.Text("stream_id") ? r.Text("stream_id") : r.Text("stream_alias");
  e->media = room;
  e->user_id = user;
  e->utc_ms = r.Time("timestamp");
  auto need = [&](const std::optional<std::string>& v, const char* what) {
    return v ? Status::Ok()
             : Status::Invalid("ZEGO " + *event + " without \"" + std::string(what) + "\"");
  };

  if (*event == "room_login" || *event == "room_logout" || *event == "room_state_changed") {
    SINK_RETURN_IF_ERROR(need(room, "room_id"));
    SINK_RETURN_IF_ERROR(need(user, "user_account"));
    e->kind = "play";
    e->id = PresenceId(*room, *user, r);
    e->external_id = r.Text("session_id");
    if (*event == "room_login") {
      e->phase = Phase::kStarted;
      e->opened_at = r.Time("login_time");
      if (e->opened_at) e->utc_ms = e->opened_at;
      e->reconnect_end = true;
    } else if (*event == "room_logout") {
      if (const auto t = r.Time("logout_time")) e->utc_ms = t;
      e->opened_at = r.Time("login_time");
      Close(e, LogoutClass(r.Int("reason")), r.Text("reason"));
    } else {
      RoomStateChanged(r, event, e);
    }
    return Status::Ok();
  }

  if (*event == "stream_create" || *event == "stream_close" ||
      *event == "publisher_state_changed") {
    SINK_RETURN_IF_ERROR(need(room, "room_id"));
    SINK_RETURN_IF_ERROR(need(stream, "stream_id"));
    e->kind = "publish";
    e->id = StreamId(*room, *stream);
    e->media = stream;
    if (!e->user_id) e->user_id = r.Text("publish_id");
    if (*event == "stream_create") {
      e->phase = Phase::kStarted;
      e->external_id = r.Text("stream_sid");
      e->opened_at = r.Time("create_time_ms") ? r.Time("create_time_ms") : r.Time("create_time");
      if (e->opened_at) e->utc_ms = e->opened_at;
      e->reconnect_end = true;
    } else if (*event == "stream_close") {
      e->external_id = r.Text("stream_sid");
      Close(e, StreamCloseClass(r.Int("type")), r.Text("type"));
    } else {
      // onPublisherStateUpdate, forwarded by the app.
      MediaState(r, {"NOPUBLISH", "PUBLISHREQUESTING", "PUBLISHING"}, e);
    }
    return Status::Ok();
  }

  if (*event == "player_state_changed") {
    SINK_RETURN_IF_ERROR(need(room, "room_id"));
    SINK_RETURN_IF_ERROR(need(stream, "stream_id"));
    SINK_RETURN_IF_ERROR(need(user, "user_id"));
    e->kind = "play";
    e->id = "zego/" + IdPart(*room) + "/play/" + IdPart(*stream) + "/" + IdPart(*user);
    e->source_id = StreamId(*room, *stream);
    MediaState(r, {"NOPLAY", "PLAYREQUESTING", "PLAYING"}, e);
    return Status::Ok();
  }

  if (*event == "room_close") {
    SINK_RETURN_IF_ERROR(need(room, "room_id"));
    e->kind = "stream";
    e->id = "zego/" + IdPart(*room) + "/room/" + IdPart(r.Text("room_seq").value_or(""));
    e->user_id.reset();
    if (const auto t = r.Time("room_close_time")) e->utc_ms = t;
    Close(e, RoomCloseClass(r.Int("close_reason")), r.Text("close_reason"));
    return Status::Ok();
  }

  // Other callbacks: stored and fanned out, no session.
  e->kind.clear();
  e->phase = Phase::kNone;
  return Status::Ok();
}

Status Add(const Record& r, int64_t index, ParsedBody* out) {
  Event e;
  Status st = ToEvent(r, &e);
  if (st.ok()) {
    if (e.phase == Phase::kClosed) e.closed_at = e.utc_ms;
    out->events.push_back(std::move(e));
  } else {
    Reject rej;
    rej.index = index;
    rej.reason = st.message();
    rej.body = r.json;
    rej.server = r.Text("appid");
    AddReject(std::move(rej), out);
  }
  return Status::Ok();
}

}  // namespace

Result<ParsedBody> ParseZegoBody(std::string_view body, bool form) {
  ParsedBody out;
  // Some senders label JSON as a form (curl -d does): a body that starts
  // like JSON is JSON.
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (body[first] == '{' || body[first] == '[')) form = false;
  if (form) {
    Result<Record> r = RecordFromForm(body);
    if (!r.ok()) return r.status();
    SINK_RETURN_IF_ERROR(Add(r.value(), 0, &out));
    return out;
  }
  std::unique_ptr<simdjson::dom::parser> big;
  simdjson::dom::parser& parser = ParserFor(body.size(), &big);
  Result<std::vector<simdjson::dom::element>> items = JsonItems(parser, body);
  if (!items.ok()) return items.status();
  SINK_RETURN_IF_ERROR(CheckItemCount(items.value().size()));
  for (size_t i = 0; i < items.value().size(); ++i) {
    simdjson::dom::object o;
    if (items.value()[i].get_object().get(o) == simdjson::SUCCESS) {
      SINK_RETURN_IF_ERROR(Add(RecordFromObject(o), static_cast<int64_t>(i), &out));
    } else {
      Reject rej;
      rej.index = static_cast<int64_t>(i);
      rej.reason = "not an object: expected a ZEGO callback";
      if (out.rejects.size() < limits::kMaxRejectRowsPerRequest) {
        rej.body = simdjson::minify(items.value()[i]);
      }
      AddReject(std::move(rej), &out);
    }
  }
  return out;
}

}  // namespace sink
