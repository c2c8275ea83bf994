// Happy paths of the body parser and normalizer.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace sink {
namespace {

// Parses `body`, which must hold exactly one event; returns it (or a default
// Event after recording a failure).
Event ParseOne(std::string_view body) {
  Result<ParsedBody> r = test::Parse(body);
  if (!r.ok()) {
    ADD_FAILURE() << "body refused: " << r.status().ToString() << "\nbody: " << body;
    return Event{};
  }
  if (r->events.size() != 1 || !r->rejects.empty()) {
    ADD_FAILURE() << "expected one event, got " << r->events.size() << " events and "
                  << r->rejects.size() << " rejects\nbody: " << body;
    return Event{};
  }
  return std::move(r->events[0]);
}

// The value a timestamp field gets from the JSON value `json` (e.g. "1637094994"
// or "\"2021-11-16T20:36:34Z\"").
std::optional<int64_t> Timestamp(const std::string& field, const std::string& json) {
  Event e = ParseOne(R"({"event":"play_opened","id":"a",")" + field + "\":" + json + "}");
  if (field == "utc_ms") return e.utc_ms;
  if (field == "opened_at") return e.opened_at;
  if (field == "authorized_at") return e.authorized_at;
  if (field == "started_at") return e.started_at;
  if (field == "updated_at") return e.updated_at;
  if (field == "closed_at") return e.closed_at;
  ADD_FAILURE() << "not a timestamp field: " << field;
  return std::nullopt;
}

std::optional<int64_t> UtcMs(const std::string& json) { return Timestamp("utc_ms", json); }

std::optional<int64_t> DurationMs(const std::string& json) {
  return ParseOne(R"({"event":"play_closed","duration":)" + json + "}").duration_ms;
}

std::optional<std::string> Reason(const std::string& json) {
  return ParseOne(R"({"event":"play_closed","id":"a","reason":)" + json + "}").reason;
}

constexpr int64_t kT = 1637094994000;  // 2021-11-16T20:36:34Z in ms

// ---------------------------------------------------------------------------
// Body shapes

TEST(EventParserTest, ArrayOfEvents) {
  Result<ParsedBody> r = test::Parse(R"([{"event":"play_opened","id":"a","utc_ms":1637094994000},)"
                                     R"({"event":"play_closed","id":"a","utc_ms":1637098821000}])");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_TRUE(r->rejects.empty());
  EXPECT_EQ(r->events[0].name, "play_opened");
  EXPECT_EQ(r->events[0].kind, "play");
  EXPECT_EQ(r->events[0].phase, Phase::kOpened);
  EXPECT_EQ(r->events[0].utc_ms, kT);
  EXPECT_EQ(r->events[1].name, "play_closed");
  EXPECT_EQ(r->events[1].phase, Phase::kClosed);
  EXPECT_EQ(r->events[1].utc_ms, 1637098821000);
}

TEST(EventParserTest, EmptyArrayIsAcceptedWithNoEvents) {
  for (const char* body : {"[]", "[ ]", " \n[\n]\n ", "[\r\n]\r\n"}) {
    Result<ParsedBody> r = test::Parse(body);
    ASSERT_TRUE(r.ok()) << r.status().ToString() << " for " << body;
    EXPECT_TRUE(r->events.empty());
    EXPECT_TRUE(r->rejects.empty());
  }
}

TEST(EventParserTest, ArrayWithWhitespaceEverywhere) {
  Result<ParsedBody> r = test::Parse(
      " \t\r\n[\n  {\"event\":\"play_opened\",\"id\":\"a\"} ,\r\n\t{\"event\":\"play_closed\"}\n"
      "]\n\n ");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0].body, R"({"event":"play_opened","id":"a"})");
  EXPECT_EQ(r->events[1].body, R"({"event":"play_closed"})");
}

