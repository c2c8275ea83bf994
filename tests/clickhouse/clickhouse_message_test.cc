// The envelope ClickHouse reads (fanout/clickhouse_message.h) is one valid
// JSON object in valid UTF-8 whatever the body, and keeps a valid body
// byte for byte.
#include "fanout/clickhouse_message.h"

#include <simdjson.h>

#include <filesystem>
#include <random>

#include "tests/test_util.h"

namespace sink {
namespace {

// Parses an envelope (simdjson validates UTF-8 too) and returns its body.
std::string BodyOf(const std::string& msg) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(msg).get(doc), simdjson::SUCCESS) << msg;
  std::string_view body;
  EXPECT_EQ(doc["body"].get(body), simdjson::SUCCESS) << msg;
  return std::string(body);
}

TEST(ClickHouseMessageTest, FieldsAndNulls) {
  EventEnvelope e{"edge-a",
                  42,
                  std::string_view("fl1"),
                  std::string_view("play"),
                  std::string_view("started"),
                  std::string_view("s1"),
                  R"({"event":"play_started","id":"s1"})"};
  EXPECT_EQ(ClickHouseEventMessage(e),
            R"({"sink":"edge-a","seq":42,"server":"fl1","kind":"play","phase":"started",)"
            R"("session_id":"s1","body":"{\"event\":\"play_started\",\"id\":\"s1\"}"})");
  EventEnvelope bare{"b", 1, std::nullopt, std::nullopt, std::nullopt, std::nullopt, "x"};
  EXPECT_EQ(ClickHouseEventMessage(bare),
            R"({"sink":"b","seq":1,"server":null,"kind":null,"phase":null,)"
            R"("session_id":null,"body":"x"})");
}

TEST(ClickHouseMessageTest, EveryCorpusBodyMakesValidJson) {
  int n = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::filesystem::path(SINK_SOURCE_DIR) /
                                                           "tests/fuzz/corpus")) {
    const std::string body = test::ReadFile(f.path());
    const std::string got = BodyOf(ClickHouseEventMessage({"s", 1, {}, {}, {}, {}, body}));
    if (simdjson::validate_utf8(body.data(), body.size())) {
      EXPECT_EQ(got, body) << f.path();
    }
    ++n;
  }
  EXPECT_GT(n, 20);
}

TEST(ClickHouseMessageTest, ControlCharactersAndBrokenUtf8) {
  const std::string body = std::string("a\0b\x01\x1f\x7f\"\\\n\t", 10) + "\xff\xc3(\xe2\x82" +
                           "\xed\xa0\x80" + "é€😀" + "\xf4\x90\x80\x80";
  const std::string msg = ClickHouseEventMessage({"s", 1, {}, {}, {}, {}, body});
  EXPECT_EQ(BodyOf(msg), std::string("a\0b\x01\x1f\x7f\"\\\n\t", 10) +
                             "\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd" +
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" + "é€😀" +
                             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  // Random bytes: always one valid object.
  std::mt19937 rng(22);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    BodyOf(ClickHouseEventMessage({"s", i, junk, {}, {}, junk, junk}));
  }
}

}  // namespace
}  // namespace sink
