#include "store/status.h"

namespace sink {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kInvalid:
      name = "invalid";
      break;
    case Code::kTooLarge:
      name = "too large";
      break;
    case Code::kUnavailable:
      name = "unavailable";
      break;
    case Code::kIoError:
      name = "I/O error";
      break;
    case Code::kInternal:
      name = "internal error";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace sink
