// LogFields: named values attached to the log lines written while it is in
// scope, on this thread. With --log-format json they become fields of the
// line's object ("client", "route", "status", "count", ...), so that an
// operator can filter on them; the text format ignores them (the message
// already says the same in words).
//
//   { LogFields f{{"client", peer}, {"route", path}, {"status", 401}};
//     spdlog::warn("refused with 401 ... from {} on {}", peer, path); }
//
// spdlog formats on the calling thread (synchronous loggers), which is what
// makes a thread-local list enough.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sink {

struct LogField {
  const char* key;
  std::string value;
  bool quoted = true;  // a string; false: a JSON number

  LogField(const char* k, std::string_view v) : key(k), value(v) {}
  LogField(const char* k, const char* v) : key(k), value(v) {}
  template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  LogField(const char* k, T v) : key(k), value(std::to_string(v)), quoted(false) {}
};

class LogFields {
 public:
  LogFields(std::initializer_list<LogField> fields) {
    for (const LogField& f : fields) Stack().push_back(f);
    count_ = fields.size();
  }
  ~LogFields() {
    Stack().erase(Stack().end() - static_cast<std::ptrdiff_t>(count_), Stack().end());
  }
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;

  // The fields in scope on this thread, outermost first.
  static const std::vector<LogField>& Current() { return Stack(); }

 private:
  static std::vector<LogField>& Stack() {
    thread_local std::vector<LogField> stack;
    return stack;
  }
  size_t count_ = 0;
};

}  // namespace sink
