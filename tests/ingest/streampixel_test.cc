// The Streampixel adapter: relayed iframe and Web SDK messages → Events.
#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ingest/platforms/platforms.h"
#include "tests/test_util.h"

namespace sink {
namespace {

constexpr int64_t kT = 1700000000123;  // 2023-11-14T22:13:20.123Z in ms

// Parses `body` as the HTTP handler does (a padded copy).
Result<ParsedBody> Parse(std::string_view body) {
  std::string buf(body);
  buf.append(simdjson::SIMDJSON_PADDING, ' ');
  return ParseStreampixelBody(simdjson::padded_string_view(buf.data(), body.size(), buf.size()));
}

// One wire item carrying `message` (JSON text).
std::string Item(const std::string& message, const std::string& key = "k1", int64_t at = kT) {
  return R"({"key":")" + key + R"(","seq":1,"at":)" + std::to_string(at) + R"(,"message":)" +
         message + "}";
}

// Parses `body`, which must hold exactly one accepted item.
Event ParseOne(std::string_view body) {
  Result<ParsedBody> r = Parse(body);
  if (!r.ok()) {
    ADD_FAILURE() << "body refused: " << r.status().ToString() << "\nbody: " << body;
    return Event{};
  }
  if (r->events.size() != 1 || !r->rejects.empty()) {
    ADD_FAILURE() << "expected one event, got " << r->events.size() << " events and "
                  << r->rejects.size() << " rejects"
                  << (r->rejects.empty() ? "" : " (" + r->rejects[0].reason + ")")
                  << "\nbody: " << body;
    return Event{};
  }
  return std::move(r->events[0]);
}

Event State(const std::string& value) {
  return ParseOne(Item(R"({"type":"stream-state","value":")" + value + R"("})"));
}

// The reject reason of a body holding exactly one rejected item.
std::string RejectReason(std::string_view body) {
  Result<ParsedBody> r = Parse(body);
  if (!r.ok()) {
    ADD_FAILURE() << "body refused: " << r.status().ToString() << "\nbody: " << body;
    return "";
  }
  if (r->rejects.size() != 1 || !r->events.empty()) {
    ADD_FAILURE() << "expected one reject, got " << r->events.size() << " events and "
                  << r->rejects.size() << " rejects\nbody: " << body;
    return "";
  }
  EXPECT_EQ(r->rejects[0].index, 0);
  EXPECT_EQ(r->rejects[0].body, body);
  return r->rejects[0].reason;
}

// The error message of a body that must be refused.
std::string Refused(std::string_view body) {
  Result<ParsedBody> r = Parse(body);
  if (r.ok()) {
    ADD_FAILURE() << "body accepted: " << body;
    return "";
  }
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  return r.status().message();
}

// ---------------------------------------------------------------------------
// Body shapes and fields

TEST(StreampixelTest, SingleObjectCarriesEveryField) {
  const std::string body =
      R"({"key":"7f9c-page","seq":3,"at":1700000000123,)"
      R"("message":{"type":"stream-state","value":"connecting"},)"
      R"("user_id":"u42","project":"proj-1","page":"https://example.com/play?x=1",)"
      R"("user_agent":"Mozilla/5.0","extra":{"nested":[1,2,{"a":null}]}})";
  Event e = ParseOne(body);
  EXPECT_EQ(e.platform, "streampixel");
  EXPECT_EQ(e.kind, "play");
  EXPECT_TRUE(e.kind_explicit);
  EXPECT_TRUE(e.HasSession());
  EXPECT_EQ(e.id, "streampixel/7f9c-page");
  EXPECT_EQ(e.utc_ms, kT);
  EXPECT_EQ(e.EventTime(), kT);
  EXPECT_EQ(e.event_id, 3);
  EXPECT_EQ(e.user_id, "u42");
  EXPECT_EQ(e.media, "proj-1");
  EXPECT_EQ(e.url, "https://example.com/play?x=1");
  EXPECT_EQ(e.user_agent, "Mozilla/5.0");
  EXPECT_EQ(e.name, "streampixel.stream-state");
  EXPECT_EQ(e.raw_state, "connecting");
  EXPECT_EQ(e.raw_reason, std::nullopt);
  EXPECT_EQ(e.phase, Phase::kConnected);
  EXPECT_EQ(e.body, body);  // verbatim, unknown fields included
  EXPECT_EQ(e.server, std::nullopt);
  EXPECT_EQ(e.external_id, std::nullopt);
  EXPECT_EQ(e.reason, std::nullopt);
}

TEST(StreampixelTest, OptionalFieldsMayBeAbsentOrNull) {
  Event e = ParseOne(R"({"key":"k","at":1700000000123,"message":{"type":"stream-state",)"
                     R"("value":"authenticating"}})");
  EXPECT_EQ(e.event_id, std::nullopt);
  EXPECT_EQ(e.user_id, std::nullopt);
  EXPECT_EQ(e.media, std::nullopt);
  EXPECT_EQ(e.url, std::nullopt);
  EXPECT_EQ(e.user_agent, std::nullopt);

  e = ParseOne(R"({"key":"k","seq":null,"at":1700000000123,"message":{"type":"x"},)"
               R"("user_id":null,"project":null,"page":null,"user_agent":null})");
  EXPECT_EQ(e.event_id, std::nullopt);
  EXPECT_EQ(e.user_id, std::nullopt);
  EXPECT_EQ(e.media, std::nullopt);
}

TEST(StreampixelTest, NumericTextFieldsAreKeptAsTheirText) {
  Event e = ParseOne(R"({"key":"k","at":1700000000123,"message":{"type":"x"},"user_id":42,)"
                     R"("project":7.5})");
  EXPECT_EQ(e.user_id, "42");
  EXPECT_EQ(e.media, "7.5");
}

TEST(StreampixelTest, ArrayOfItemsInOrder) {
  const std::string a = Item(R"({"type":"stream-state","value":"authenticating"})", "s1");
  const std::string b = Item(R"({"type":"stream-state","value":"connecting"})", "s1");
  const std::string c =
      Item(R"({"type":"stream-metadata","sessionId":"x","streamerId":"y"})", "s2");
  Result<ParsedBody> r = Parse("[" + a + ",\n  " + b + " , " + c + "]\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_TRUE(r->rejects.empty());
  EXPECT_EQ(r->events[0].raw_state, "authenticating");
  EXPECT_EQ(r->events[0].body, a);
  EXPECT_EQ(r->events[1].raw_state, "connecting");
  EXPECT_EQ(r->events[1].body, b);
  EXPECT_EQ(r->events[2].id, "streampixel/s2");
  EXPECT_EQ(r->events[2].body, c);
}

TEST(StreampixelTest, EmptyArrayHasNoEvents) {
  for (const char* body : {"[]", " [ ] ", "\n[\n]\n"}) {
    Result<ParsedBody> r = Parse(body);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->events.empty());
    EXPECT_TRUE(r->rejects.empty());
  }
}

TEST(StreampixelTest, ByteOrderMarkAndSurroundingBlanksAreSkipped) {
  const std::string item = Item(R"({"type":"stream-state","value":"connecting"})");
  Event e = ParseOne("\xEF\xBB\xBF \r\n" + item + "\n\n");
  EXPECT_EQ(e.body, item);
}

TEST(StreampixelTest, TimesInMillisecondsSecondsAndFractions) {
  auto at = [](const std::string& json) {
    return ParseOne(R"({"key":"k","at":)" + json + R"(,"message":{"type":"x"}})").utc_ms;
  };
  EXPECT_EQ(at("1700000000123"), kT);
  EXPECT_EQ(at("1700000000123.4"), kT);  // performance.timeOrigin + now() style
  EXPECT_EQ(at("1700000000122.6"), kT);
  EXPECT_EQ(at("1.700000000123e12"), kT);
  EXPECT_EQ(at("1700000000"), 1700000000000);  // seconds, as the core reads them
  EXPECT_EQ(at("1700000000.123"), kT);
}

TEST(StreampixelTest, MessageFieldsOfOtherTypesAreIgnored) {
  Event e = ParseOne(Item(R"({"type":"stream-state","value":{"v":1},"code":"4001",)"
                          R"("reason":[1],"sessionId":5})"));
  EXPECT_EQ(e.raw_state, "stream-state");  // no string value: the type stands in
  EXPECT_EQ(e.phase, Phase::kOther);
  EXPECT_EQ(e.raw_reason, std::nullopt);
}

// ---------------------------------------------------------------------------
// stream-state values

struct StateCase {
  const char* value;
  Phase phase;
  bool queue_enter = false;
  bool queue_leave = false;
  bool reconnect_begin = false;
  bool reconnect_end = false;
  std::optional<std::string> end_class = std::nullopt;
};

TEST(StreampixelTest, EveryStreamStateValue) {
  const StateCase cases[] = {
      {"authenticating", Phase::kOpened},
      {"requesting", Phase::kOpened},
      {"queue-1", Phase::kOther, true},
      {"queue-2", Phase::kOther, true},
      {"queue-137", Phase::kOther, true},
      {"connecting", Phase::kConnected, false, true},
      {"finalising", Phase::kConnected, false, true},
      {"loadingComplete", Phase::kStarted, false, true, false, true},
      {"streaming", Phase::kStarted, false, true, false, true},
      {"afkWarning", Phase::kStalled},
      {"afkAbort", Phase::kRecovered},
      {"reconnecting", Phase::kStalled, false, false, true},
      {"restricted", Phase::kDenied, false, false, false, false, "denied"},
      {"disconnected", Phase::kClosed, false, false, false, false, "normal"},
      {"failed", Phase::kClosed, false, false, false, false, "unknown"},
      {"showPassword", Phase::kOther},
      {"hidePassword", Phase::kOther},
      {"somethingNew", Phase::kOther},
      {"queue-", Phase::kOther},     // no position: not a queue state
      {"queue-1a", Phase::kOther},   // not digits
      {"queued", Phase::kOther},     // SDK state name not in the relayed set
      {"Connecting", Phase::kOther}  // case matters
  };
  for (const StateCase& c : cases) {
    SCOPED_TRACE(c.value);
    Event e = State(c.value);
    EXPECT_EQ(e.name, "streampixel.stream-state");
    EXPECT_EQ(e.raw_state, c.value);
    EXPECT_EQ(e.phase, c.phase);
    EXPECT_EQ(e.queue_enter, c.queue_enter);
    EXPECT_EQ(e.queue_leave, c.queue_leave);
    EXPECT_EQ(e.reconnect_begin, c.reconnect_begin);
    EXPECT_EQ(e.reconnect_end, c.reconnect_end);
    EXPECT_EQ(e.end_class, c.end_class);
    EXPECT_EQ(e.raw_reason, std::nullopt);
  }
}

TEST(StreampixelTest, DisconnectedAndFailedStatesTakeTheirClassFromACode) {
  Event e = ParseOne(Item(R"({"type":"stream-state","value":"disconnected","code":4006})"));
  EXPECT_EQ(e.phase, Phase::kClosed);
  EXPECT_EQ(e.end_class, "app_crash");
  EXPECT_EQ(e.raw_reason, "4006");
  EXPECT_EQ(e.raw_state, "disconnected");

  e = ParseOne(Item(R"({"type":"stream-state","value":"failed","code":1006})"));
  EXPECT_EQ(e.phase, Phase::kClosed);
  EXPECT_EQ(e.end_class, "network");
  EXPECT_EQ(e.raw_reason, "1006");

  e = ParseOne(Item(R"({"type":"stream-state","value":"failed","reason":"ICE failed"})"));
  EXPECT_EQ(e.end_class, "unknown");
  EXPECT_EQ(e.raw_reason, "ICE failed");
}

// ---------------------------------------------------------------------------
// Disconnect codes

TEST(StreampixelTest, EveryDisconnectCode) {
  const std::pair<int, const char*> cases[] = {
      {1000, "normal"},     {1001, "user_left"}, {1005, "network"},   {1006, "network"},
      {4000, "admin_kick"}, {4001, "capacity"},  {4002, "internal"},  {4003, "app_crash"},
      {4004, "limit"},      {4005, "app_crash"}, {4006, "app_crash"}, {4007, "unknown"},
      {4999, "unknown"},    {0, "unknown"},      {-1, "unknown"},
  };
  for (const auto& [code, end_class] : cases) {
    SCOPED_TRACE(code);
    Event e = ParseOne(
        Item(R"({"type":"disconnect","code":)" + std::to_string(code) + R"(,"reason":"why"})"));
    EXPECT_EQ(e.name, "streampixel.disconnect");
    EXPECT_EQ(e.raw_state, "disconnect");
    EXPECT_EQ(e.phase, Phase::kClosed);
    EXPECT_EQ(e.end_class, end_class);
    EXPECT_EQ(e.raw_reason, std::to_string(code));  // the code wins over the reason
  }
}

TEST(StreampixelTest, DisconnectWithoutIntegerCode) {
  Event e = ParseOne(Item(R"({"type":"disconnect","reason":"pagehide"})"));
  EXPECT_EQ(e.phase, Phase::kClosed);
  EXPECT_EQ(e.end_class, "unknown");
  EXPECT_EQ(e.raw_reason, "pagehide");

  e = ParseOne(Item(R"({"type":"disconnect","code":4001.5,"reason":"odd"})"));
  EXPECT_EQ(e.end_class, "unknown");
  EXPECT_EQ(e.raw_reason, "odd");

  e = ParseOne(Item(R"({"type":"disconnect","code":"4001"})"));
  EXPECT_EQ(e.end_class, "unknown");
  EXPECT_EQ(e.raw_reason, std::nullopt);
}

// ---------------------------------------------------------------------------
// Other message types

TEST(StreampixelTest, StreamMetadata) {
  Event e = ParseOne(Item(R"({"type":"stream-metadata","sessionId":"abc123-session-uuid",)"
                          R"("streamerId":"xyz789-streamer-uuid"})"));
  EXPECT_EQ(e.name, "streampixel.stream-metadata");
  EXPECT_EQ(e.raw_state, "stream-metadata");
  EXPECT_EQ(e.phase, Phase::kOther);
  EXPECT_EQ(e.external_id, "abc123-session-uuid");
  EXPECT_EQ(e.server, "xyz789-streamer-uuid");
  EXPECT_EQ(e.end_class, std::nullopt);

  e = ParseOne(Item(R"({"type":"stream-metadata","sessionId":"","streamerId":null})"));
  EXPECT_EQ(e.external_id, std::nullopt);
  EXPECT_EQ(e.server, std::nullopt);
}

TEST(StreampixelTest, SdkAfkEvents) {
  Event e = ParseOne(Item(R"({"type":"afkWarningActivate","countdown":30})"));
  EXPECT_EQ(e.name, "streampixel.afkWarningActivate");
  EXPECT_EQ(e.raw_state, "afkWarningActivate");
  EXPECT_EQ(e.phase, Phase::kStalled);
  EXPECT_FALSE(e.reconnect_begin);

  e = ParseOne(Item(R"({"type":"afkWarningUpdate","countdown":12})"));
  EXPECT_EQ(e.raw_state, "afkWarningUpdate");
  EXPECT_EQ(e.phase, Phase::kOther);

  e = ParseOne(Item(R"({"type":"afkWarningDeactivate"})"));
  EXPECT_EQ(e.raw_state, "afkWarningDeactivate");
  EXPECT_EQ(e.phase, Phase::kRecovered);
  EXPECT_FALSE(e.reconnect_end);

  e = ParseOne(Item(R"({"type":"afkTimedOut"})"));
  EXPECT_EQ(e.raw_state, "afkTimedOut");
  EXPECT_EQ(e.phase, Phase::kClosed);
  EXPECT_EQ(e.end_class, "idle_timeout");
}

TEST(StreampixelTest, UnknownMessageTypeIsKeptVerbatim) {
  Event e = ParseOne(Item(R"({"type":"resolution-changed","width":1920,"reason":"auto"})"));
  EXPECT_EQ(e.name, "streampixel.resolution-changed");
  EXPECT_EQ(e.raw_state, "resolution-changed");
  EXPECT_EQ(e.phase, Phase::kOther);
  EXPECT_EQ(e.end_class, std::nullopt);
  EXPECT_EQ(e.raw_reason, "auto");
  EXPECT_TRUE(e.HasSession());
}

// ---------------------------------------------------------------------------
// Rejects: valid JSON that is not a relayed message

TEST(StreampixelTest, RejectsNameTheProblem) {
  const std::string m = R"("message":{"type":"x"})";
  const std::pair<std::string, std::string> cases[] = {
      {R"({"at":1700000000123,)" + m + "}", R"(missing "key" (the client session key))"},
      {R"({"key":7,"at":1700000000123,)" + m + "}", R"("key" must be a string, got a number)"},
      {R"({"key":null,"at":1700000000123,)" + m + "}", R"("key" must be a string, got null)"},
      {R"({"key":"","at":1700000000123,)" + m + "}", R"("key" is empty)"},
      {R"({"key":"k",)" + m + "}", R"(missing "at" (ms since the epoch))"},
      {R"({"key":"k","at":"1700000000123",)" + m + "}",
       R"("at" must be a number (ms since the epoch), got a string)"},
      {R"({"key":"k","at":0,)" + m + "}", R"("at" must be a positive time (ms since the epoch))"},
      {R"({"key":"k","at":-5,)" + m + "}", R"("at" must be a positive time (ms since the epoch))"},
      {R"({"key":"k","at":1e400,)" + m + "}",
       R"("at" must be a positive time (ms since the epoch))"},
      {R"({"key":"k","at":1700000000123})", R"(missing "message")"},
      {R"({"key":"k","at":1700000000123,"message":"stream-state"})",
       R"("message" must be an object, got a string)"},
      {R"({"key":"k","at":1700000000123,"message":[]})",
       R"("message" must be an object, got an array)"},
      {R"({"key":"k","at":1700000000123,"message":{"value":"connecting"}})",
       R"("message" has no string "type")"},
      {R"({"key":"k","at":1700000000123,"message":{"type":3}})",
       R"("message" has no string "type")"},
      {R"({"key":"k","at":1700000000123,"message":{"type":""}})", R"("message.type" is empty)"},
      {R"({"key":"k","seq":1.5,"at":1700000000123,)" + m + "}",
       R"("seq" must be an integer, got a number that is not an integer)"},
      {R"({"key":"k","seq":"1","at":1700000000123,)" + m + "}",
       R"("seq" must be an integer, got a string)"},
      {R"({"key":"k","at":1700000000123,)" + m + R"(,"user_id":{"id":1}})",
       R"("user_id" must be a string, got an object)"},
      {R"({"key":"k","at":1700000000123,)" + m + R"(,"project":true})",
       R"("project" must be a string, got a boolean)"},
      {R"({"key":"k","at":1700000000123,)" + m + R"(,"page":["a"]})",
       R"("page" must be a string, got an array)"},
      {R"({"key":"k","at":1700000000123,)" + m + R"(,"user_agent":false})",
       R"("user_agent" must be a string, got a boolean)"},
      {R"({})", R"(missing "key" (the client session key))"},
  };
  for (const auto& [body, reason] : cases) {
    SCOPED_TRACE(body);
    EXPECT_EQ(RejectReason(body), reason);
  }
}

TEST(StreampixelTest, LaterDuplicateFieldWins) {
  Event e = ParseOne(R"({"key":5,"key":"k","at":"x","at":1700000000123,"message":{"type":"x"}})");
  EXPECT_EQ(e.id, "streampixel/k");
  EXPECT_EQ(e.utc_ms, kT);
}

TEST(StreampixelTest, RejectedItemsDoNotStopTheRest) {
  const std::string good0 = Item(R"({"type":"stream-state","value":"queue-2"})");
  const std::string bad1 = R"({"key":"k","message":{"type":"x"}})";
  const std::string good2 = Item(R"({"type":"stream-state","value":"queue-1"})");
  const std::string body =
      "[" + good0 + "," + bad1 + "," + good2 + R"(,42,"text",null,true,[1,{"a":[]}],{}])";
  Result<ParsedBody> r = Parse(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0].raw_state, "queue-2");
  EXPECT_EQ(r->events[1].raw_state, "queue-1");
  ASSERT_EQ(r->rejects.size(), 7u);
  EXPECT_EQ(r->rejects[0].index, 1);
  EXPECT_EQ(r->rejects[0].body, bad1);
  EXPECT_EQ(r->rejects[0].reason, R"(missing "at" (ms since the epoch))");
  const std::pair<int64_t, std::string> rest[] = {
      {3, "item must be a JSON object, got a number"},
      {4, "item must be a JSON object, got a string"},
      {5, "item must be a JSON object, got null"},
      {6, "item must be a JSON object, got a boolean"},
      {7, "item must be a JSON object, got an array"},
      {8, R"(missing "key" (the client session key))"},
  };
  for (size_t i = 0; i < std::size(rest); ++i) {
    EXPECT_EQ(r->rejects[i + 1].index, rest[i].first);
    EXPECT_EQ(r->rejects[i + 1].reason, rest[i].second);
  }
  EXPECT_EQ(r->rejects[1].body, "42");
  EXPECT_EQ(r->rejects[2].body, R"("text")");
  EXPECT_EQ(r->rejects[5].body, R"([1,{"a":[]}])");
}

// ---------------------------------------------------------------------------
// Unreadable bodies

TEST(StreampixelTest, EmptyOrNonJsonBodiesAreRefused) {
  EXPECT_EQ(Refused(""), "empty body: expected a JSON object or an array of objects");
  EXPECT_EQ(Refused(" \r\n\t"), "empty body: expected a JSON object or an array of objects");
  EXPECT_EQ(Refused("hello"), "body must be a JSON object or a JSON array of objects");
  EXPECT_EQ(Refused("42"), "body must be a JSON object or a JSON array of objects");
  EXPECT_EQ(Refused(R"("x")"), "body must be a JSON object or a JSON array of objects");
}

TEST(StreampixelTest, InvalidJsonAnywhereRefusesTheWholeBody) {
  const std::string good = Item(R"({"type":"stream-state","value":"connecting"})");
  const std::string cases[] = {
      // the object itself
      R"({"key":"k","at":1700000000123,"message":{"type":"x"})",           // unterminated
      R"({"key":"k","at":1700000000123,"message":{"type":"x"}}})",         // extra brace
      R"({"key":"k","at":1700000000123,"message":{"type":"x"}} {"a":1})",  // two values
      R"({"key":"k","at":1700000000123,"message":{"type":"x"}}
{"key":"k","at":1700000000124,"message":{"type":"x"}})",          // NDJSON is not a wire format
      R"({"key":"k","at":17000000001e,"message":{"type":"x"}})",  // bad number in "at"
      R"({"key":"k","seq":01,"at":1700000000123,"message":{"type":"x"}})",
      R"({"key":"k","at":1700000000123,"message":{"type":"x","value":tru}})",
      R"({"key":"k","at":1700000000123,"message":{"type":"x","deep":{"a":[1,2,}]}}})",
      R"({"key":"k","at":1700000000123,"message":{"type":"x"},"extra":nul})",
      R"({"key":"k","at":1700000000123,"message":{"type":"x"},"user_id":-})",
      R"({"key":"k\x","at":1700000000123,"message":{"type":"x"}})",            // bad escape
      "{\"key\":\"\xff\",\"at\":1700000000123,\"message\":{\"type\":\"x\"}}",  // bad UTF-8
      // arrays
      "[" + good + ",",
      "[" + good + "] x",
      "[" + good + "][]",
      "[" + good + "," + R"({"key":"k","at":1,"message":{"type":"x",}})" + "]",
      "[" + good + ",tru]",
      "[" + good + ",[1,2,]]",
      "[" + good + ",01]",
  };
  for (const std::string& body : cases) {
    SCOPED_TRACE(body);
    Refused(body);
  }
}