TEST(EventParserTest, SingleObject) {
  Result<ParsedBody> r = test::Parse(R"({"event":"play_opened","id":"a","utc_ms":1637094994000})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_TRUE(r->rejects.empty());
  EXPECT_EQ(r->events[0].name, "play_opened");
  EXPECT_EQ(r->events[0].id, "a");
  EXPECT_EQ(r->events[0].utc_ms, kT);
  EXPECT_EQ(r->events[0].body, R"({"event":"play_opened","id":"a","utc_ms":1637094994000})");
}

TEST(EventParserTest, SingleObjectWithSurroundingWhitespace) {
  Event e = ParseOne("\r\n  {\"event\":\"play_opened\",\"id\":\"a\"}  \r\n\n");
  EXPECT_EQ(e.id, "a");
  EXPECT_EQ(e.body, R"({"event":"play_opened","id":"a"})");
}

TEST(EventParserTest, Ndjson) {
  Result<ParsedBody> r = test::Parse(
      "{\"event\":\"play_opened\",\"id\":\"a\"}\n"
      "{\"event\":\"play_started\",\"id\":\"a\"}\n"
      "{\"event\":\"play_closed\",\"id\":\"a\"}\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events[0].phase, Phase::kOpened);
  EXPECT_EQ(r->events[1].phase, Phase::kStarted);
  EXPECT_EQ(r->events[2].phase, Phase::kClosed);
  EXPECT_EQ(r->events[1].body, R"({"event":"play_started","id":"a"})");
}

TEST(EventParserTest, NdjsonWithBlankLinesCrlfAndNoFinalNewline) {
  Result<ParsedBody> r = test::Parse(
      "\r\n\n{\"event\":\"play_opened\",\"id\":\"a\"}\r\n"
      "\r\n"
      "   \t \r\n"
      "  {\"event\":\"play_started\",\"id\":\"a\"}\t\r\n"
      "\n"
      "{\"event\":\"play_closed\",\"id\":\"a\",\"reason\":{\"x\": 1}}");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_TRUE(r->rejects.empty());
  EXPECT_EQ(r->events[0].name, "play_opened");
  EXPECT_EQ(r->events[1].name, "play_started");
  EXPECT_EQ(r->events[2].name, "play_closed");
  // Each body is the line without its indentation and line ending.
  EXPECT_EQ(r->events[0].body, R"({"event":"play_opened","id":"a"})");
  EXPECT_EQ(r->events[1].body, R"({"event":"play_started","id":"a"})");
  EXPECT_EQ(r->events[2].body, R"({"event":"play_closed","id":"a","reason":{"x": 1}})");
  EXPECT_EQ(r->events[2].reason, R"({"x":1})");
}

TEST(EventParserTest, PrettyPrintedSingleObject) {
  const std::string object =
      "{\n"
      "  \"event\": \"play_closed\",\n"
      "  \"id\": \"61942414-8c15-4809-8bb6-adf1ae846027\",\n"
      "  \"reason\": {\n"
      "    \"code\": \"timeout\"\n"
      "  },\n"
      "  \"closed_at\": 1637098821\n"
      "}";
  Event e = ParseOne(object + "\n");
  EXPECT_EQ(e.name, "play_closed");
  EXPECT_EQ(e.id, "61942414-8c15-4809-8bb6-adf1ae846027");
  EXPECT_EQ(e.reason, R"({"code":"timeout"})");
  EXPECT_EQ(e.closed_at, 1637098821000);
  EXPECT_EQ(e.body, object);
}

TEST(EventParserTest, PrettyPrintedSingleObjectWithCrlf) {
  const std::string object =
      "{\r\n  \"event\": \"play_closed\",\r\n  \"id\": \"a\",\r\n  \"reason\": {\r\n"
      "    \"code\" : \"timeout\"\r\n  }\r\n}";
  Event e = ParseOne(object + "\r\n");
  EXPECT_EQ(e.id, "a");
  EXPECT_EQ(e.reason, R"({"code":"timeout"})");
  EXPECT_EQ(e.body, object);
}

TEST(EventParserTest, Utf8ByteOrderMarkBeforeArrayIsSkipped) {
  const std::string bom = "\xEF\xBB\xBF";
  for (const std::string& body : {bom + R"([{"event":"play_opened","id":"a"}])",
                                  bom + "\r\n [{\"event\":\"play_opened\",\"id\":\"a\"}]"}) {
    Result<ParsedBody> r = test::Parse(body);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->events.size(), 1u);
    EXPECT_EQ(r->events[0].body, R"({"event":"play_opened","id":"a"})");
  }
}

TEST(EventParserTest, Utf8ByteOrderMarkBeforeObjectIsSkipped) {
  const std::string bom = "\xEF\xBB\xBF";
  {
    Event e = ParseOne(bom + R"({"event":"play_opened","id":"a"})");
    EXPECT_EQ(e.id, "a");
    EXPECT_EQ(e.body, R"({"event":"play_opened","id":"a"})");
  }
  {
    Result<ParsedBody> r = test::Parse(
        bom + "\n{\"event\":\"play_opened\",\"id\":\"a\"}\n{\"event\":\"play_closed\"}\n");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->events.size(), 2u);
    EXPECT_EQ(r->events[0].body, R"({"event":"play_opened","id":"a"})");
  }
}

// ---------------------------------------------------------------------------
// Fields

TEST(EventParserTest, EveryFieldIsRead) {
  Event e = ParseOne(R"js({
    "event": "play_closed",
    "event_id": 102,
    "utc_ms": 1637098821000,
    "server": "flussonic.host",
    "id": "61942414-8c15-4809-8bb6-adf1ae846027",
    "type": "play",
    "media": "hockey1",
    "source_id": "61942420-1b2e-4614-8871-a4c6345da31f",
    "parent_id": "61942420-0000-4614-8871-a4c6345da31f",
    "user_id": "5435",
    "token": "zGAFxLkoWluO1pG7_nJmQAbCnM5",
    "ip": "172.16.25.73",
    "proto": "dash",
    "country": "us",
    "user_agent": "Mozilla/5.0 (X11)",
    "referer": "http://my-tv-portal.local/hockey1",
    "url": "http://origin/hockey1/index.mpd",
    "reason": "normal",
    "opened_at": 1637094994000,
    "authorized_at": 1637094995000,
    "started_at": 1637095014000,
    "updated_at": 1637098611000,
    "closed_at": 1637098821000,
    "bytes": 734003200,
    "duration": 3827
  })js");
  EXPECT_EQ(e.name, "play_closed");
  EXPECT_EQ(e.kind, "play");
  EXPECT_TRUE(e.kind_explicit);
  EXPECT_EQ(e.phase, Phase::kClosed);
  EXPECT_TRUE(e.HasSession());
  EXPECT_EQ(e.event_id, 102);
  EXPECT_EQ(e.utc_ms, 1637098821000);
  EXPECT_EQ(e.server, "flussonic.host");
  EXPECT_EQ(e.id, "61942414-8c15-4809-8bb6-adf1ae846027");
  EXPECT_EQ(e.media, "hockey1");
  EXPECT_EQ(e.source_id, "61942420-1b2e-4614-8871-a4c6345da31f");
  EXPECT_EQ(e.parent_id, "61942420-0000-4614-8871-a4c6345da31f");
  EXPECT_EQ(e.user_id, "5435");
  EXPECT_EQ(e.token, "zGAFxLkoWluO1pG7_nJmQAbCnM5");
  EXPECT_EQ(e.ip, "172.16.25.73");
  EXPECT_EQ(e.proto, "dash");
  EXPECT_EQ(e.country, "us");
  EXPECT_EQ(e.user_agent, "Mozilla/5.0 (X11)");
  EXPECT_EQ(e.referer, "http://my-tv-portal.local/hockey1");
  EXPECT_EQ(e.url, "http://origin/hockey1/index.mpd");
  EXPECT_EQ(e.reason, "normal");
  EXPECT_EQ(e.opened_at, 1637094994000);
  EXPECT_EQ(e.authorized_at, 1637094995000);
  EXPECT_EQ(e.started_at, 1637095014000);
  EXPECT_EQ(e.updated_at, 1637098611000);
  EXPECT_EQ(e.closed_at, 1637098821000);
  EXPECT_EQ(e.bytes, 734003200);
  EXPECT_EQ(e.duration_ms, 3827000);
  EXPECT_EQ(e.EventTime(), 1637098821000);
}

