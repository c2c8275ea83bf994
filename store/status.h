// Status and Result<T>: the error values every module boundary returns.
//
// Nothing on the request path throws. A Status carries a code (which decides
// the HTTP answer: HttpStatusFor in server/status_codes.h; the exit code of
// a command: ExitCodeFor beside it) and a human-readable message
// that is safe to show to a client: it never contains a credential.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sink {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk,
    kInvalid,      // the input cannot be used (HTTP 400)
    kTooLarge,     // the input exceeds a configured limit (HTTP 413)
    kUnavailable,  // try again later: queue full, database busy or full (HTTP 503)
    kIoError,      // the database or the file system failed
    kInternal,     // a bug or an unexpected library error
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, std::move(msg)); }
  static Status TooLarge(std::string msg) { return Status(Code::kTooLarge, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sink

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define SINK_RETURN_IF_ERROR(expr) \
  do {                             \
    ::sink::Status _st = (expr);   \
    if (!_st.ok()) return _st;     \
  } while (0)
