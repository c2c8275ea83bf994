// libFuzzer target: the request body parsers and the session merge.
//
// Input: one selector byte, then the body. The selector, taken as
// (byte - '0') mod 7 so that seed files can start with a digit, picks the
// route the HTTP server would use:
//   '0' ParseBody (POST /events, Flussonic)
//   '1' ParseGameLiftBody (POST /events/gamelift)
//   '2' ParseZegoBody, JSON (POST /events/zego)
//   '3' ParseZegoBody, form (the same, Content-Type application/x-www-form-urlencoded)
//   '4' ParseStreampixelBody (POST /events/streampixel)
//   '5' the request head and body framing (server/http_framing.h): an input
//       is a head and the bytes after it, fed to ParseRequestHead,
//       CanonicalHead, ChunkedDecoder and BodyDecoder (gzip/deflate)
//   '6' NginxRtmp::Callback (POST /events/nginx-rtmp/edge1): each line of
//       the body (the first 16) one callback, a second apart, through one adapter
//
// Every parsed event then goes through the session merge as the writer runs
// it (store/writer.cc: drop duplicates by their dedup key, Session::Apply,
// save as Row() + MergeState(), load with Session::FromStored).
//
// Only documented properties are checked; a violation prints what failed and
// traps. Parsers (ingest/platforms/flussonic.h, ingest/platforms/platforms.h,
// docs/session-model.md §1, docs/platforms.md):
//   - an unreadable body is Status kInvalid with a message (HTTP 400);
//   - every reject has a non-empty reason and an index; events + rejects are
//     the items of the body, in order (counted independently wherever the
//     body's shape fixes the count);
//   - "Invalid JSON anywhere makes the whole body unreadable" and "the body
//     stored and fanned out is always valid JSON": every Event::body (ZEGO
//     forms included: "a JSON object of their fields"), the body of every
//     JSON item rejected, and a '[' body that parses are valid JSON, checked
//     by a validator of this file rather than simdjson;
//   - Flussonic and Streampixel keep each item "exactly as received": the
//     bodies are the input's items, verbatim and in order;
//   - events are well formed: a name, the route's platform, a kind exactly
//     when there is a phase, kind one of play|publish|ingest|push|stream,
//     end_class one of kEndClasses, timestamps positive (0 and negative
//     values are absent).
//   - replay (store/writer.h): every event's stored body, parsed again by
//     ReparseStoredEvent, gives the same Event.
// Merge (store/session.h, docs/session-model.md §3-§4):
//   - the row is a function of the set of distinct events: any order gives
//     the same Row() and MergeState(), also with a save/load after every event;
//   - save/load round-trips: FromStored(Row(), MergeState()) has the same
//     Row() and MergeState();
//   - the sink's idle close finishes an open session (sink_timeout,
//     idle_timeout, closed_at = last_event_at) and a real close arriving later
//     replaces it; applied after any of the events it gives the row of
//     applying it last;
//   - the server-restart rule finishes a session whose last event is earlier
//     than the restart and opens it again otherwise, never touching a real
//     close;
//   - row invariants: state, end_class NULL exactly while open, stall
//     intervals ordered and counted, event_count = distinct events merged.
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "ingest/body_decoder.h"
#include "ingest/platforms/flussonic.h"
#include "ingest/platforms/nginx_rtmp.h"
#include "ingest/platforms/platforms.h"
#include "ingest/platforms/record.h"
#include "ingest/platforms/registry.h"
#include "server/http_framing.h"
#include "store/event.h"
#include "store/fnv.h"
#include "store/limits.h"
#include "store/session.h"
#include "store/session_table.h"
#include "store/status.h"