TEST(EventParserTest, AbsentFieldsStayAbsent) {
  Event e = ParseOne(R"({"event":"play_opened"})");
  EXPECT_EQ(e.name, "play_opened");
  EXPECT_EQ(e.kind, "play");
  EXPECT_EQ(e.id, std::nullopt);
  EXPECT_FALSE(e.HasSession());
  EXPECT_EQ(e.server, std::nullopt);
  EXPECT_EQ(e.media, std::nullopt);
  EXPECT_EQ(e.source_id, std::nullopt);
  EXPECT_EQ(e.parent_id, std::nullopt);
  EXPECT_EQ(e.user_id, std::nullopt);
  EXPECT_EQ(e.token, std::nullopt);
  EXPECT_EQ(e.ip, std::nullopt);
  EXPECT_EQ(e.proto, std::nullopt);
  EXPECT_EQ(e.country, std::nullopt);
  EXPECT_EQ(e.user_agent, std::nullopt);
  EXPECT_EQ(e.referer, std::nullopt);
  EXPECT_EQ(e.url, std::nullopt);
  EXPECT_EQ(e.reason, std::nullopt);
  EXPECT_EQ(e.event_id, std::nullopt);
  EXPECT_EQ(e.utc_ms, std::nullopt);
  EXPECT_EQ(e.opened_at, std::nullopt);
  EXPECT_EQ(e.authorized_at, std::nullopt);
  EXPECT_EQ(e.started_at, std::nullopt);
  EXPECT_EQ(e.updated_at, std::nullopt);
  EXPECT_EQ(e.closed_at, std::nullopt);
  EXPECT_EQ(e.bytes, std::nullopt);
  EXPECT_EQ(e.duration_ms, std::nullopt);
  EXPECT_EQ(e.EventTime(), std::nullopt);
}

TEST(EventParserTest, FieldOrderDoesNotMatter) {
  Event e = ParseOne(
      R"({"duration":2,"bytes":5,"id":"a","media":"m","utc_ms":1637094994000,"event":"play_closed"})");
  EXPECT_EQ(e.name, "play_closed");
  EXPECT_EQ(e.id, "a");
  EXPECT_EQ(e.media, "m");
  EXPECT_EQ(e.bytes, 5);
  EXPECT_EQ(e.duration_ms, 2000);
  EXPECT_EQ(e.utc_ms, kT);
}

TEST(EventParserTest, TextFieldsAreUnescaped) {
  Event e = ParseOne(
      R"({"event":"play_opened","id":"a\/b","user_agent":"Mozilla\/5.0 \"quoted\" \\ tab\t",)"
      R"("media":"\u0445\u043e\u043a\u043a\u0435\u0439","server":"\ud83d\ude00","referer":"a\nb"})");
  EXPECT_EQ(e.id, "a/b");
  EXPECT_EQ(e.user_agent, "Mozilla/5.0 \"quoted\" \\ tab\t");
  EXPECT_EQ(e.media, "\xd1\x85\xd0\xbe\xd0\xba\xd0\xba\xd0\xb5\xd0\xb9");  // "хоккей"
  EXPECT_EQ(e.server, "\xF0\x9F\x98\x80");                                 // U+1F600
  EXPECT_EQ(e.referer, "a\nb");
}

TEST(EventParserTest, RawUtf8TextIsKept) {
  const std::string media = "\xd1\x85\xd0\xbe\xd0\xba\xd0\xba\xd0\xb5\xd0\xb9 \xe2\x82\xac";
  Event e = ParseOne(R"({"event":"play_opened","media":")" + media + R"("})");
  EXPECT_EQ(e.media, media);
  EXPECT_EQ(e.body, R"({"event":"play_opened","media":")" + media + R"("})");
}

TEST(EventParserTest, EmptyStringsInTextFieldsAreKept) {
  Event e = ParseOne(R"({"event":"play_opened","id":"a","media":"","user_id":"","url":""})");
  EXPECT_EQ(e.media, "");
  EXPECT_EQ(e.user_id, "");
  EXPECT_EQ(e.url, "");
}

TEST(EventParserTest, NumbersInTextFieldsBecomeTheirJsonText) {
  Event e = ParseOne(
      R"({"event":"play_opened","id":123,"user_id":42,"server":1.5,"media":-0,"token":1E+2,)"
      R"("ip":10 ,"proto":7)"
      "\n,"
      R"("source_id":1.50,"parent_id":-12.5e-3,"referer":0,"url":9,"user_agent":3,"country":44 })");
  EXPECT_EQ(e.id, "123");
  EXPECT_TRUE(e.HasSession());
  EXPECT_EQ(e.user_id, "42");
  EXPECT_EQ(e.server, "1.5");
  EXPECT_EQ(e.media, "-0");
  EXPECT_EQ(e.token, "1E+2");
  EXPECT_EQ(e.ip, "10");
  EXPECT_EQ(e.proto, "7");
  EXPECT_EQ(e.source_id, "1.50");
  EXPECT_EQ(e.parent_id, "-12.5e-3");
  EXPECT_EQ(e.referer, "0");
  EXPECT_EQ(e.url, "9");
  EXPECT_EQ(e.user_agent, "3");
  EXPECT_EQ(e.country, "44");
}

TEST(EventParserTest, NullTextFieldsAreAbsent) {
  Event e = ParseOne(
      R"({"event":"play_opened","id":"a","server":null,"media":null,"source_id":null,)"
      R"("parent_id":null,"user_id":null,"token":null,"ip":null,"proto":null,"country":null,)"
      R"("user_agent":null,"referer":null,"url":null})");
  EXPECT_EQ(e.server, std::nullopt);
  EXPECT_EQ(e.media, std::nullopt);
  EXPECT_EQ(e.source_id, std::nullopt);
  EXPECT_EQ(e.parent_id, std::nullopt);
  EXPECT_EQ(e.user_id, std::nullopt);
  EXPECT_EQ(e.token, std::nullopt);
  EXPECT_EQ(e.ip, std::nullopt);
  EXPECT_EQ(e.proto, std::nullopt);
  EXPECT_EQ(e.country, std::nullopt);
  EXPECT_EQ(e.user_agent, std::nullopt);
  EXPECT_EQ(e.referer, std::nullopt);
  EXPECT_EQ(e.url, std::nullopt);
}

// ---------------------------------------------------------------------------
// Body verbatim

TEST(EventParserTest, BodyIsTheArrayItemExactlyAsReceived) {
  const std::string item0 =
      R"({"event" : "play_opened",  "zz": {"nested": [1, 2.50, "a\"b", "\u00e9\n", null, true]},)"
      "\n   "
      R"("pid":"<0.1.0>", "module" : "flu_session",  "line":  42 , "id":"a"})";
  const std::string item1 = R"({"event":"play_closed","level":"info"})";
  Result<ParsedBody> r = test::Parse("[ " + item0 + " ,\n\t" + item1 + "\n]");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0].body, item0);
  EXPECT_EQ(r->events[0].id, "a");
  EXPECT_EQ(r->events[1].body, item1);
}

