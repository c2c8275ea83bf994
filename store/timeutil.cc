#include "store/timeutil.h"

#include <charconv>
#include <cmath>

namespace sink {

namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<int64_t> NormalizeTimestamp(double v) {
  if (!std::isfinite(v) || v <= 0) return std::nullopt;
  const double ms = v < kSecondsBelow ? v * 1000.0 : v;
  if (!(ms >= static_cast<double>(kMinEventTimeMs) - 0.5 &&
        ms < static_cast<double>(kMaxEventTimeMs))) {
    return std::nullopt;
  }
  const int64_t r = static_cast<int64_t>(std::llround(ms));
  if (!InEventRange(r)) return std::nullopt;
  return r;
}

std::optional<int64_t> NormalizeTimestamp(int64_t v) {
  if (v <= 0) return std::nullopt;
  const int64_t ms = v < static_cast<int64_t>(kSecondsBelow) ? v * 1000 : v;
  if (!InEventRange(ms)) return std::nullopt;
  return ms;
}

std::optional<int64_t> ParseIso8601(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d)) {
    return std::nullopt;
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap)) return std::nullopt;
  size_t pos = 10;
  int64_t frac_ms = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    if (!Digits(s, pos + 1, 2, &h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &mi)) {
      return std::nullopt;
    }
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!Digits(s, pos + 1, 2, &sec)) return std::nullopt;
      pos += 3;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        // Up to nanoseconds, rounded to the nearest millisecond.
        ++pos;
        int64_t ns = 0, scale = 100000000;
        const size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          ns += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return std::nullopt;
        frac_ms = (ns + 500000) / 1000000;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  int64_t offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      const int sign = s[pos] == '-' ? -1 : 1;
      int oh, om = 0;
      if (!Digits(s, pos + 1, 2, &oh)) return std::nullopt;
      pos += 3;
      if (pos < s.size() && s[pos] == ':') ++pos;
      if (pos < s.size()) {
        if (!Digits(s, pos, 2, &om)) return std::nullopt;
        pos += 2;
      }
      if (oh > 23 || om > 59) return std::nullopt;  // "+99:99" is no offset
      offset_min = sign * (oh * 60 + om);
    }
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + frac_ms;
}

std::optional<int64_t> ParseDuration(std::string_view s, int64_t bare_unit_ms) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data() || v < 0) return std::nullopt;
  const std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  double unit_ms;
  if (unit.empty()) {
    unit_ms = static_cast<double>(bare_unit_ms);
  } else if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m" || unit == "min") {
    unit_ms = 60000;
  } else if (unit == "h") {
    unit_ms = 3600000;
  } else if (unit == "d") {
    unit_ms = 86400000;
  } else {
    return std::nullopt;
  }
  const double ms = v * unit_ms;
  if (ms > 1e15) return std::nullopt;
  return static_cast<int64_t>(ms);
}

std::optional<int64_t> ParseTimestampText(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  if (s.size() >= 10 && s[4] == '-') {
    std::optional<int64_t> ms = ParseIso8601(s);
    if (ms && !InEventRange(*ms)) return std::nullopt;
    return ms;
  }
  const char* end = s.data() + s.size();
  int64_t i = 0;
  auto [pi, ei] = std::from_chars(s.data(), end, i);
  if (ei == std::errc() && pi == end) return NormalizeTimestamp(i);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return NormalizeTimestamp(v);
}

}  // namespace sink
