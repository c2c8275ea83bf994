// SharedStr: an immutable string in 8 bytes, shared by every holder of the
// same text (interned), or absent.
//
// The sessions kept in memory hold a dozen descriptive values each (media,
// server, protocol, user agent, ...) that repeat across thousands of
// sessions; held as std::optional<std::string> they cost 40 bytes each,
// present or not. A SharedStr is one pointer to a reference-counted block
// found through a process-wide pool, so equal values are stored once.
//
// Thread-safety: any thread may create, copy and destroy SharedStrs; the
// pool takes a lock only to find a value and to free its last holder.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sink {

class SharedStr {
 public:
  SharedStr() = default;  // absent
  static SharedStr Of(std::string_view s);
  static SharedStr Of(const std::string& s) { return Of(std::string_view(s)); }
  static SharedStr Of(const char* s) { return Of(std::string_view(s)); }
  static SharedStr Of(const std::optional<std::string>& s) {
    return s ? Of(std::string_view(*s)) : SharedStr();
  }

  SharedStr(const SharedStr& o) : rep_(o.rep_) {
    if (rep_) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  SharedStr(SharedStr&& o) noexcept : rep_(std::exchange(o.rep_, nullptr)) {}
  SharedStr& operator=(SharedStr o) noexcept {
    std::swap(rep_, o.rep_);
    return *this;
  }
  ~SharedStr() {
    if (rep_) Release(rep_);
  }

  bool has_value() const { return rep_ != nullptr; }
  std::string_view view() const {
    return rep_ ? std::string_view(rep_->data, rep_->size) : std::string_view();
  }
  std::optional<std::string> opt() const {
    return rep_ ? std::optional<std::string>(std::string(view())) : std::nullopt;
  }
  // This holder's share of the text's memory (for memory accounting).
  size_t SharedBytes() const;

  // Equal when both are absent or both hold the same text.
  bool operator==(const SharedStr& o) const {
    return rep_ == o.rep_ || (rep_ && o.rep_ && view() == o.view());
  }

 private:
  struct Rep {
    std::atomic<uint32_t> refs;
    uint32_t size;
    size_t hash;
    char data[1];  // size bytes (the block is allocated to fit)
  };
  friend struct SharedStrPool;
  static void Release(Rep* r);
  Rep* rep_ = nullptr;
};

}  // namespace sink