TEST(EventParserTest, BodyKeepsUnknownFieldsInNdjson) {
  const std::string line0 = R"({"event":"play_opened", "time":"2021-11-16T20:36:34Z", "x":{}})";
  const std::string line1 = R"({"event":"play_closed","weird":[[],[{}],"\\"]})";
  Result<ParsedBody> r = test::Parse(line0 + "\r\n" + line1 + "\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0].body, line0);
  EXPECT_EQ(r->events[1].body, line1);
  // "time" is not a field we read.
  EXPECT_EQ(r->events[0].utc_ms, std::nullopt);
}

TEST(EventParserTest, BodyOfASingleObjectKeepsEscapes) {
  const std::string object =
      R"({"event":"play_opened","media":"\u0068ockey\/1","x":"\ud83d\ude00","y":"tab\there"})";
  Event e = ParseOne(object);
  EXPECT_EQ(e.body, object);
  EXPECT_EQ(e.media, "hockey/1");
}

// ---------------------------------------------------------------------------
// Families and phases

struct PhaseCase {
  const char* name;
  const char* kind;
  Phase phase;
};

TEST(EventParserTest, FamiliesAndPhases) {
  const PhaseCase cases[] = {
      {"play_opened", "play", Phase::kOpened},
      {"play_connected", "play", Phase::kConnected},
      {"play_authorized", "play", Phase::kAuthorized},
      {"play_started", "play", Phase::kStarted},
      {"play_updated", "play", Phase::kUpdated},
      {"play_altered", "play", Phase::kAltered},
      {"play_overflowed", "play", Phase::kOverflowed},
      {"play_stalled", "play", Phase::kStalled},
      {"play_recovered", "play", Phase::kRecovered},
      {"play_denied", "play", Phase::kDenied},
      {"play_closed", "play", Phase::kClosed},
      {"publish_opened", "publish", Phase::kOpened},
      {"publish_started", "publish", Phase::kStarted},
      {"publish_closed", "publish", Phase::kClosed},
      {"ingest_opened", "ingest", Phase::kOpened},
      {"ingest_updated", "ingest", Phase::kUpdated},
      {"ingest_closed", "ingest", Phase::kClosed},
      {"push_opened", "push", Phase::kOpened},
      {"push_connected", "push", Phase::kConnected},
      {"push_started", "push", Phase::kStarted},
      {"push_updated", "push", Phase::kUpdated},
      {"push_blocked", "push", Phase::kStalled},
      {"push_restored", "push", Phase::kRecovered},
      {"push_closed", "push", Phase::kClosed},
      {"stream_opened", "stream", Phase::kOpened},
      {"stream_started", "stream", Phase::kStarted},
      {"stream_updated", "stream", Phase::kUpdated},
      {"stream_closed", "stream", Phase::kClosed},
      {"stream_stopped", "stream", Phase::kClosed},
  };
  for (const PhaseCase& c : cases) {
    SCOPED_TRACE(c.name);
    Event e = ParseOne(std::string(R"({"event":")") + c.name + R"(","id":"s1"})");
    EXPECT_EQ(e.name, c.name);
    EXPECT_EQ(e.kind, c.kind);
    EXPECT_TRUE(e.kind_explicit);
    EXPECT_EQ(e.phase, c.phase) << PhaseName(e.phase);
    EXPECT_TRUE(e.HasSession());
  }
}

TEST(EventParserTest, UnknownPhaseInKnownFamilyIsOther) {
  for (const char* name :
       {"play_foo", "push_something_new", "stream_motion_started", "ingest_", "source_weird"}) {
    SCOPED_TRACE(name);
    Event e = ParseOne(std::string(R"({"event":")") + name + R"(","id":"s1"})");
    EXPECT_EQ(e.name, name);
    EXPECT_FALSE(e.kind.empty());
    EXPECT_EQ(e.phase, Phase::kOther);
    EXPECT_TRUE(e.HasSession());
    EXPECT_EQ(e.EventTime(), std::nullopt);
  }
  EXPECT_EQ(ParseOne(R"({"event":"play_foo","id":"s"})").kind, "play");
}

TEST(EventParserTest, UnknownEventsBelongToNoSession) {
  for (const char* name :
       {"server_started", "server_starting", "config_external_error", "presence_connected",
        "chassis_connected", "multiplexer_pid_on", "webrtc_play_prober_timeout", "ad_injected",
        "playback_opened", "streams_closed", "listener_start", "stream.started", "x"}) {
    SCOPED_TRACE(name);
    Event e = ParseOne(std::string(R"({"event":")") + name +
                       R"(","id":"s1","server":"srv","opened_at":1637094994})");
    EXPECT_EQ(e.name, name);
    EXPECT_EQ(e.kind, "");
    EXPECT_FALSE(e.kind_explicit);
    EXPECT_EQ(e.phase, Phase::kNone);
    EXPECT_FALSE(e.HasSession());
    // Fields are still read.
    EXPECT_EQ(e.id, "s1");
    EXPECT_EQ(e.server, "srv");
    EXPECT_EQ(e.opened_at, kT);
  }
}

TEST(EventParserTest, EventNameIsKeptVerbatim) {
  Event e = ParseOne(R"({"event":"play_op\u0065ned","id":"a"})");
  EXPECT_EQ(e.name, "play_opened");
  EXPECT_EQ(e.phase, Phase::kOpened);
}

TEST(EventParserTest, SourceKindFromType) {
  {
    Event e =
        ParseOne(R"({"event":"source_opened","id":"s","type":"publish","url":"rtmp://x/live"})");
    EXPECT_EQ(e.kind, "publish");
    EXPECT_TRUE(e.kind_explicit);
    EXPECT_EQ(e.phase, Phase::kOpened);
    EXPECT_TRUE(e.HasSession());
  }
  {
    // "type" beats the URL.
    Event e =
        ParseOne(R"({"event":"source_closed","id":"s","url":"publish://live/a","type":"ingest"})");
    EXPECT_EQ(e.kind, "ingest");
    EXPECT_TRUE(e.kind_explicit);
    EXPECT_EQ(e.phase, Phase::kClosed);
  }
}

TEST(EventParserTest, SourcePhases) {
  const PhaseCase cases[] = {
      {"source_opened", "ingest", Phase::kOpened},
      {"source_connected", "ingest", Phase::kConnected},
      {"source_started", "ingest", Phase::kStarted},
      {"source_updated", "ingest", Phase::kUpdated},
      {"source_closed", "ingest", Phase::kClosed},
  };
  for (const PhaseCase& c : cases) {
    SCOPED_TRACE(c.name);
    Event e = ParseOne(std::string(R"({"event":")") + c.name + R"(","type":"ingest","id":"s"})");
    EXPECT_EQ(e.kind, c.kind);
    EXPECT_EQ(e.phase, c.phase);
  }
}

TEST(EventParserTest, SourceWithoutTypeAndNonPublishUrlIsInferredIngest) {
  for (const char* extra : {R"(,"url":"rtmp://origin/live/a")", R"(,"url":"http://x/publish://y")",
                            "", R"(,"url":null)", R"(,"type":"play","url":"udp://239.0.0.1:1234")",
                            R"(,"type":null,"url":"rtsp://cam")"}) {
    SCOPED_TRACE(extra);
    Event e = ParseOne(std::string(R"({"event":"source_opened","id":"s")") + extra + "}");
    EXPECT_EQ(e.kind, "ingest");
    EXPECT_FALSE(e.kind_explicit);
    EXPECT_EQ(e.phase, Phase::kOpened);
    EXPECT_TRUE(e.HasSession());
  }
}

TEST(EventParserTest, SourceWithoutTypeAndPublishUrlIsInferredPublish) {
  for (const char* extra :
       {R"(,"url":"publish://live/a")", R"(,"type":"stream","url":"publish://x")"}) {
    SCOPED_TRACE(extra);
    Event e = ParseOne(std::string(R"({"event":"source_started","id":"s")") + extra + "}");
    EXPECT_EQ(e.kind, "publish");
    EXPECT_EQ(e.phase, Phase::kStarted);
  }
}

TEST(EventParserTest, InferredPublishKindIsNotExplicit) {
  // event.h: kind_explicit is "false when it was inferred (a source_* event
  // without "type")"; session-model.md §1: "such an inferred kind gives way to
  // a stated one from any other event of the session".
  Event e = ParseOne(R"({"event":"source_opened","id":"s","url":"publish://live/a"})");
  EXPECT_EQ(e.kind, "publish");
  EXPECT_FALSE(e.kind_explicit);
}

TEST(EventParserTest, FamilyBeatsType) {
  Event e = ParseOne(R"({"event":"play_opened","id":"s","type":"publish"})");
  EXPECT_EQ(e.kind, "play");
  EXPECT_TRUE(e.kind_explicit);
}

// ---------------------------------------------------------------------------
// Session id

TEST(EventParserTest, SessionIdFallback) {
  {
    Event e = ParseOne(R"({"event":"play_opened","session_id":"s1"})");
    EXPECT_EQ(e.id, "s1");
    EXPECT_TRUE(e.HasSession());
  }
  {
    Event e = ParseOne(R"({"event":"play_opened","session_id":"s1","id":"a"})");
    EXPECT_EQ(e.id, "a");
  }
  {
    Event e = ParseOne(R"({"event":"play_opened","id":"a","session_id":"s1"})");
    EXPECT_EQ(e.id, "a");
  }
  {
    Event e = ParseOne(R"({"event":"play_opened","id":null,"session_id":"s1"})");
    EXPECT_EQ(e.id, "s1");
  }
  {
    Event e = ParseOne(R"({"event":"play_opened","session_id":77})");
    EXPECT_EQ(e.id, "77");
  }
}

TEST(EventParserTest, EmptyIdIsAbsent) {
  for (const char* body :
       {R"({"event":"play_opened","id":""})", R"({"event":"play_opened","session_id":""})",
        R"({"event":"play_opened","id":null})"}) {
    SCOPED_TRACE(body);
    Event e = ParseOne(body);
    EXPECT_EQ(e.id, std::nullopt);
    EXPECT_EQ(e.kind, "play");
    EXPECT_FALSE(e.HasSession());
  }
}

TEST(EventParserTest, EmptyIdFallsBackToSessionId) {
  // "`id` empty string → absent" and "Session id: `id`; if absent, `session_id`".
  Event e = ParseOne(R"({"event":"play_opened","id":"","session_id":"s1"})");
  EXPECT_EQ(e.id, "s1");
  EXPECT_TRUE(e.HasSession());
}

// ---------------------------------------------------------------------------
// Timestamps

TEST(EventParserTest, TimestampSecondsAndMilliseconds) {
  EXPECT_EQ(UtcMs("1637094994"), kT);     // 10 digits: seconds
  EXPECT_EQ(UtcMs("1637094994000"), kT);  // 13 digits: ms
  EXPECT_EQ(UtcMs("1637094994000 "), kT);
  // Below 1e11 the unit is seconds; both readings must land in [2000, 2100).
  EXPECT_EQ(UtcMs("4102444799"), 4102444799000);   // the last second of 2099
  EXPECT_EQ(UtcMs("946684800000"), 946684800000);  // 2000-01-01 in ms
  EXPECT_EQ(UtcMs("1"), std::nullopt);             // 1970: outside the range
  EXPECT_EQ(UtcMs("99999999999"), std::nullopt);   // seconds: the year 5138
  EXPECT_EQ(UtcMs("100000000000"), std::nullopt);  // ms: 1973
  EXPECT_EQ(UtcMs("1e11"), std::nullopt);
  EXPECT_EQ(UtcMs("4102444800000"), std::nullopt);  // 2100-01-01: excluded
  EXPECT_EQ(UtcMs("9223372036854775807"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("1999-12-31T23:59:59Z")"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("2255-01-01T00:00:00Z")"), std::nullopt);
  EXPECT_EQ(UtcMs("1.637094994e9"), kT);
  EXPECT_EQ(UtcMs("1.637094994e12"), kT);
}

TEST(EventParserTest, TimestampFractionsAreRounded) {
  EXPECT_EQ(UtcMs("1637094994.25"), kT + 250);
  EXPECT_EQ(UtcMs("1637094994.0006"), kT + 1);  // 0.6 ms rounds up
  EXPECT_EQ(UtcMs("1637094994.0004"), kT);      // 0.4 ms rounds down
  EXPECT_EQ(UtcMs("1637094994.9996"), kT + 1000);
  EXPECT_EQ(UtcMs("1637094994000.4"), kT);
  EXPECT_EQ(UtcMs("1637094994000.6"), kT + 1);
  EXPECT_EQ(UtcMs("1637094994000.0"), kT);
  EXPECT_EQ(UtcMs("1.5"), std::nullopt);             // 1970
  EXPECT_EQ(UtcMs("946684799.9996"), 946684800000);  // rounds into the range
}

TEST(EventParserTest, TimestampIso8601Strings) {
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34Z")"), kT);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34z")"), kT);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34")"), kT);  // no offset: UTC
  EXPECT_EQ(UtcMs(R"("2021-11-16 20:36:34Z")"), kT);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34.250Z")"), kT + 250);
  // Offsets beyond ±23:59 are malformed, not applied.
  EXPECT_EQ(UtcMs(R"("2021-11-16T23:36:34+03:00")"), kT);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34+24:00")"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34-00:60")"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34+99:99")"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34.5Z")"), kT + 500);
  EXPECT_EQ(UtcMs(R"("2021-11-16T23:36:34+03:00")"), kT);
  EXPECT_EQ(UtcMs(R"("2021-11-16T23:36:34+0300")"), kT);
  EXPECT_EQ(UtcMs(R"("2021-11-16T15:06:34-05:30")"), kT);
  EXPECT_EQ(UtcMs(R"("2021-11-16T23:36:34.125+03:00")"), kT + 125);
}

