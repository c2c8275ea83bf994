// Happy paths of the body parser and normalizer.
#include "tests/test_util.h"

namespace sink {
namespace {

TEST(EventParserTest, ArrayOfEvents) {
  Result<ParsedBody> r = test::Parse(R"([{"event":"play_opened","id":"a","utc_ms":1637094994000}])");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->events[0].name, "play_opened");
  EXPECT_EQ(r->events[0].kind, "play");
  EXPECT_EQ(r->events[0].phase, Phase::kOpened);
  EXPECT_EQ(r->events[0].utc_ms, 1637094994000);
}

}  // namespace
}  // namespace sink
