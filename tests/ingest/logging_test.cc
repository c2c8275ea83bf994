// --log-format json: every line is one JSON object a strict parser accepts,
// whatever bytes the message or a field holds, with the fields in scope.
#include <simdjson.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "server/logging.h"
#include "store/log_fields.h"
#include "tests/test_util.h"

namespace sink {
namespace {

TEST(LoggingTest, JsonLinesParseWithTheirFields) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("json-test", sink);
  logger.set_formatter(MakeJsonLogFormatter());
  {
    LogFields f{{"client", "10.0.0.7"}, {"route", std::string("/events\xff\"\n")}, {"status", 401}};
    logger.warn("refused: a \"quoted\" path \xc3\x28 and \xed\xa0\x80 and caf\xc3\xa9");
  }
  logger.info("no fields");
  std::istringstream lines(out.str());
  std::string line;
  simdjson::ondemand::parser parser;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    ASSERT_EQ(parser.iterate(padded).get(doc), simdjson::SUCCESS) << line;
    std::string_view message, route, level;
    ASSERT_EQ(doc["level"].get_string().get(level), simdjson::SUCCESS) << line;
    ASSERT_EQ(doc["message"].get_string().get(message), simdjson::SUCCESS) << line;
    if (n == 1) {
      EXPECT_EQ(level, "warning");
      // Invalid UTF-8 became U+FFFD; valid UTF-8 stayed.
      EXPECT_EQ(message,
                "refused: a \"quoted\" path \xef\xbf\xbd( and \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                "and caf\xc3\xa9");
      ASSERT_EQ(doc["route"].get_string().get(route), simdjson::SUCCESS) << line;
      EXPECT_EQ(route, "/events\xef\xbf\xbd\"\n");
      int64_t status = 0;
      ASSERT_EQ(doc["status"].get_int64().get(status), simdjson::SUCCESS) << line;
      EXPECT_EQ(status, 401);
    } else {
      EXPECT_EQ(message, "no fields");
      EXPECT_EQ(line.find("client"), std::string::npos) << "fields leave with their scope";
    }
  }
  EXPECT_EQ(n, 2);
}

}  // namespace
}  // namespace sink