TEST(EventParserTest, TimestampIso8601FractionIsRounded) {
  // §1: "fractions allowed; result rounded to the nearest integer ms".
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34.2506Z")"), kT + 251);
  EXPECT_EQ(UtcMs(R"("2021-11-16T20:36:34.9999Z")"), kT + 1000);
}

TEST(EventParserTest, TimestampNumericStrings) {
  EXPECT_EQ(UtcMs(R"("1637094994")"), kT);
  EXPECT_EQ(UtcMs(R"("1637094994000")"), kT);
  EXPECT_EQ(UtcMs(R"("1637094994.25")"), kT + 250);
  EXPECT_EQ(UtcMs(R"("1637094994000.6")"), kT + 1);
  EXPECT_EQ(UtcMs(R"("1.637094994e9")"), kT);
}

TEST(EventParserTest, TimestampZeroNegativeAndUnparseableAreAbsent) {
  for (const char* json : {"0",
                           "0.0",
                           "-0",
                           "-1",
                           "-1637094994",
                           "-1637094994000",
                           "-0.5",
                           R"("0")",
                           R"("-1637094994")",
                           R"("")",
                           R"(" ")",
                           R"("yesterday")",
                           R"("1637094994abc")",
                           R"("2021-13-01T00:00:00Z")",
                           R"("2021-11-16T25:00:00Z")",
                           R"("2021-11-16T20:36:34+")",
                           R"("2021-11-16T20:36:34Zjunk")",
                           R"("nan")",
                           R"("inf")",
                           R"("-inf")",
                           "null"}) {
    SCOPED_TRACE(json);
    EXPECT_EQ(UtcMs(json), std::nullopt);
  }
}

