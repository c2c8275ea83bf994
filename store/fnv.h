// FNV-1a, 64 bits: a fast non-cryptographic hash of a byte stream, for
// dedup keys and change detection (never for anything a client could
// exploit by choosing collisions: those are checked field by field).
// Callers that hash several fields add their own separators.
#pragma once

#include <cstdint>
#include <string_view>

namespace sink {

class Fnv1a {
 public:
  void Byte(unsigned char c) {
    h_ ^= c;
    h_ *= kPrime;
  }
  void Bytes(std::string_view s) {
    for (unsigned char c : s) Byte(c);
  }
  uint64_t value() const { return h_; }

  static uint64_t Of(std::string_view s) {
    Fnv1a h;
    h.Bytes(s);
    return h.value();
  }

 private:
  static constexpr uint64_t kOffsetBasis = 0xcbf29ce484222325ULL;
  static constexpr uint64_t kPrime = 0x100000001b3ULL;
  uint64_t h_ = kOffsetBasis;
};

}  // namespace sink