TEST(StreampixelTest, RefusalNamesTheItem) {
  const std::string good = Item(R"({"type":"stream-state","value":"connecting"})");
  const std::string msg = Refused("[" + good + "," + good + R"(,{"key":"k","at":tru}])");
  EXPECT_NE(msg.find("item 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed value"), std::string::npos) << msg;
  const std::string msg2 = Refused(R"({"key":"k","at":1,"message":{"type":"x"},"z":1.})");
  EXPECT_EQ(msg2, "invalid JSON in item 0: malformed number");
}

TEST(StreampixelTest, EveryTruncationIsRefused) {
  // Cut anywhere, the body is unreadable (or, cut to nothing, empty): never
  // half-accepted, never read past its end (the sanitizer builds check that).
  const std::string body =
      "[" + Item(R"({"type":"stream-state","value":"queue-3","x":[1.5e3,true,null,"\u00e9"]})") +
      "," + Item(R"({"type":"disconnect","code":4001,"reason":"No Worker Node Available"})") + "]";
  ASSERT_TRUE(Parse(body).ok());
  for (size_t n = 0; n < body.size(); ++n) {
    SCOPED_TRACE(n);
    EXPECT_FALSE(Parse(body.substr(0, n)).ok());
  }
}

TEST(StreampixelTest, SafeFromManyThreads) {
  const std::string body = "[" + Item(R"({"type":"stream-state","value":"queue-3"})") + "," +
                           Item(R"({"type":"disconnect","code":4001})") + "]";
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        Result<ParsedBody> r = Parse(body);
        if (r.ok() && r->events.size() == 2 && r->events[1].end_class == "capacity") ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 500);
}

}  // namespace
}  // namespace sink