TEST(EventParserTest, TinyPositiveTimestampRoundingToZeroIsAbsent) {
  // 1e-7 s is 0.0001 ms: rounded, that is 0, and "0 ... → absent".
  EXPECT_EQ(ParseOne(R"({"event":"play_opened","utc_ms":0.0000001})").utc_ms, std::nullopt);
  EXPECT_EQ(ParseOne(R"({"event":"play_opened","utc_ms":0.0004})").utc_ms, std::nullopt);
}

TEST(EventParserTest, TimestampIso8601AtOrBeforeEpochIsAbsent) {
  // §1: "0, negative, or unparseable → absent", whatever the notation.
  EXPECT_EQ(UtcMs(R"("1970-01-01T00:00:00Z")"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("1969-12-31T23:59:59Z")"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("1970-01-01T02:00:00+03:00")"), std::nullopt);
}

TEST(EventParserTest, TimestampImpossibleCalendarDateIsAbsent) {
  // A date that does not exist is unparseable, not silently moved to March.
  EXPECT_EQ(UtcMs(R"("2021-02-30T00:00:00Z")"), std::nullopt);
  EXPECT_EQ(UtcMs(R"("2021-04-31T00:00:00Z")"), std::nullopt);
}

TEST(EventParserTest, EveryTimestampFieldIsNormalized) {
  for (const char* field :
       {"utc_ms", "opened_at", "authorized_at", "started_at", "updated_at", "closed_at"}) {
    SCOPED_TRACE(field);
    EXPECT_EQ(Timestamp(field, "1637094994"), kT);
    EXPECT_EQ(Timestamp(field, "1637094994000"), kT);
    EXPECT_EQ(Timestamp(field, "1637094994.0006"), kT + 1);
    EXPECT_EQ(Timestamp(field, R"("2021-11-16T20:36:34.250Z")"), kT + 250);
    EXPECT_EQ(Timestamp(field, R"("1637094994")"), kT);
    EXPECT_EQ(Timestamp(field, "0"), std::nullopt);
    EXPECT_EQ(Timestamp(field, "-5"), std::nullopt);
    EXPECT_EQ(Timestamp(field, "null"), std::nullopt);
  }
}

TEST(EventParserTest, DurationSecondsToMilliseconds) {
  EXPECT_EQ(DurationMs("3827"), 3827000);
  EXPECT_EQ(DurationMs("0"), 0);
  EXPECT_EQ(DurationMs("1.5"), 1500);
  EXPECT_EQ(DurationMs("0.0004"), 0);
  EXPECT_EQ(DurationMs("0.0006"), 1);
  EXPECT_EQ(DurationMs("2.0014"), 2001);
  EXPECT_EQ(DurationMs("2.0016"), 2002);
  EXPECT_EQ(DurationMs("1e3"), 1000000);
  EXPECT_EQ(DurationMs(R"("12")"), 12000);
  EXPECT_EQ(DurationMs(R"("1.25")"), 1250);
  EXPECT_EQ(DurationMs(R"("")"), std::nullopt);
  EXPECT_EQ(DurationMs(R"("12s")"), std::nullopt);
  EXPECT_EQ(DurationMs(R"("nan")"), std::nullopt);
  EXPECT_EQ(DurationMs(R"("inf")"), std::nullopt);
  EXPECT_EQ(DurationMs("null"), std::nullopt);
}

