// Error paths of the body parser: unreadable bodies and rejected items.
#include "tests/test_util.h"

namespace sink {
namespace {

TEST(EventParserErrorTest, TruncatedArrayIsUnreadable) {
  Result<ParsedBody> r = test::Parse(R"([{"event":"play_opened")");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
}

}  // namespace
}  // namespace sink
