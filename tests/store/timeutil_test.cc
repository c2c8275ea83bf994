// Timestamp normalization: seconds vs milliseconds, fractions, ISO-8601.
#include "store/timeutil.h"
#include "tests/test_util.h"

namespace sink {
namespace {

TEST(TimeUtilTest, TenDigitValuesAreSeconds) {
  EXPECT_EQ(NormalizeTimestamp(int64_t{1637094994}), 1637094994000);
  EXPECT_EQ(NormalizeTimestamp(1637094994.0), 1637094994000);
}

TEST(TimeUtilTest, ThirteenDigitValuesAreMilliseconds) {
  EXPECT_EQ(NormalizeTimestamp(int64_t{1637094994123}), 1637094994123);
  EXPECT_EQ(NormalizeTimestamp(1637094994123.0), 1637094994123);
}

TEST(TimeUtilTest, FractionsRoundToNearestMillisecond) {
  EXPECT_EQ(NormalizeTimestamp(1637094994.5), 1637094994500);
  EXPECT_EQ(NormalizeTimestamp(1637094994.1236), 1637094994124);
  EXPECT_EQ(NormalizeTimestamp(1637094994123.6), 1637094994124);
}

TEST(TimeUtilTest, BoundaryAt1e11) {
  // Seconds below 1e11, ms above; either way only [2000, 2100) is a time.
  EXPECT_EQ(NormalizeTimestamp(int64_t{99999999999}), std::nullopt);   // 5138 in seconds
  EXPECT_EQ(NormalizeTimestamp(int64_t{100000000000}), std::nullopt);  // 1973 in ms
  EXPECT_EQ(NormalizeTimestamp(int64_t{4102444799}), 4102444799000);
}

TEST(TimeUtilTest, OnlyTheYears2000To2099AreEventTimes) {
  EXPECT_EQ(NormalizeTimestamp(int64_t{kMinEventTimeMs}), kMinEventTimeMs);
  EXPECT_EQ(NormalizeTimestamp(int64_t{kMinEventTimeMs - 1}), std::nullopt);
  EXPECT_EQ(NormalizeTimestamp(int64_t{kMaxEventTimeMs - 1}), kMaxEventTimeMs - 1);
  EXPECT_EQ(NormalizeTimestamp(int64_t{kMaxEventTimeMs}), std::nullopt);
  EXPECT_EQ(NormalizeTimestamp(double{kMaxEventTimeMs}), std::nullopt);
  EXPECT_EQ(NormalizeTimestamp(int64_t{INT64_MAX}), std::nullopt);
  EXPECT_EQ(ParseTimestampText("2100-01-01T00:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseTimestampText("2099-12-31T23:59:59.999Z"), kMaxEventTimeMs - 1);
  // Report windows are not event times: any year parses there.
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:01Z"), 1000);
}

TEST(TimeUtilTest, ZeroAndNegativeAreAbsent) {
  EXPECT_EQ(NormalizeTimestamp(int64_t{0}), std::nullopt);
  EXPECT_EQ(NormalizeTimestamp(-5.0), std::nullopt);
  EXPECT_EQ(NormalizeTimestamp(1e300), std::nullopt);
}

TEST(TimeUtilTest, Iso8601) {
  EXPECT_EQ(ParseIso8601("2021-11-16T20:36:34Z"), 1637094994000);
  EXPECT_EQ(ParseIso8601("2021-11-16T20:36:34.250Z"), 1637094994250);
  EXPECT_EQ(ParseIso8601("2021-11-16T23:36:34+03:00"), 1637094994000);
  EXPECT_EQ(ParseIso8601("2021-11-16T15:36:34-0500"), 1637094994000);
  EXPECT_EQ(ParseIso8601("2021-11-16 20:36:34"), 1637094994000);
  EXPECT_EQ(ParseIso8601("2021-11-16"), 1637020800000);
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIso8601("2021-13-16T20:36:34Z"), std::nullopt);
  EXPECT_EQ(ParseIso8601("2021-11-16T20:36:34Zjunk"), std::nullopt);
  EXPECT_EQ(ParseIso8601("yesterday"), std::nullopt);
}

TEST(TimeUtilTest, TimestampText) {
  EXPECT_EQ(ParseTimestampText("1637094994"), 1637094994000);
  EXPECT_EQ(ParseTimestampText("1637094994000"), 1637094994000);
  EXPECT_EQ(ParseTimestampText("2021-11-16T20:36:34Z"), 1637094994000);
  EXPECT_EQ(ParseTimestampText("12abc"), std::nullopt);
  EXPECT_EQ(ParseTimestampText(""), std::nullopt);
}

TEST(TimeUtilTest, Durations) {
  EXPECT_EQ(ParseDuration("90s", 1000), 90000);
  EXPECT_EQ(ParseDuration("10m", 1000), 600000);
  EXPECT_EQ(ParseDuration("1.5h", 1000), 5400000);
  EXPECT_EQ(ParseDuration("250ms", 1000), 250);
  EXPECT_EQ(ParseDuration("2d", 1000), 172800000);
  EXPECT_EQ(ParseDuration("30", 1000), 30000);  // bare: the caller's unit
  EXPECT_EQ(ParseDuration("30", 1), 30);
  EXPECT_EQ(ParseDuration("-5s", 1000), std::nullopt);
  EXPECT_EQ(ParseDuration("soon", 1000), std::nullopt);
  EXPECT_EQ(ParseDuration("5 weeks", 1000), std::nullopt);
  EXPECT_EQ(ParseDuration("", 1000), std::nullopt);
}

}  // namespace
}  // namespace sink