TEST(EventParserTest, BytesAndEventIdAreIntegers) {
  auto read = [](const std::string& json) {
    return ParseOne(R"({"event":"play_updated","bytes":)" + json + R"(,"event_id":)" + json + "}");
  };
  {
    Event e = read("734003200");
    EXPECT_EQ(e.bytes, 734003200);
    EXPECT_EQ(e.event_id, 734003200);
  }
  {
    Event e = read("0");
    EXPECT_EQ(e.bytes, 0);
    EXPECT_EQ(e.event_id, 0);
  }
  {
    Event e = read("2.4");
    EXPECT_EQ(e.bytes, 2);
    EXPECT_EQ(e.event_id, 2);
  }
  {
    Event e = read("2.6");
    EXPECT_EQ(e.bytes, 3);
    EXPECT_EQ(e.event_id, 3);
  }
  {
    Event e = read("1e3");
    EXPECT_EQ(e.bytes, 1000);
    EXPECT_EQ(e.event_id, 1000);
  }
  {
    Event e = read(R"("734003200")");
    EXPECT_EQ(e.bytes, 734003200);
    EXPECT_EQ(e.event_id, 734003200);
  }
  {
    Event e = read(R"("12.6")");
    EXPECT_EQ(e.bytes, 13);
    EXPECT_EQ(e.event_id, 13);
  }
  {
    Event e = read("9223372036854775807");  // int64 max, exactly
    EXPECT_EQ(e.bytes, INT64_MAX);
    EXPECT_EQ(e.event_id, INT64_MAX);
  }
  for (const char* json : {R"("")", R"("abc")", R"("12abc")", R"("nan")", R"("inf")", "null"}) {
    SCOPED_TRACE(json);
    Event e = read(json);
    EXPECT_EQ(e.bytes, std::nullopt);
    EXPECT_EQ(e.event_id, std::nullopt);
  }
}

TEST(EventParserTest, IntegerNumericStringsAreExact) {
  // §1: "bytes, event_id: Integers (... a numeric string is accepted)". A
  // string of digits is an integer; it must not go through a double.
  Event e = ParseOne(
      R"({"event":"play_updated","bytes":"9007199254740993","event_id":"9007199254740993"})");
  EXPECT_EQ(e.bytes, 9007199254740993);
  EXPECT_EQ(e.event_id, 9007199254740993);
}

// ---------------------------------------------------------------------------
// Reason

TEST(EventParserTest, ReasonString) {
  EXPECT_EQ(Reason(R"("timeout")"), "timeout");
  EXPECT_EQ(Reason(R"("")"), "");
  EXPECT_EQ(Reason(R"("a \"b\" \\ \u00e9")"), "a \"b\" \\ \xc3\xa9");
}

TEST(EventParserTest, ReasonObjectBecomesCompactJson) {
  EXPECT_EQ(Reason(R"({"code": "timeout"})"), R"({"code":"timeout"})");
  EXPECT_EQ(Reason(R"({})"), "{}");
  EXPECT_EQ(Reason(R"( { } )"), "{}");
  // Key order is kept; spaces inside strings are kept.
  EXPECT_EQ(Reason("{ \"z\" : 1,\n \"a\" : [ 1 , {\"b\" : \"x y\"} ], \"m\":\t\"a, b: c\" }"),
            R"({"z":1,"a":[1,{"b":"x y"}],"m":"a, b: c"})");
  // Escapes inside the object stay escaped (it is JSON text).
  EXPECT_EQ(Reason(R"({"msg": "say \"hi\"\n", "u": "\u00e9"})"),
            R"({"msg":"say \"hi\"\n","u":"\u00e9"})");
}

TEST(EventParserTest, ReasonOtherValuesBecomeJsonText) {
  EXPECT_EQ(Reason("-1.5e3"), "-1.5e3");
  EXPECT_EQ(Reason("true"), "true");
  EXPECT_EQ(Reason("false"), "false");
  EXPECT_EQ(Reason("[ 1, \"a b\" , {} ]"), R"([1,"a b",{}])");
  EXPECT_EQ(Reason("[]"), "[]");
}

TEST(EventParserTest, IntegerReasonBecomesJsonText) {
  // §1: "reason: ... an object (or any non-null value) as compact JSON text".
  EXPECT_EQ(ParseOne(R"({"event":"play_closed","reason":42})").reason, "42");
  EXPECT_EQ(ParseOne(R"({"event":"play_closed","reason":-7 ,"id":"a"})").reason, "-7");
  EXPECT_EQ(ParseOne(R"([{"event":"play_closed","reason":0}])").reason, "0");
}

TEST(EventParserTest, ReasonNullIsAbsent) {
  EXPECT_EQ(Reason("null"), std::nullopt);
  EXPECT_EQ(Reason(" null "), std::nullopt);
}

TEST(EventParserTest, ReasonObjectAnywhereInTheItem) {
  // First, middle and last field; followed by other fields which are still read.
  {
    Event e = ParseOne(R"({"reason" : { "a" : 1 } , "event":"push_closed","id":"p","bytes":5})");
    EXPECT_EQ(e.reason, R"({"a":1})");
    EXPECT_EQ(e.name, "push_closed");
    EXPECT_EQ(e.bytes, 5);
  }
  {
    Event e = ParseOne("{\"event\":\"push_closed\",\"reason\":{\"a\":[1,2]}\r\n,\"id\":\"p\"}");
    EXPECT_EQ(e.reason, R"({"a":[1,2]})");
    EXPECT_EQ(e.id, "p");
  }
  {
    Event e = ParseOne("{\"event\":\"push_closed\",\"id\":\"p\",\"reason\":{\"a\":1}\n\t }");
    EXPECT_EQ(e.reason, R"({"a":1})");
  }
  {
    Result<ParsedBody> r = test::Parse(
        R"([{"event":"play_closed","reason":{"k" : "v"} },{"event":"play_closed","reason":[1 ,2]} ])");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->events.size(), 2u);
    EXPECT_EQ(r->events[0].reason, R"({"k":"v"})");
    EXPECT_EQ(r->events[1].reason, R"([1,2])");
  }
}

// ---------------------------------------------------------------------------
// Event time