namespace sink {
namespace {

// What the first byte of an input selects (the seed corpus depends on this
// order): a platform's parser from the registry (ingest/platforms/registry.h),
// with the Content-Type its route may see, or kFraming. kFraming is not a
// body: the input is an HTTP request head and what follows it
// (server/http_framing.h, ingest/body_decoder.h).
enum class Route : uint8_t {
  kFlussonic,
  kGameLift,
  kZegoJson,
  kZegoForm,
  kStreampixel,
  kFraming,
  kNginxRtmp
};
struct RouteInfo {
  const char* name;
  Platform platform;
  std::string_view content_type = {};
};
constexpr RouteInfo kRouteInfo[] = {
    {"flussonic", Platform::kFlussonic},
    {"gamelift", Platform::kGameLift},
    {"zego-json", Platform::kZego},
    {"zego-form", Platform::kZego, "application/x-www-form-urlencoded"},
    {"streampixel", Platform::kStreampixel},
    {"framing", Platform::kFlussonic},  // unused: not a body
    {"nginx-rtmp", Platform::kNginxRtmp},
};
constexpr int kRoutes = static_cast<int>(std::size(kRouteInfo));
const RouteInfo& InfoOf(Route route) { return kRouteInfo[static_cast<int>(route)]; }

// The writer's receive time for every event (the sink clock).
constexpr int64_t kReceivedAt = 1700000000000;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "body_fuzz: invariant violated: %s\n  %s\n", what, detail.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

// `detail` is only evaluated when the check fails.
#define FUZZ_CHECK(cond, detail)      \
  do {                                \
    if (!(cond)) Fail(#cond, detail); \
  } while (0)

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s.substr(0, 2000)) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += s.size() > 2000 ? "\"…" : "\"";
  return out;
}

std::string Opt(const std::optional<std::string>& v) { return v ? Quote(*v) : "NULL"; }
std::string Opt(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "NULL"; }

bool IsEndClass(std::string_view c) {
  return std::find(std::begin(kEndClasses), std::end(kEndClasses), c) != std::end(kEndClasses);
}

bool IsKind(std::string_view k) {
  return k == "play" || k == "publish" || k == "ingest" || k == "push" || k == "stream";
}

// A JSON validator of its own (RFC 8259), independent of the simdjson code
// under test; simdjson's DOM parser will not do, as it refuses some valid
// numbers (1e400, 30-digit integers). Also counts the elements of a
// top-level array.
class JsonText {
 public:
  explicit JsonText(std::string_view s) : s_(s) {}

  // Whether the text is one JSON value, blanks around it allowed.
  bool Valid(std::optional<size_t>* top_array_items = nullptr) {
    if (!simdjson::validate_utf8(s_.data(), s_.size())) return false;
    Blank();
    if (!Value(0, top_array_items)) return false;
    Blank();
    return i_ == s_.size();
  }

 private:
  static constexpr int kMaxDepth = 4000;  // well above any parser's limit

