// Small text conversions every layer uses.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sink {

// The int64 the whole of `s` spells in decimal ("42", "-7"); nullopt for
// anything else: empty, blanks, a sign '+', a fraction, an exponent, more
// than fits.
inline std::optional<int64_t> WholeInt64(std::string_view s) {
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace sink
