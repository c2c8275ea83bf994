#include "store/event.h"

namespace sink {

std::string_view PhaseName(Phase p) {
  switch (p) {
    case Phase::kNone:
      return "";
    case Phase::kOpened:
      return "opened";
    case Phase::kConnected:
      return "connected";
    case Phase::kAuthorized:
      return "authorized";
    case Phase::kStarted:
      return "started";
    case Phase::kUpdated:
      return "updated";
    case Phase::kAltered:
      return "altered";
    case Phase::kOverflowed:
      return "overflowed";
    case Phase::kStalled:
      return "stalled";
    case Phase::kRecovered:
      return "recovered";
    case Phase::kDenied:
      return "denied";
    case Phase::kClosed:
      return "closed";
    case Phase::kOther:
      return "other";
  }
  return "";
}

std::optional<int64_t> Event::EventTime() const {
  if (utc_ms) return utc_ms;
  switch (phase) {
    case Phase::kOpened:
      return opened_at;
    case Phase::kAuthorized:
      return authorized_at;
    case Phase::kStarted:
      return started_at;
    case Phase::kUpdated:
      return updated_at;
    case Phase::kClosed:
    case Phase::kDenied:
      return closed_at;
    default:
      return std::nullopt;
  }
}

}  // namespace sink