  void Blank() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool Word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool Digits() {
    const size_t from = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > from;
  }
  bool Number() {
    Eat('-');
    if (!Eat('0') && !Digits()) return false;
    if (Eat('.') && !Digits()) return false;
    if (Eat('e') || Eat('E')) {
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    return true;
  }
  bool String() {
    if (!Eat('"')) return false;
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      if (e == 'u') {
        for (int k = 0; k < 4; ++k, ++i_) {
          if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_]))) return false;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }
  bool Value(int depth, std::optional<size_t>* array_items) {
    if (depth > kMaxDepth || i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{':
        ++i_;
        Blank();
        if (Eat('}')) return true;
        for (;;) {
          Blank();
          if (!String()) return false;
          Blank();
          if (!Eat(':')) return false;
          Blank();
          if (!Value(depth + 1, nullptr)) return false;
          Blank();
          if (Eat('}')) return true;
          if (!Eat(',')) return false;
        }
      case '[': {
        ++i_;
        Blank();
        size_t n = 0;
        if (!Eat(']')) {
          for (;;) {
            Blank();
            if (!Value(depth + 1, nullptr)) return false;
            ++n;
            Blank();
            if (Eat(']')) break;
            if (!Eat(',')) return false;
          }
        }
        if (array_items) *array_items = n;
        return true;
      }
      case '"':
        return String();
      case 't':
        return Word("true");
      case 'f':
        return Word("false");
      case 'n':
        return Word("null");
      default:
        return Number();
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool IsValidJson(std::string_view s) { return JsonText(s).Valid(); }

// simdjson's DOM parser: counts the items of the bodies the platform
// adapters read with it (JsonItems), so it reads them the same way.
simdjson::dom::parser& Dom() {
  static simdjson::dom::parser parser;
  return parser;
}

// Where BodyItems starts reading: after a UTF-8 byte order mark and blanks.
std::string_view AfterBomAndBlanks(std::string_view s) {
  if (s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);
  while (!s.empty() && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
    s.remove_prefix(1);
  }
  return s;
}

// How many items a parsed body must have given, when its shape fixes it.
std::optional<size_t> ExpectedItems(Route route, std::string_view body) {
  switch (route) {
    case Route::kZegoForm: {
      const size_t first = body.find_first_not_of(" \t\r\n");
      if (first == std::string_view::npos || (body[first] != '{' && body[first] != '[')) return 1;
      [[fallthrough]];  // a form that starts like JSON is read as JSON
    }
    case Route::kZegoJson:
    case Route::kGameLift: {
      // JsonItems: the array's elements, else the value itself; GameLift
      // then expands {"Items": [...]}.
      Result<std::vector<simdjson::dom::element>> items = JsonItems(Dom(), body);
      if (!items.ok()) Fail("the body parsed but simdjson's DOM parser refuses it", Quote(body));
      if (route != Route::kGameLift) return items->size();
      size_t n = 0;
      for (simdjson::dom::element item : items.value()) {
        simdjson::dom::array list;
        n += item["Items"].get_array().get(list) == simdjson::SUCCESS ? list.size() : 1;
      }
      return n;
    }
    case Route::kNginxRtmp:
      return std::nullopt;  // a line without `call` is an error, not an item
    case Route::kFlussonic:
    case Route::kStreampixel: {
      const std::string_view rest = AfterBomAndBlanks(body);
      if (route == Route::kStreampixel && !rest.empty() && rest[0] == '{') return 1;
      if (rest.empty() || rest[0] != '[') return std::nullopt;  // NDJSON or one object
      std::optional<size_t> n;
      if (!JsonText(rest).Valid(&n)) {
        Fail("an array body parsed but is not a valid JSON array", Quote(body));
      }
      return n;
    }
    case Route::kFraming:
      break;
  }
  return std::nullopt;
}

Result<ParsedBody> Parse(Route route, std::string_view body) {
  const RouteInfo& info = InfoOf(route);
  const PlatformSpec& spec = SpecOf(info.platform);
  if (spec.parse != nullptr) {
    // ZEGO's parser reads a plain string_view: no padding after the body,
    // so that a read past its end is caught.
    if (info.platform == Platform::kZego) {
      std::unique_ptr<char[]> exact(new char[body.size()]);
      std::copy(body.begin(), body.end(), exact.get());
      return spec.parse(simdjson::padded_string_view(exact.get(), body.size(), body.size()),
                        BodyContext{info.content_type});
    }
    return spec.parse(simdjson::padded_string(body), BodyContext{info.content_type});
  }
  switch (route) {
    case Route::kFlussonic:
    case Route::kGameLift:
    case Route::kZegoJson:
    case Route::kZegoForm:
    case Route::kStreampixel:
    case Route::kFraming:
      break;
    case Route::kNginxRtmp: {
      NginxRtmp adapter({}, 1);
      ParsedBody out;
      int64_t at = kReceivedAt;
      size_t pos = 0;
      // At most 16 callbacks an input: a session's checks grow with its
      // events, and more lines find nothing new.
      for (int lines = 0; pos <= body.size() && lines < 16; ++lines) {
        size_t eol = body.find('\n', pos);
        if (eol == std::string_view::npos) eol = body.size();
        const std::string_view line = body.substr(pos, eol - pos);
        pos = eol + 1;
        Result<ParsedBody> one = adapter.Callback("edge1", line, at += 1000);
        if (!one.ok()) {
          FUZZ_CHECK(
              one.status().code() == Status::Code::kInvalid && !one.status().message().empty(),
              "nginx-rtmp callback error " + one.status().ToString());
          continue;
        }
        FUZZ_CHECK(!one->events.empty() && one->rejects.empty(), "nginx-rtmp: " + Quote(line));
        for (Event& e : one->events) out.events.push_back(std::move(e));
      }
      return out;
    }
  }
  return Status::Internal("unknown route");
}

void CheckEvent(Route route, const Event& e) {
  // Only built when a check fails (FUZZ_CHECK evaluates its detail then).
  auto who = [&] {
    return std::string(InfoOf(route).name) + " event name=" + Quote(e.name) +
           " body=" + Quote(e.body);
  };
  FUZZ_CHECK(!e.name.empty(), who());
  FUZZ_CHECK(e.platform == NameOf(InfoOf(route).platform), who());
  FUZZ_CHECK(e.kind.empty() == (e.phase == Phase::kNone), who());
  FUZZ_CHECK(e.kind.empty() || IsKind(e.kind), who() + " kind=" + Quote(e.kind));
  FUZZ_CHECK(!e.end_class || IsEndClass(*e.end_class), who() + " end_class=" + Opt(e.end_class));
  for (const std::optional<int64_t>* t :
       {&e.utc_ms, &e.opened_at, &e.authorized_at, &e.started_at, &e.updated_at, &e.closed_at}) {
    FUZZ_CHECK(!*t || **t > 0, who() + " timestamp=" + Opt(*t));
  }
  FUZZ_CHECK(IsValidJson(e.body), who());
}

// The parser's own checks: statuses, rejects, items, bodies.
void CheckParsed(Route route, std::string_view body, const ParsedBody& p) {
  // Past limits::kMaxRejectRowsPerRequest, non-events are only counted.
  const size_t total = p.events.size() + p.rejects.size() + static_cast<size_t>(p.rejects_dropped);
  if (p.rejects_dropped > 0) {
    FUZZ_CHECK(p.rejects.size() == limits::kMaxRejectRowsPerRequest, "rejects dropped too early");
    FUZZ_CHECK(p.first_dropped_index > p.rejects.back().index &&
                   p.first_dropped_index < static_cast<int64_t>(total) &&
                   !p.first_dropped_reason.empty(),
               "first dropped reject " + std::to_string(p.first_dropped_index));
  }
  if (const std::optional<size_t> want = ExpectedItems(route, body)) {
    FUZZ_CHECK(total == *want, "items " + std::to_string(total) + " (" +
                                   std::to_string(p.events.size()) + " events), expected " +
                                   std::to_string(*want) + " in " + Quote(body));
  }
  int64_t last_index = -1;
  for (const Reject& r : p.rejects) {
    FUZZ_CHECK(!r.reason.empty(), "reject " + std::to_string(r.index) + " " + Quote(r.body));
    FUZZ_CHECK(r.index > last_index && r.index < static_cast<int64_t>(total),
               "reject index " + std::to_string(r.index) + " after " + std::to_string(last_index) +
                   " of " + std::to_string(total));
    last_index = r.index;
    if (route != Route::kZegoForm) {
      FUZZ_CHECK(IsValidJson(r.body), "rejected JSON item " + Quote(r.body));
    }
  }
  for (const Event& e : p.events) {
    CheckEvent(route, e);
    // Replay: the stored body, parsed again by its platform, is this event.
    StoredEvent stored;
    stored.name = e.name;
    if (e.platform != kFlussonicPlatform) stored.platform = e.platform;
    stored.body = e.body;
    // Received in 2100: no accepted time (2000–2099) is beyond the clock skew.
    stored.received_at = 4102444800000;
    Result<Event> again = ReparseStoredEvent(stored);
    FUZZ_CHECK(again.ok(), "stored event does not parse again: " + again.status().message() +
                               " in " + Quote(e.body));
    FUZZ_CHECK(again.value() == e, "stored event parses again differently: " + Quote(e.body));
    // Received earlier, the replay drops what ingest drops (DropFutureTimes).
    stored.received_at = 1700000000000;
    Event expected = e;
    DropFutureTimes(&expected, stored.received_at);
    Result<Event> early = ReparseStoredEvent(stored);
    FUZZ_CHECK(early.ok() && early.value() == expected,
               "a replay drops other times than ingest: " + Quote(e.body));
  }

  // Flussonic and Streampixel keep each item as received: walk the items in
  // order (the rejects at their indices, the events in between) and find
  // each one in the body after the previous one.
  if (route == Route::kFlussonic || route == Route::kStreampixel) {
    size_t pos = 0, next_event = 0, next_reject = 0;
    const size_t walk = p.rejects_dropped > 0 ? static_cast<size_t>(p.first_dropped_index) : total;
    for (size_t i = 0; i < walk; ++i) {
      const std::string* item;
      if (next_reject < p.rejects.size() &&
          p.rejects[next_reject].index == static_cast<int64_t>(i)) {
        item = &p.rejects[next_reject++].body;
      } else {
        FUZZ_CHECK(next_event < p.events.size(), "items do not add up");
        item = &p.events[next_event++].body;
      }
      const size_t at = body.find(*item, pos);
      FUZZ_CHECK(at != std::string_view::npos, "item " + std::to_string(i) + " " + Quote(*item) +
                                                   " not found in order in " + Quote(body));
      pos = at + item->size();
    }
  }
}

// What SessionTable::Load reads back from the sessions row: every column
// (the stall intervals are rows of their own) and merge_state.
SessionRow StoredColumns(const SessionRow& row) {
  SessionRow r = row;
  r.stalls.clear();
  return r;
}

// Saves and loads `s` as the writer does; the loaded session must be the same.
Session RoundTrip(const Session& s) {
  const SessionRow row = s.Row();
  const std::string state = s.MergeState();
  Result<Session> back = Session::FromStored(StoredColumns(row), state);
  FUZZ_CHECK(back.ok(),
             "FromStored refused its own state " + Quote(state) + ": " + back.status().message());
  const std::string diff = SessionRowDiff(back->Row(), row);
  FUZZ_CHECK(diff.empty(), "save/load changed the row: " + diff);
  FUZZ_CHECK(back->MergeState() == state, "save/load changed the merge state " + Quote(state) +
                                              " → " + Quote(back->MergeState()));
  return std::move(back).value();
}

void CheckSame(const char* what, const Session& a, const Session& b) {
  const std::string diff = SessionRowDiff(a.Row(), b.Row());
  FUZZ_CHECK(diff.empty(), std::string(what) + ": " + diff);
  FUZZ_CHECK(a.MergeState() == b.MergeState(), std::string(what) + ": merge state " +
                                                   Quote(a.MergeState()) + " vs " +
                                                   Quote(b.MergeState()));
}

void CheckRow(const Session& s, size_t events, Route route) {
  const SessionRow r = s.Row();
  const std::string who = "session " + Quote(r.id) + " state " + r.state;
  FUZZ_CHECK(IsKind(r.kind), who + " kind " + Quote(r.kind));
  FUZZ_CHECK(r.state == "establishing" || r.state == "running" || r.state == "stalling" ||
                 r.state == "finished",
             who);
  FUZZ_CHECK((r.state == "finished") == s.Finished(), who);
  FUZZ_CHECK(r.end_class.has_value() == s.Finished(), who + " end_class " + Opt(r.end_class));
  FUZZ_CHECK(!r.end_class || IsEndClass(*r.end_class), who + " end_class " + Opt(r.end_class));
  FUZZ_CHECK(r.platform == NameOf(InfoOf(route).platform), who + " platform " + r.platform);
  FUZZ_CHECK(r.event_count == static_cast<int64_t>(events), who);
  FUZZ_CHECK(r.seen_at == kReceivedAt, who);
  // An event time gives both; without any, first_event_at is the receive time.
  FUZZ_CHECK(r.first_event_at.has_value(), who);
  FUZZ_CHECK(!r.last_event_at || *r.first_event_at <= *r.last_event_at, who);
  FUZZ_CHECK(r.stall_count == static_cast<int64_t>(r.stalls.size()), who);
  for (size_t i = 0; i < r.stalls.size(); ++i) {
    const StallInterval& v = r.stalls[i];
    FUZZ_CHECK(!v.end_at || *v.end_at >= v.start_at, who + " stall " + std::to_string(i));
    FUZZ_CHECK(i + 1 == r.stalls.size() || (v.end_at && *v.end_at <= r.stalls[i + 1].start_at),
               who + " stall " + std::to_string(i));
  }
  const bool open_stall = !r.stalls.empty() && !r.stalls.back().end_at;
  if (!s.Finished()) FUZZ_CHECK((r.state == "stalling") == open_stall, who);
  FUZZ_CHECK(r.stalled_ms >= 0 && r.reconnect_ms >= 0 && r.reconnect_count >= 0, who);
  FUZZ_CHECK(!r.queued_ms || *r.queued_ms >= 0, who + " queued_ms " + Opt(r.queued_ms));
}

// Merges the events of one session in several orders and checks the rules.
void CheckSession(const std::string& id, const std::vector<const Event*>& ev, Route route,
                  uint64_t seed) {
  const size_t n = ev.size();
  for (const Event* e : ev) FUZZ_CHECK(e->HasSession() && *e->id == id, "grouping");

  // In parse order, no save/load.
  Session ref(id);
  for (const Event* e : ev) ref.Apply(*e, kReceivedAt);
  CheckRow(ref, n, route);
  RoundTrip(ref);

  // One event per batch: load, apply, save, as the writer does.
  Session stored(id);
  for (const Event* e : ev) {
    stored.Apply(*e, kReceivedAt);
    stored = RoundTrip(stored);
  }
  CheckSame("merged with a save/load after every event vs at once", stored, ref);

  Session reversed(id);
  for (size_t i = n; i-- > 0;) reversed.Apply(*ev[i], kReceivedAt);
  CheckSame("merged in reverse order vs in order", reversed, ref);

  // A rotation of the events with the sink's idle close somewhere among them
  // gives the row of the idle close applied last (which a real close wins).
  Session timed_out = ref;
  timed_out.CloseSynthetic(SyntheticClose::kSinkTimeout);
  CheckRow(timed_out, n, route);
  {
    const SessionRow r = timed_out.Row();
    FUZZ_CHECK(r.state == "finished", "idle close left the session open");
    if (!ref.Finished()) {
      FUZZ_CHECK(r.close_reason == "sink_timeout" && r.end_class == "idle_timeout",
                 "idle close: " + Opt(r.close_reason) + " " + Opt(r.end_class));
      FUZZ_CHECK(r.closed_at == (r.last_event_at ? r.last_event_at : r.seen_at),
                 "idle close at " + Opt(r.closed_at));
    } else {
      CheckSame("idle close of a finished session", timed_out, ref);
    }
  }
  RoundTrip(timed_out);
  const size_t rot = static_cast<size_t>(seed % n);
  // The sink closes only sessions it has stored, i.e. after their first event.
  const size_t close_at = 1 + static_cast<size_t>((seed / n) % n);
  Session rotated(id);
  for (size_t k = 0; k <= n; ++k) {
    if (k == close_at) {
      rotated.CloseSynthetic(SyntheticClose::kSinkTimeout);
      rotated = RoundTrip(rotated);
    }
    if (k < n) rotated.Apply(*ev[(rot + k) % n], kReceivedAt);
  }
  CheckSame("idle close among the events vs after them", rotated, timed_out);

  // Server restart: after the last event it finishes an open session; at
  // the last event's time it leaves (or makes) it open again.
  if (ref.last_event_at() && *ref.last_event_at() < kNever) {
    const int64_t last = *ref.last_event_at();
    Session restarted = ref;
    const bool finished = restarted.ApplyServerRestart(last + 1);
    FUZZ_CHECK(finished == !ref.Finished(), "server restart after the last event");
    const SessionRow r = restarted.Row();
    FUZZ_CHECK(r.state == "finished", "server restart left the session open");
    if (finished) {
      FUZZ_CHECK(r.close_reason == "server_restart" && r.end_class == "internal" &&
                     r.closed_at == r.last_event_at,
                 "server restart: " + Opt(r.close_reason) + " " + Opt(r.end_class) + " " +
                     Opt(r.closed_at));
    }
    CheckRow(restarted, n, route);
    restarted = RoundTrip(restarted);
    FUZZ_CHECK(!restarted.ApplyServerRestart(last), "server restart at the last event");
    CheckSame("server restart undone by a later event", restarted, ref);
  }
  Session no_restart = ref;
  FUZZ_CHECK(!no_restart.ApplyServerRestart(std::nullopt), "no restart finished a session");
  CheckSame("no restart", no_restart, ref);
}

// The request head and the body framing: every refusal is a documented
// answer; an accepted head survives its canonical form; the chunked decoder
// gives the same result however its input is split.
void FuzzFraming(std::string_view in) {
  const size_t end = in.find("\r\n\r\n");
  const std::string_view head = end == std::string_view::npos ? in : in.substr(0, end + 4);
  const std::string_view rest = end == std::string_view::npos ? "" : in.substr(end + 4);
  RequestHead h;
  FramingError error;
  if (!ParseRequestHead(head, &h, &error)) {
    static constexpr int kAnswers[] = {400, 411, 414, 431, 501, 505};
    FUZZ_CHECK(
        std::find(std::begin(kAnswers), std::end(kAnswers), error.status) != std::end(kAnswers),
        "refusal " + std::to_string(error.status) + " for " + Quote(head));
    FUZZ_CHECK(!error.message.empty(), "refusal without a message: " + Quote(head));
  } else {
    FUZZ_CHECK(h.fields.size() <= limits::kMaxHeaderFields, "too many fields accepted");
    const std::string canonical = CanonicalHead(h);
    FUZZ_CHECK(canonical.find("\r\n\r\n") == canonical.size() - 4,
               "canonical head " + Quote(canonical));
    if (h.framing != BodyFraming::kChunked) {
      RequestHead again;
      FUZZ_CHECK(ParseRequestHead(canonical, &again, &error),
                 "canonical head refused: " + error.message + " " + Quote(canonical));
      FUZZ_CHECK(again.method == h.method && again.target == h.target &&
                     again.minor_version == h.minor_version && again.fields == h.fields &&
                     again.framing == h.framing && again.content_length == h.content_length &&
                     again.keep_alive == h.keep_alive && !again.has_content_encoding,
                 "canonical head reads differently: " + Quote(canonical));
    }
    std::string unsupported;
    if (std::unique_ptr<BodyDecoder> d = BodyDecoder::For(h.content_encoding, &unsupported)) {
      std::string out;
      if (d->Feed(rest.data(), rest.size(), &out, 1 << 20) == BodyDecoder::Result::kOk) {
        FUZZ_CHECK(!d->identity() || out == rest, "identity changed the body");
      }
      FUZZ_CHECK(out.size() <= (1u << 20), "decoded past the limit");
    }
  }
  ChunkedDecoder whole, bytewise;
  std::string a, b;
  const size_t used = whole.Feed(rest.data(), rest.size(), &a);
  size_t used_b = 0;
  while (used_b < rest.size() && !bytewise.done() && !bytewise.failed()) {
    used_b += bytewise.Feed(rest.data() + used_b, 1, &b);
  }
  FUZZ_CHECK(a == b && used == used_b && whole.done() == bytewise.done() &&
                 whole.failed() == bytewise.failed(),
             "chunked decoding depends on the split: " + Quote(rest));
  FUZZ_CHECK(!whole.done() || used <= rest.size(), "chunked decoder overran");
}

void FuzzOne(Route route, std::string_view body) {
  if (route == Route::kFraming) return FuzzFraming(body);
  Result<ParsedBody> parsed = Parse(route, body);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == Status::Code::kInvalid,
               "unreadable body is not kInvalid: " + parsed.status().ToString());
    FUZZ_CHECK(!parsed.status().message().empty(), "unreadable body without a message");
    return;
  }
  CheckParsed(route, body, parsed.value());

  // The writer: duplicates (same server, event, id, utc_ms, event_id) are
  // counted and change nothing; the rest join their session.
  std::set<DedupKey> seen;
  std::map<std::string, std::vector<const Event*>> sessions;
  for (const Event& e : parsed->events) {
    if (!seen.insert(DedupKeyOf(e)).second) continue;
    if (e.HasSession()) sessions[*e.id].push_back(&e);
  }
  const uint64_t seed = Fnv1a::Of(body);
  for (const auto& [id, events] : sessions) CheckSession(id, events, route, seed);
}

}  // namespace
}  // namespace sink

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto route = static_cast<sink::Route>(static_cast<uint8_t>(data[0] - '0') % sink::kRoutes);
  sink::FuzzOne(route, std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