TEST(EventParserTest, EventTimeFallbacksPerPhase) {
  const std::string all_ts =
      R"("opened_at":1000000000001,"authorized_at":1000000000002,"started_at":1000000000003,)"
      R"("updated_at":1000000000004,"closed_at":1000000000005)";
  struct Case {
    const char* name;
    std::optional<int64_t> want;
  };
  const Case cases[] = {
      {"play_opened", 1000000000001},    {"play_authorized", 1000000000002},
      {"play_started", 1000000000003},   {"play_updated", 1000000000004},
      {"play_closed", 1000000000005},    {"play_denied", 1000000000005},
      {"stream_stopped", 1000000000005}, {"source_opened", 1000000000001},
      {"play_connected", std::nullopt},  {"play_stalled", std::nullopt},
      {"play_recovered", std::nullopt},  {"push_blocked", std::nullopt},
      {"play_altered", std::nullopt},    {"play_overflowed", std::nullopt},
      {"play_foo", std::nullopt},        {"server_started", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Event e = ParseOne(std::string(R"({"event":")") + c.name + R"(","id":"a",)" + all_ts + "}");
    EXPECT_EQ(e.EventTime(), c.want);
    // utc_ms always wins.
    Event with_utc = ParseOne(std::string(R"({"event":")") + c.name + R"(","id":"a",)" + all_ts +
                              R"(,"utc_ms":1637094994})");
    EXPECT_EQ(with_utc.EventTime(), kT);
  }
}

TEST(EventParserTest, EventTimeOnlyUsesTheTimestampOfItsPhase) {
  EXPECT_EQ(ParseOne(R"({"event":"play_opened","closed_at":1637094994})").EventTime(),
            std::nullopt);
  EXPECT_EQ(ParseOne(R"({"event":"play_closed","opened_at":1637094994})").EventTime(),
            std::nullopt);
  EXPECT_EQ(ParseOne(R"({"event":"play_closed","closed_at":1637094994})").EventTime(), kT);
}

// ---------------------------------------------------------------------------
// Batches, lifetimes, threads

TEST(EventParserTest, HundredEventBatchKeepsOrderAndCount) {
  std::string body = "[";
  for (int i = 0; i < 100; ++i) {
    if (i) body += ",";
    body += R"({"event":")" + std::string(i % 2 ? "play_updated" : "play_opened") + R"(","id":"s)" +
            std::to_string(i / 2) + R"(","event_id":)" + std::to_string(i) + R"(,"bytes":)" +
            std::to_string(i * 1000) + "}";
  }
  body += "]";
  Result<ParsedBody> r = test::Parse(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 100u);
  EXPECT_TRUE(r->rejects.empty());
  for (int i = 0; i < 100; ++i) {
    const Event& e = r->events[static_cast<size_t>(i)];
    EXPECT_EQ(e.event_id, i);
    EXPECT_EQ(e.bytes, i * 1000);
    EXPECT_EQ(e.id, "s" + std::to_string(i / 2));
    EXPECT_EQ(e.phase, i % 2 ? Phase::kUpdated : Phase::kOpened);
  }
}

TEST(EventParserTest, HundredLineNdjsonKeepsOrderAndCount) {
  std::string body;
  for (int i = 0; i < 100; ++i) {
    body += R"({"event":"play_updated","id":"s","event_id":)" + std::to_string(i) + "}\n";
  }
  Result<ParsedBody> r = test::Parse(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r->events[static_cast<size_t>(i)].event_id, i);
}

TEST(EventParserTest, EventsOwnTheirStrings) {
  ParsedBody parsed;
  {
    std::string buf = R"([{"event":"play_opened","id":"abc","media":"m1","reason":{"a" : 1}}])";
    const size_t size = buf.size();
    buf.append(simdjson::SIMDJSON_PADDING, ' ');
    Result<ParsedBody> r = ParseBody(simdjson::padded_string_view(buf.data(), size, buf.size()));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    parsed = std::move(r.value());
    std::fill(buf.begin(), buf.end(), 'X');
  }
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].name, "play_opened");
  EXPECT_EQ(parsed.events[0].id, "abc");
  EXPECT_EQ(parsed.events[0].media, "m1");
  EXPECT_EQ(parsed.events[0].reason, R"({"a":1})");
  EXPECT_EQ(parsed.events[0].body,
            R"({"event":"play_opened","id":"abc","media":"m1","reason":{"a" : 1}})");
}

TEST(EventParserTest, ParseItemDirectly) {
  const std::string item = R"({"event":"push_blocked","id":"p","url":"rtmp://x"})";
  std::string buf = item;
  buf.append(simdjson::SIMDJSON_PADDING, ' ');
  Event e;
  std::string reason;
  ASSERT_OK(ParseItem(std::string_view(buf.data(), item.size()), buf.size(), &e, &reason));
  EXPECT_EQ(reason, "");
  EXPECT_EQ(e.name, "push_blocked");
  EXPECT_EQ(e.kind, "push");
  EXPECT_EQ(e.phase, Phase::kStalled);
  EXPECT_EQ(e.url, "rtmp://x");
  EXPECT_EQ(e.body, item);
}

TEST(EventParserTest, ParserIsReusableAfterLargeAndFailedBodies) {
  // A body over the keep-parser threshold, then an invalid one, then a small one.
  std::string big = R"([{"event":"play_opened","x":")" + std::string(5u << 20, 'a') + R"("}])";
  Result<ParsedBody> r1 = test::Parse(big);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->events.size(), 1u);
  EXPECT_FALSE(test::Parse(R"([{"event":"play_opened","x":tru}])").ok());
  Event e = ParseOne(R"([{"event":"play_closed","id":"z"}])");
  EXPECT_EQ(e.name, "play_closed");
  EXPECT_EQ(e.id, "z");
}

TEST(EventParserTest, ConcurrentParsingFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      const std::string id = "t" + std::to_string(t);
      std::string body = "[";
      for (int i = 0; i < 20; ++i) {
        if (i) body += ",";
        body += R"({"event":"play_updated","id":")" + id + R"(","event_id":)" + std::to_string(i) +
                R"(,"reason":{"k": )" + std::to_string(t) + "}}";
      }
      body += "]";
      for (int round = 0; round < kRounds; ++round) {
        Result<ParsedBody> r = test::Parse(body);
        bool good = r.ok() && r->events.size() == 20;
        for (size_t i = 0; good && i < r->events.size(); ++i) {
          good = r->events[i].id == id && r->events[i].event_id == static_cast<int64_t>(i) &&
                 r->events[i].reason == R"({"k":)" + std::to_string(t) + "}";
        }
        if (!good) ++failures[static_cast<size_t>(t)];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[static_cast<size_t>(t)], 0) << "thread " << t;
}

}  // namespace
}  // namespace sink
