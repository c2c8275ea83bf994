// The one place a Status becomes an answer: its HTTP status code for the
// routes (through AnswerError in server/http_util.h) and its exit code for
// the command-line tools.
#pragma once

#include "store/status.h"

namespace sink {

// kInvalid → 400 (the client's input cannot be used: do not resend it as
// is), kTooLarge → 413, and every failure of the sink's own — kUnavailable,
// kIoError, kInternal — → 503 with Retry-After: the request may succeed
// when resent, and media servers resend on 503. kOk → 200.
inline int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return 200;
    case Status::Code::kInvalid:
      return 400;
    case Status::Code::kTooLarge:
      return 413;
    case Status::Code::kUnavailable:
    case Status::Code::kIoError:
    case Status::Code::kInternal:
      return 503;
  }
  return 503;
}

// A command's exit code: 0 done, 2 a bad argument (kInvalid: a usage
// error), 1 any other failure.
inline int ExitCodeFor(const Status& s) {
  if (s.ok()) return 0;
  return s.code() == Status::Code::kInvalid ? 2 : 1;
}

}  // namespace sink
