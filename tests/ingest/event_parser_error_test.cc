// Error paths of the body parser: unreadable bodies and rejected items.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "store/limits.h"
#include "tests/test_util.h"

namespace sink {
namespace {

using namespace std::string_literals;  // "..."s keeps embedded NUL bytes

// Expects `body` to be refused as unreadable; returns the message.
std::string ExpectInvalid(std::string_view body) {
  Result<ParsedBody> r = test::Parse(body);
  if (r.ok()) {
    ADD_FAILURE() << "body accepted (" << r->events.size() << " events, " << r->rejects.size()
                  << " rejects): " << body.substr(0, 300);
    return "";
  }
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid)
      << r.status().ToString() << "\nbody: " << body.substr(0, 300);
  EXPECT_FALSE(r.status().message().empty());
  return r.status().message();
}

// Parses `body`, which must hold exactly one event; returns it.
Event ParseOne(std::string_view body) {
  Result<ParsedBody> r = test::Parse(body);
  if (!r.ok()) {
    ADD_FAILURE() << "body refused: " << r.status().ToString() << "\nbody: " << body.substr(0, 300);
    return Event{};
  }
  if (r->events.size() != 1 || !r->rejects.empty()) {
    ADD_FAILURE() << "expected one event, got " << r->events.size() << " events and "
                  << r->rejects.size() << " rejects\nbody: " << body.substr(0, 300);
    return Event{};
  }
  return std::move(r->events[0]);
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------
// Bodies that are not JSON at all

TEST(EventParserErrorTest, EmptyBodyIsInvalid) {
  EXPECT_TRUE(Contains(ExpectInvalid(""), "empty"));
}

TEST(EventParserErrorTest, WhitespaceOnlyBodyIsInvalid) {
  for (const char* body : {" ", "\n", "\r\n", " \t\r\n \n", "\xEF\xBB\xBF", "\xEF\xBB\xBF \r\n"}) {
    SCOPED_TRACE(testing::PrintToString(std::string(body)));
    EXPECT_TRUE(Contains(ExpectInvalid(body), "empty"));
  }
}

TEST(EventParserErrorTest, BodyMustStartWithArrayOrObject) {
  for (const char* body : {"42", "-1", "\"x\"", "<xml>", "<?xml version=\"1.0\"?><event/>", "null",
                           "true", "false", "event=play_opened&id=a", "]", "}",
                           "\xEF\xBB\xBF"
                           "42",
                           "\t 42 \n", "x{\"event\":\"a\"}", "'{\"event\":\"a\"}'"}) {
    SCOPED_TRACE(body);
    ExpectInvalid(body);
  }
}

TEST(EventParserErrorTest, TruncatedArrayIsUnreadable) {
  for (const char* body :
       {R"([{"event":"play_opened")", "[", "[ \n", R"([{"event":"play_opened"},)",
        R"([{"event":"play_opened"})", R"([{"event":"play_opened","id":)", R"([{"event":"pla)",
        R"([{"event":"play_opened","reason":{"a":[1,2)", R"([{"event":"play_opened"},{)",
        R"([{"event":"play_opened","id":"a"}, 4)", R"([{"event":"play_opened","x":tr)"}) {
    SCOPED_TRACE(body);
    ExpectInvalid(body);
  }
}

TEST(EventParserErrorTest, TruncatedObjectIsUnreadable) {
  for (const char* body :
       {"{", R"({"event":"play_opened")", R"({"event":"play_opened",)", R"({"event")",
        R"({"event":)", R"({"event":"play_opened","reason":{"a":1})", "{\n  \"event\": \"a\",\n",
        "{\"event\":\"a\"}\n{\"event\":\"b\""}) {
    SCOPED_TRACE(body);
    ExpectInvalid(body);
  }
}

TEST(EventParserErrorTest, StructuralErrorsAreUnreadable) {
  for (const char* body :
       {R"([{"event":"a"},])", R"([,{"event":"a"}])", R"([{"event":"a"},,{"event":"b"}])",
        R"([{"event":"a"} {"event":"b"}])", R"([{"event":"a",}])", R"([{"event":"a" "id":"b"}])",
        R"([{"event" "a"}])", R"([{"event":"a","id"}])", R"([{event:"a"}])", R"([{'event':'a'}])",
        R"([{"event":"a"]])", R"([{"event":"a"}})", R"({"event":"a","x":[1,2}})",
        R"({"event":"a",,"id":"b"})", R"({"event":"a"]})"}) {
    SCOPED_TRACE(body);
    ExpectInvalid(body);
  }
}

// The parser validates every field, including the ones it does not read:
// an event's body is stored and fanned out as JSON, so it must be JSON.
TEST(EventParserErrorTest, MalformedLiteralInUnknownFieldMakesBodyInvalid) {
  for (const char* value : {"tru",         "nul",
                            "fals",        "True",
                            "NULL",        "truex",
                            "nan",         "NaN",
                            "Infinity",    "-Infinity",
                            "undefined",   "[1,fals]",
                            "{\"y\":tru}", "{\"y\":[null,nul]}",
                            "[[[[tru]]]]", "01",
                            "1.",          ".5",
                            "-",           "--1",
                            "+1",          "1e",
                            "1e+",         "0x10",
                            "1_000",       "'s'",
                            "bareword"}) {
    SCOPED_TRACE(value);
    const std::string item = std::string(R"({"event":"play_opened","id":"a","x":)") + value + "}";
    std::string msg = ExpectInvalid("[" + item + "]");
    EXPECT_TRUE(Contains(msg, "item 0")) << msg;
    ExpectInvalid(item);
    ExpectInvalid(R"({"event":"play_opened"})"
                  "\n" +
                  item + "\n");
    // Also as the first field, before "event".
    ExpectInvalid(std::string(R"([{"x":)") + value + R"(,"event":"play_opened"}])");
  }
}

TEST(EventParserErrorTest, MalformedLiteralInKnownFieldMakesBodyInvalid) {
  for (const char* field :
       {"event",     "id",         "session_id",    "type",       "server",     "media",
        "source_id", "parent_id",  "user_id",       "token",      "ip",         "proto",
        "country",   "user_agent", "referer",       "url",        "reason",     "event_id",
        "utc_ms",    "opened_at",  "authorized_at", "started_at", "updated_at", "closed_at",
        "bytes",     "duration"}) {
    for (const char* value : {"tru", "nul", "12a", "1e", "--1", "{\"a\":tru}", "[1,nul]"}) {
      SCOPED_TRACE(std::string(field) + ":" + value);
      ExpectInvalid(std::string(R"([{"event":"play_opened",")") + field + "\":" + value + "}]");
    }
  }
}

TEST(EventParserErrorTest, MalformedItemAfterValidOnesNamesItsIndex) {
  std::string msg =
      ExpectInvalid(R"([{"event":"play_opened","id":"a"},{"event":"play_started","id":"a"},)"
                    R"({"event":"play_closed","id":"a","x":tru}])");
  EXPECT_TRUE(Contains(msg, "item 2")) << msg;

  msg = ExpectInvalid(R"([{"event":"play_opened"},tru])");
  EXPECT_TRUE(Contains(msg, "item 1")) << msg;

  msg = ExpectInvalid(
      "{\"event\":\"play_opened\"}\n"
      "{\"event\":\"play_started\"}\n"
      "{\"event\":\"play_closed\",\"x\":tru}\n");
  EXPECT_TRUE(Contains(msg, "item 2")) << msg;

  msg = ExpectInvalid("{\"event\":\"play_opened\"}\n{\"event\":\"b\"\n{\"event\":\"c\"}\n");
  EXPECT_TRUE(Contains(msg, "item 1")) << msg;

  msg = ExpectInvalid("{\n  \"event\": \"play_opened\",\n  \"x\": nul\n}\n");
  EXPECT_TRUE(Contains(msg, "item 0")) << msg;
}

TEST(EventParserErrorTest, StringErrorInLaterNdjsonLineNamesThatLine) {
  std::string msg =
      ExpectInvalid("{\"event\":\"a\"}\n{\"event\":\"b\"}\n{\"event\":\"c\",\"x\":\"\xff\"}\n");
  EXPECT_TRUE(Contains(msg, "item 2")) << msg;
  msg = ExpectInvalid("{\"event\":\"a\"}\n{\"event\":\"b\"}\n{\"event\":\"c\",\"x\":\"abc}\n");
  EXPECT_TRUE(Contains(msg, "item 2")) << msg;
  msg = ExpectInvalid("{\"event\":\"a\"}\n{\"event\":\"b\"} x\n");
  EXPECT_TRUE(Contains(msg, "item 1")) << msg;
}

// ---------------------------------------------------------------------------
// Trailing content

TEST(EventParserErrorTest, TrailingGarbageAfterArrayIsInvalid) {
  for (const char* body :
       {R"([{"event":"a"}] x)", R"([{"event":"a"}]])", R"([{"event":"a"}][])",
        R"([{"event":"a"}],)", R"([{"event":"a"}]{"event":"b"})", R"([{"event":"a"}] 42)",
        R"([{"event":"a"}]"x")", "[{\"event\":\"a\"}]\n[{\"event\":\"b\"}]",
        "[{\"event\":\"a\"}]\n{\"event\":\"b\"}\n"}) {
    SCOPED_TRACE(body);
    ExpectInvalid(body);
  }
}

TEST(EventParserErrorTest, TrailingWhitespaceAfterArrayIsFine) {
  Result<ParsedBody> r = test::Parse("[{\"event\":\"a\"}] \r\n\t\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->events.size(), 1u);
}

TEST(EventParserErrorTest, NdjsonLineWithTwoObjectsIsInvalid) {
  for (const char* body :
       {R"({"event":"a"}{"event":"b"})", R"({"event":"a"} {"event":"b"})",
        "{\"event\":\"a\"}\t{\"event\":\"b\"}\n",
        "{\"event\":\"a\"}\n{\"event\":\"b\"}{\"event\":\"c\"}",
        "{\"event\":\"a\"}\n{\"event\":\"b\"} {\"event\":\"c\"}\n{\"event\":\"d\"}\n",
        "{\"event\":\"a\"}\n{\"event\":\"b\"},\n", "{\"event\":\"a\"},\n{\"event\":\"b\"}\n",
        "{\"event\":\"a\"}\n{\"event\":\"b\"} x\n", R"({"event":"a"} x)", R"({"event":"a"}])",
        "{\n  \"event\": \"a\"\n} {\"event\":\"b\"}\n"}) {
    SCOPED_TRACE(body);
    ExpectInvalid(body);
  }
  std::string msg = ExpectInvalid("{\"event\":\"a\"}\n{\"event\":\"b\"}{\"event\":\"c\"}\n");
  EXPECT_TRUE(Contains(msg, "item 1")) << msg;
}

// ---------------------------------------------------------------------------
// Bytes that JSON forbids

TEST(EventParserErrorTest, InvalidUtf8IsInvalid) {
  for (const std::string& bad : {"\xff"s, "\xfe"s, "\xC0\xAF"s, "\xE0\x80\xAF"s,
                                 "\xED\xA0\x80"s,  // an encoded UTF-16 surrogate
                                 "\xE2\x82"s,      // truncated sequence
                                 "\x80"s,          // lone continuation byte
                                 "\xF5\x80\x80\x80"s, "\xF4\x90\x80\x80"s, "a\xC3"s}) {
    SCOPED_TRACE(testing::PrintToString(bad));
    // In an unknown field, a known field, a key; array, object and NDJSON.
    ExpectInvalid(R"([{"event":"play_opened","x":")" + bad + R"("}])");
    ExpectInvalid(R"([{"event":"play_opened","media":")" + bad + R"("}])");
    ExpectInvalid(R"([{"event":"play_opened",")" + bad + R"(":1}])");
    ExpectInvalid(R"([{"event":"play_)" + bad + R"("}])");
    ExpectInvalid(R"({"event":"play_opened","user_agent":")" + bad + R"("})");
    ExpectInvalid("{\"event\":\"a\"}\n{\"event\":\"b\",\"x\":\"" + bad + "\"}\n");
    // Outside any string.
    ExpectInvalid(R"([{"event":"play_opened"})" + bad + "]");
  }
}

TEST(EventParserErrorTest, RawNulByteIsInvalid) {
  ExpectInvalid("[{\"event\":\"play_opened\",\"x\":\"a\0b\"}]"s);
  ExpectInvalid("[{\"event\":\"play_opened\",\"media\":\"a\0b\"}]"s);
  ExpectInvalid("{\"event\":\"play_opened\",\"id\":\"\0\"}"s);
  ExpectInvalid("[{\"event\":\"play_\0opened\"}]"s);
  ExpectInvalid("[{\"event\":\"play_opened\"},\0{\"event\":\"b\"}]"s);
  ExpectInvalid("[{\"event\":\"play_opened\"}]\0"s);
  ExpectInvalid("{\"event\":\"a\"}\n\0\n{\"event\":\"b\"}\n"s);
  ExpectInvalid("\0[{\"event\":\"play_opened\"}]"s);
  ExpectInvalid("\0"s);
}

TEST(EventParserErrorTest, UnescapedControlCharactersInStringsAreInvalid) {
  for (char c : {'\x01', '\x08', '\t', '\n', '\r', '\x1b', '\x1f'}) {
    SCOPED_TRACE(static_cast<int>(c));
    const std::string s = std::string("a") + c + "b";
    ExpectInvalid(R"([{"event":"play_opened","x":")" + s + R"("}])");
    ExpectInvalid(R"([{"event":"play_opened","user_agent":")" + s + R"("}])");
    ExpectInvalid(R"([{"event":"play_opened",")" + s + R"(":1}])");
    ExpectInvalid(R"({"event":"play_opened","reason":{"m":")" + s + R"("}})");
  }
}

TEST(EventParserErrorTest, InvalidEscapesAreInvalid) {
  for (const char* esc : {R"(\u12)", R"(\u12G4)", R"(\u)", R"(\x41)", R"(\q)", R"(\')", R"(\U0041)",
                          R"(\uD800)", R"(\uDC00)", R"(\uD800\u0041)"}) {
    SCOPED_TRACE(esc);
    ExpectInvalid(std::string(R"([{"event":"play_opened","x":")") + esc + R"("}])");
    ExpectInvalid(std::string(R"([{"event":"play_opened","media":")") + esc + R"("}])");
    ExpectInvalid(std::string(R"([{"event":"play_opened",")") + esc + R"(":1}])");
    ExpectInvalid(std::string(R"({"event":"play_opened","reason":")") + esc + R"("})");
  }
  // A backslash escaping the closing quote leaves the string open.
  ExpectInvalid(R"([{"event":"play_opened","x":"abc\"}])");
}

// ---------------------------------------------------------------------------
// Hostile sizes and shapes

TEST(EventParserErrorTest, DeepNestingIsInvalidWithoutCrashing) {
  const std::string open(5000, '['), close(5000, ']');
  ExpectInvalid(open + close);
  ExpectInvalid(R"([{"event":"play_opened","x":)" + open + close + "}]");
  ExpectInvalid(R"({"event":"play_opened","reason":)" + open + close + "}");
  ExpectInvalid(R"([{"event":"play_opened","user_id":)" + open + close + "}]");
  std::string objects = R"({"event":"play_opened","x":)";
  for (int i = 0; i < 5000; ++i) objects += R"({"a":)";
  objects += "1" + std::string(5000, '}') + "}";
  ExpectInvalid(objects);
  ExpectInvalid("[" + objects + "]");
  // Far deeper than any stack could recurse.
  const std::string deep_open(200000, '['), deep_close(200000, ']');
  ExpectInvalid(deep_open + deep_close);
  ExpectInvalid(R"([{"event":"play_opened","x":)" + deep_open + deep_close + "}]");
}

TEST(EventParserErrorTest, ModerateNestingIsAccepted) {
  const std::string open(500, '['), close(500, ']');
  Event e = ParseOne(R"([{"event":"play_opened","x":)" + open + close + R"(,"id":"a"}])");
  EXPECT_EQ(e.id, "a");
  e = ParseOne(R"({"event":"play_closed","reason":)" + open + close + "}");
  EXPECT_EQ(e.reason, open + close);
}

TEST(EventParserErrorTest, UnbalancedDeepNestingIsInvalid) {
  ExpectInvalid(R"([{"event":"play_opened","x":)" + std::string(5000, '[') + "}]");
  ExpectInvalid(std::string(5000, '['));
  ExpectInvalid(std::string(5000, '{'));
  ExpectInvalid(R"([{"event":"play_opened","x":)" + std::string(300, '[') + "}]");
}

TEST(EventParserErrorTest, HugeStringIsAccepted) {
  const std::string big(6u << 20, 'a');  // 6 MiB, over the keep-parser threshold
  {
    const std::string item = R"({"event":"play_opened","id":"s","x":")" + big + R"("})";
    Event e = ParseOne("[" + item + "]");
    EXPECT_EQ(e.id, "s");
    EXPECT_EQ(e.body, item);
  }
  {
    Event e = ParseOne(R"({"event":"play_opened","user_agent":")" + big + R"(","id":"s"})");
    ASSERT_TRUE(e.user_agent.has_value());
    EXPECT_EQ(e.user_agent->size(), big.size());
    EXPECT_EQ(e.id, "s");
  }
  {
    Event e = ParseOne(R"({"event":"play_closed","reason":{"m":")" + big + R"("}})");
    ASSERT_TRUE(e.reason.has_value());
    EXPECT_EQ(e.reason->size(), big.size() + 8);
  }
  {
    // A huge string of escapes.
    std::string escaped;
    for (int i = 0; i < (1 << 20); ++i) escaped += R"(\u00e9)";
    Event e = ParseOne(R"({"event":"play_opened","media":")" + escaped + R"("})");
    ASSERT_TRUE(e.media.has_value());
    EXPECT_EQ(e.media->size(), 2u << 20);
  }
  // A huge invalid string is still refused.
  ExpectInvalid(R"([{"event":"play_opened","x":")" + big + "\xff\"}]");
  ExpectInvalid(R"([{"event":"play_opened","x":")" + big + "}]");
}

TEST(EventParserErrorTest, NumbersOutOfRangeInNumericFieldsAreAbsent) {
  // Positive integers beyond 64 bits and finite doubles beyond int64 are valid
  // JSON: the event is accepted, the field absent.
  for (const char* value : {"123456789012345678901234567890", "18446744073709551615",
                            "9223372036854775808", "1e300", "1.7976931348623157e308"}) {
    SCOPED_TRACE(value);
    Event e = ParseOne(std::string(R"([{"event":"play_closed","id":"a","utc_ms":)") + value +
                       R"(,"opened_at":)" + value + R"(,"bytes":)" + value + R"(,"duration":)" +
                       value + R"(,"closed_at":)" + value + "}]");
    EXPECT_EQ(e.id, "a");
    EXPECT_EQ(e.utc_ms, std::nullopt);
    EXPECT_EQ(e.opened_at, std::nullopt);
    EXPECT_EQ(e.closed_at, std::nullopt);
    EXPECT_EQ(e.bytes, std::nullopt);
    EXPECT_EQ(e.duration_ms, std::nullopt);
  }
  // Numeric strings out of range too.
  Event e =
      ParseOne(R"({"event":"play_closed","utc_ms":"1e400","bytes":"1e400","duration":"1e400",)"
               R"("event_id":"123456789012345678901234567890"})");
  EXPECT_EQ(e.utc_ms, std::nullopt);
  EXPECT_EQ(e.bytes, std::nullopt);
  EXPECT_EQ(e.duration_ms, std::nullopt);
  EXPECT_EQ(e.event_id, std::nullopt);
  // Underflow is just zero.
  e = ParseOne(R"({"event":"play_closed","utc_ms":1e-400,"x":1e-400,"bytes":1e-400})");
  EXPECT_EQ(e.utc_ms, std::nullopt);
  EXPECT_EQ(e.bytes, 0);
}

TEST(EventParserErrorTest, HugeNumbersAreValidJson) {
  for (const char* value :
       {"1e400", "-1e400", "1.7976931348623157e309", "123456789012345678901234567890",
        "-123456789012345678901234567890", "18446744073709551616", "-9223372036854775809"}) {
    SCOPED_TRACE(value);
    const std::string v = value;
    // Unknown fields: accepted, kept in the body.
    Event e = ParseOne(R"([{"event":"play_opened","id":"a","x":)" + v + R"(,"y":[)" + v + "]}]");
    EXPECT_EQ(e.id, "a");
    EXPECT_EQ(e.body, R"({"event":"play_opened","id":"a","x":)" + v + R"(,"y":[)" + v + "]}");
    // Numeric fields: absent.
    e = ParseOne(R"({"event":"play_closed","utc_ms":)" + v + R"(,"bytes":)" + v +
                 R"(,"event_id":)" + v + R"(,"duration":)" + v + R"(,"closed_at":)" + v + "}");
    EXPECT_EQ(e.utc_ms, std::nullopt);
    EXPECT_EQ(e.bytes, std::nullopt);
    EXPECT_EQ(e.event_id, std::nullopt);
    EXPECT_EQ(e.duration_ms, std::nullopt);
    EXPECT_EQ(e.closed_at, std::nullopt);
    // Text fields and reason: the number's JSON text.
    e = ParseOne(R"({"event":"play_closed","user_id":)" + v + R"(,"reason":)" + v + "}");
    EXPECT_EQ(e.user_id, v);
    EXPECT_EQ(e.reason, v);
    // As an item: a reject, not an unreadable body.
    Result<ParsedBody> r = test::Parse("[" + v + R"(,{"event":"play_opened"}])");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->events.size(), 1u);
    EXPECT_EQ(r->rejects.size(), 1u);
  }
}

TEST(EventParserErrorTest, VeryLongNumberTokens) {
  // 100000 digits after the decimal point: a valid, ordinary double.
  const std::string frac = "0." + std::string(100000, '0') + "1";
  Event e = ParseOne(R"([{"event":"play_opened","x":)" + frac + R"(,"utc_ms":)" + frac + "}]");
  EXPECT_EQ(e.utc_ms, std::nullopt);
  ExpectInvalid(R"([{"event":"play_opened","x":)" + std::string(100000, '1') + "x}]");
}

// The largest array a request may hold (limits::kMaxItemsPerRequest).
TEST(EventParserErrorTest, LargestAllowedArrayParses) {
  constexpr size_t kCount = limits::kMaxItemsPerRequest;
  const std::string item = R"({"event":"a"})";
  std::string body;
  body.reserve(kCount * (item.size() + 1) + 2);
  body += "[";
  for (size_t i = 0; i < kCount; ++i) {
    if (i) body += ",";
    body += item;
  }
  body += "]";
  const auto start = std::chrono::steady_clock::now();
  Result<ParsedBody> r = test::Parse(body);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->events.size(), kCount);
  EXPECT_TRUE(r->rejects.empty());
  EXPECT_EQ(r->events.front().name, "a");
  EXPECT_EQ(r->events.back().body, item);
  // Generous bounds (slow CI; TSan's Debug build is ~40x slower than
  // Release); they catch accidental quadratic work, not slowness.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(elapsed, std::chrono::seconds(240));
#else
  EXPECT_LT(elapsed, std::chrono::seconds(60));
#endif
}

TEST(EventParserErrorTest, ManyFieldsInOneEvent) {
  std::string body = R"({"event":"play_opened")";
  for (int i = 0; i < 100000; ++i) body += ",\"f" + std::to_string(i) + "\":" + std::to_string(i);
  body += R"(,"id":"last"})";
  Event e = ParseOne(body);
  EXPECT_EQ(e.id, "last");
  EXPECT_EQ(e.body, body);
}

// ---------------------------------------------------------------------------
// Wrong JSON types in known fields: accepted, the field absent

// Whether the known field `name` of `e` holds a value.
std::optional<bool> Present(const Event& e, const std::string& name) {
  if (name == "id" || name == "session_id") return e.id.has_value();
  if (name == "server") return e.server.has_value();
  if (name == "media") return e.media.has_value();
  if (name == "source_id") return e.source_id.has_value();
  if (name == "parent_id") return e.parent_id.has_value();
  if (name == "user_id") return e.user_id.has_value();
  if (name == "token") return e.token.has_value();
  if (name == "ip") return e.ip.has_value();
  if (name == "proto") return e.proto.has_value();
  if (name == "country") return e.country.has_value();
  if (name == "user_agent") return e.user_agent.has_value();
  if (name == "referer") return e.referer.has_value();
  if (name == "url") return e.url.has_value();
  if (name == "event_id") return e.event_id.has_value();
  if (name == "utc_ms") return e.utc_ms.has_value();
  if (name == "opened_at") return e.opened_at.has_value();
  if (name == "authorized_at") return e.authorized_at.has_value();
  if (name == "started_at") return e.started_at.has_value();
  if (name == "updated_at") return e.updated_at.has_value();
  if (name == "closed_at") return e.closed_at.has_value();
  if (name == "bytes") return e.bytes.has_value();
  if (name == "duration") return e.duration_ms.has_value();
  if (name == "reason") return e.reason.has_value();
  return std::nullopt;
}

TEST(EventParserErrorTest, WrongTypesInKnownFieldsLeaveThemAbsent) {
  const char* const fields[] = {
      "id",         "session_id", "server",    "media",  "source_id", "parent_id",
      "user_id",    "token",      "ip",        "proto",  "country",   "user_agent",
      "referer",    "url",        "event_id",  "utc_ms", "opened_at", "authorized_at",
      "started_at", "updated_at", "closed_at", "bytes",  "duration"};
  const char* const values[] = {"{}",
                                R"({"a":[1,{"b":null}],"c":"d"})",
                                "[]",
                                R"([1,"x",{"y":2},[null]])",
                                "true",
                                "false",
                                "null",
                                R"( { "s" : "1637094994" } )",
                                R"(["1637094994"])"};
  for (const char* field : fields) {
    for (const char* value : values) {
      SCOPED_TRACE(std::string(field) + ": " + value);
      const std::string body = std::string(R"([{"event":"play_closed",")") + field + "\":" + value +
                               R"(,"ip":"1.2.3.4","bytes":7,"url":"u"}])";
      Event e = ParseOne(body);
      EXPECT_EQ(e.name, "play_closed");
      EXPECT_EQ(e.body, body.substr(1, body.size() - 2));
      // Later fields are still read (unless they overwrite the tested one).
      if (std::string(field) != "ip") {
        EXPECT_EQ(e.ip, "1.2.3.4");
      }
      if (std::string(field) != "bytes") {
        EXPECT_EQ(e.bytes, 7);
      }
      if (std::string(field) != "url") {
        EXPECT_EQ(e.url, "u");
      }
      if (std::string(field) == "ip" || std::string(field) == "bytes" ||
          std::string(field) == "url") {
        continue;
      }
      EXPECT_EQ(Present(e, field), false);
    }
  }
}

TEST(EventParserErrorTest, WrongTypeIdGivesNoSession) {
  for (const char* value : {"{}", "[]", "true", "[\"a\"]", "{\"id\":\"a\"}"}) {
    SCOPED_TRACE(value);
    Event e = ParseOne(std::string(R"({"event":"play_opened","id":)") + value + "}");
    EXPECT_EQ(e.id, std::nullopt);
    EXPECT_FALSE(e.HasSession());
    // With a string session_id, that one is used.
    e = ParseOne(std::string(R"({"event":"play_opened","id":)") + value + R"(,"session_id":"s"})");
    EXPECT_EQ(e.id, "s");
  }
}

TEST(EventParserErrorTest, WrongTypeOfTypeIsIgnored) {
  for (const char* value : {"{}", "[\"publish\"]", "true", "null", "{\"type\":\"publish\"}"}) {
    SCOPED_TRACE(value);
    Event e = ParseOne(
        std::string(R"({"event":"source_opened","id":"s","url":"rtmp://o","type":)") + value + "}");
    EXPECT_EQ(e.kind, "ingest");
    EXPECT_FALSE(e.kind_explicit);
  }
}

TEST(EventParserErrorTest, WrongTypesInReasonBecomeJsonText) {
  // reason accepts any JSON value: not absent, but its compact text.
  Event e = ParseOne(R"({"event":"play_closed","reason":[ true , {"a" : null} ]})");
  EXPECT_EQ(e.reason, R"([true,{"a":null}])");
  e = ParseOne(R"({"event":"play_closed","reason":false})");
  EXPECT_EQ(e.reason, "false");
}

// ---------------------------------------------------------------------------
// Items that are valid JSON but not events: Rejects, siblings accepted

TEST(EventParserErrorTest, NonEventItemsAreRejectedWithIndexAndReason) {
  const std::vector<std::string> items = {
      "1",                                      // 0
      R"("x")",                                 // 1
      R"([1, {"event":"play_opened"}])",        // 2
      "null",                                   // 3
      "true",                                   // 4
      R"({"id":"a","server":"srv1"})",          // 5
      R"({"event":5,"server":"srv2"})",         // 6
      R"({"event":""})",                        // 7
      R"({"event":null})",                      // 8
      R"({"event":"play_opened","id":"ok"})",   // 9: accepted
      R"({"event":["play_opened"]})",           // 10
      R"({"event":{"name":"play_opened"}})",    // 11
      "-2.5e3",                                 // 12
      "{}",                                     // 13
      R"({"Event":"play_opened"})",             // 14
      R"({"event":"play_closed","id":"ok2"})",  // 15: accepted
      "false",                                  // 16
  };
  std::string body = "[";
  for (size_t i = 0; i < items.size(); ++i) body += (i ? " , " : "") + items[i];
  body += "]";
  Result<ParsedBody> r = test::Parse(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0].id, "ok");
  EXPECT_EQ(r->events[1].id, "ok2");
  struct Want {
    int64_t index;
    std::vector<const char*> words;  // each must appear in the reason
  };
  const std::vector<Want> want = {
      {0, {"object", "number"}},  {1, {"object", "string"}},  {2, {"object", "array"}},
      {3, {"object", "null"}},    {4, {"object", "boolean"}}, {5, {"event", "missing"}},
      {6, {"event", "string"}},   {7, {"event", "empty"}},    {8, {"event"}},
      {10, {"event", "string"}},  {11, {"event", "string"}},  {12, {"object", "number"}},
      {13, {"event", "missing"}}, {14, {"event", "missing"}}, {16, {"object", "boolean"}},
  };
  ASSERT_EQ(r->rejects.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const Reject& rj = r->rejects[i];
    SCOPED_TRACE("reject " + std::to_string(i) + ": " + rj.reason);
    EXPECT_EQ(rj.index, want[i].index);
    EXPECT_EQ(rj.body, items[static_cast<size_t>(want[i].index)]);
    for (const char* word : want[i].words) EXPECT_TRUE(Contains(rj.reason, word));
  }
  // The server of a rejected object is kept, when it has one.
  EXPECT_EQ(r->rejects[5].server, "srv1");
  EXPECT_EQ(r->rejects[6].server, "srv2");
  EXPECT_EQ(r->rejects[0].server, std::nullopt);
}

TEST(EventParserErrorTest, RejectedSingleObject) {
  Result<ParsedBody> r = test::Parse(R"({"id":"a","utc_ms":1637094994000})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->events.empty());
  ASSERT_EQ(r->rejects.size(), 1u);
  EXPECT_EQ(r->rejects[0].index, 0);
  EXPECT_TRUE(Contains(r->rejects[0].reason, "event"));
  EXPECT_EQ(r->rejects[0].body, R"({"id":"a","utc_ms":1637094994000})");
}

TEST(EventParserErrorTest, RejectedNdjsonLines) {
  Result<ParsedBody> r = test::Parse(
      "{\"event\":\"play_opened\",\"id\":\"a\"}\n"
      "42\n"
      "\"x\"\r\n"
      "[1]\n"
      "null\n"
      "{\"id\":1}\n"
      "{\"event\":\"play_closed\",\"id\":\"a\"}\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->events[0].name, "play_opened");
  EXPECT_EQ(r->events[1].name, "play_closed");
  ASSERT_EQ(r->rejects.size(), 5u);
  const char* const bodies[] = {"42", "\"x\"", "[1]", "null", "{\"id\":1}"};
  for (size_t i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r->rejects[i].index, static_cast<int64_t>(i + 1));
    EXPECT_EQ(r->rejects[i].body, bodies[i]);
    EXPECT_FALSE(r->rejects[i].reason.empty());
  }
}

TEST(EventParserErrorTest, RejectedItemStillNeedsValidJson) {
  // A reject is kept as is, so it must be JSON too.
  ExpectInvalid(R"([{"id":"a","x":tru}])");
  ExpectInvalid(R"([[1, tru]])");
  ExpectInvalid(R"([{"event":5,"x":nul}])");
  ExpectInvalid("{\"event\":\"a\"}\n[1,\n");
  ExpectInvalid("{\"event\":\"a\"}\n\"abc\n");
  ExpectInvalid("{\"event\":\"a\"}\n42 43\n");
  ExpectInvalid("{\"event\":\"a\"}\nnul\n");
  ExpectInvalid("{\"event\":\"a\"}\n\"\\u12\"\n");
}

TEST(EventParserErrorTest, AllItemsRejectedIsStillReadable) {
  Result<ParsedBody> r = test::Parse(R"([1,2,3,{},[]])");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->events.empty());
  ASSERT_EQ(r->rejects.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(r->rejects[i].index, static_cast<int64_t>(i));
}

TEST(EventParserErrorTest, ParseItemReportsRejectReason) {
  for (const char* item : {"42", "[]", R"({"id":"a"})", R"({"event":""})", R"({"event":1})"}) {
    SCOPED_TRACE(item);
    std::string buf = item;
    const size_t size = buf.size();
    buf.append(simdjson::SIMDJSON_PADDING, ' ');
    Event e;
    std::string reason;
    ASSERT_OK(ParseItem(std::string_view(buf.data(), size), buf.size(), &e, &reason));
    EXPECT_FALSE(reason.empty());
  }
  std::string buf = R"({"event":"a","x":tru})";
  const size_t size = buf.size();
  buf.append(simdjson::SIMDJSON_PADDING, ' ');
  Event e;
  std::string reason;
  Status st = ParseItem(std::string_view(buf.data(), size), buf.size(), &e, &reason);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
}

// A body of tiny items must not cost a row each (probe: "[1,1,…]" gzip bomb).
TEST(EventParserErrorTest, OneItemOverTheLimitIsTooLarge) {
  std::string body = "[";
  for (size_t i = 0; i <= limits::kMaxItemsPerRequest; ++i) body += i ? ",0" : "0";
  body += "]";
  Result<ParsedBody> r = test::Parse(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTooLarge) << r.status().ToString();
}

TEST(EventParserErrorTest, RejectsPastTheRowLimitAreCountedNotKept) {
  std::string body = "[";
  const size_t n = limits::kMaxRejectRowsPerRequest + 250;
  for (size_t i = 0; i < n; ++i) body += i ? ",\"x\"" : "{\"event\":\"play_opened\"},\"x\"";
  body += "]";
  Result<ParsedBody> r = test::Parse(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->rejects.size(), limits::kMaxRejectRowsPerRequest);
  EXPECT_EQ(r->rejects_dropped, 250);
  EXPECT_EQ(r->first_dropped_index, static_cast<int64_t>(limits::kMaxRejectRowsPerRequest) + 1);
  EXPECT_FALSE(r->first_dropped_reason.empty());
}
}  // namespace
}  // namespace sink
