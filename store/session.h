// Session: the merged state of one streaming session, built from its events.
//
// The merge is order-independent: Apply() is commutative and, because the
// store drops duplicate events before they get here, the row that Row()
// returns is a function of the *set* of distinct events seen (docs/session-model.md §3).
// Each rule is a lattice operation:
//   - timestamps: earliest opened/authorized/started, latest updated;
//   - bytes and duration: maximum (both are cumulative);
//   - descriptive fields (media, ip, user_id, …): the value carried by the
//     earliest event that has one; equal times pick the smaller value;
//   - stalls: the set of stalled/recovered instants, replayed in time order;
//   - closed/denied: terminal; a later "updated" never reopens the session.
// Sessions the sink finishes itself (idle timeout, server restart) are marked
// synthetic; a real closed event arriving later replaces that.
//
// Not thread-safe; a Session is owned by the writer thread while it merges.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/event.h"
#include "store/shared_str.h"
#include "store/status.h"

namespace sink {

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Why the sink (not the media server) finished a session.
enum class SyntheticClose : uint8_t { kNone = 0, kSinkTimeout = 1, kServerRestart = 2 };
std::string_view SyntheticCloseName(SyntheticClose s);

// Descriptive fields, in the order of the sessions table columns.
enum DescField : int {
  kServer,
  kMedia,
  kSourceId,
  kParentId,
  kUserId,
  kToken,
  kIp,
  kProto,
  kCountry,
  kUserAgent,
  kReferer,
  kUrl,
  kDescCount,
};
extern const std::array<const char*, kDescCount> kDescColumn;

// A value and the time of the event that supplied it (kNever when unknown).
struct Attr {
  SharedStr value;
  int64_t t = kNever;
  // Keeps the value of the earliest event; ties go to the smaller value.
  void Offer(std::string_view v, int64_t at);
};

// The same, keeping the latest statement (ties: the larger value). Events
// without a time never beat one with a time.
struct LatestAttr {
  SharedStr value;
  int64_t t = -1;  // -1: none; 0: stated by an event without a time
  void Offer(std::string_view v, std::optional<int64_t> at);
};

// end_class of a Flussonic session closed with `reason` (NULL: a plain close).
std::string_view FlussonicEndClass(const std::optional<std::string>& reason);

struct StallMark {
  int64_t t;
  bool stall;  // true: stalled, false: recovered
  // Stalled sorts before recovered at the same instant.
  bool operator<(const StallMark& o) const { return t != o.t ? t < o.t : stall > o.stall; }
  bool operator==(const StallMark& o) const { return t == o.t && stall == o.stall; }
};

// One stall: [start_at, end_at). end_at is nullopt while the session is
// still stalling (the interval is open).
struct StallInterval {
  int64_t start_at;
  std::optional<int64_t> end_at;
  bool operator==(const StallInterval& o) const {
    return start_at == o.start_at && end_at == o.end_at;
  }
};

// The network an address belongs to, for comparing viewers: "a.b.c.0/24"
// for IPv4, the first 64 bits ("2001:db8:1:2::/64") for IPv6; other text as
// is; nullopt for none.
std::optional<std::string> IpNetwork(const std::optional<std::string>& ip);

// The session as the `sessions` table shows it (contract columns: README, "The SQLite schema").
struct SessionRow {
  std::string id;
  std::string kind;
  std::string state;
  std::array<std::optional<std::string>, kDescCount> desc;
  std::optional<int64_t> opened_at, authorized_at, started_at, updated_at, closed_at;
  std::optional<int64_t> bytes, duration_ms;
  int64_t stall_count = 0;
  int64_t stalled_ms = 0;
  bool denied = false;
  std::optional<std::string> close_reason;
  int64_t event_count = 0;
  std::optional<int64_t> first_event_at, last_event_at;
  int64_t seen_at = 0;                // receive time of the newest event (sink clock)
  std::optional<std::string> ip_net;  // IpNetwork(ip)
  std::vector<StallInterval> stalls;  // stall_count of them, in time order

  std::string platform = "flussonic";
  std::optional<std::string> raw_state, raw_reason;
  std::optional<std::string> end_class;  // one of kEndClasses once finished
  std::optional<int64_t> queued_ms;
  int64_t reconnect_count = 0;
  int64_t reconnect_ms = 0;
  std::optional<std::string> external_id;

  bool operator==(const SessionRow&) const = default;
};

class Session {
 public:
  explicit Session(std::string id) : id_(std::move(id)) {}

  // Merges one distinct event. REQUIRES: e.HasSession() and *e.id == id().
  void Apply(const Event& e, int64_t received_at_ms);
  // Finishes the session on the sink's authority. No effect once a real
  // closed/denied event was seen or the session is already finished.
  void CloseSynthetic(SyntheticClose why);
  // Applies the server-restart rule for a server that last restarted at
  // `restart_at`: finished if the session's last event is earlier, open again
  // otherwise (so the outcome does not depend on arrival order). Returns true
  // when this call finished the session. No effect on real or timeout closes.
  bool ApplyServerRestart(std::optional<int64_t> restart_at);

  bool Finished() const { return closed_ || synthetic_ != SyntheticClose::kNone; }
  const std::string& id() const { return id_; }
  std::optional<std::string> server() const { return desc_[kServer].value.opt(); }
  // True once a stalled or recovered event was seen (the row has stall intervals to keep).
  bool HasStallMarks() const { return !marks_.empty(); }
  std::optional<int64_t> last_event_at() const { return last_event_at_; }
  int64_t seen_at() const { return seen_at_; }

  SessionRow Row() const;

  // Persistence: the store writes Row() plus MergeState() and reads them
  // back with FromStored(). MergeState() holds what the row cannot show
  // (provenance times, stall instants, flags) as a short text. FromStored
  // reads these row fields and no others: kind, desc, the lifecycle times,
  // bytes, duration_ms, denied, close_reason, event_count, first/last
  // event_at, seen_at, platform, raw_state, raw_reason, external_id.
  std::string MergeState() const;
  static Result<Session> FromStored(const SessionRow& row, std::string_view merge_state);

  // Bytes this session holds in memory (the object and its strings).
  size_t ApproximateMemoryUsage() const;

 private:
  std::string id_;
  Attr kind_;
  bool kind_explicit_ = false;
  std::array<Attr, kDescCount> desc_;
  std::optional<int64_t> opened_at_, authorized_at_, started_at_, updated_at_;
  std::optional<int64_t> bytes_, duration_ms_;
  std::optional<int64_t> first_event_at_, last_event_at_;  // event times (sender clock)
  // The earliest receive time (sink clock): first_event_at of a session
  // whose events carry no time at all.
  std::optional<int64_t> first_received_at_;
  int64_t seen_at_ = 0;
  int64_t event_count_ = 0;
  bool running_ = false;  // saw started/updated/recovered
  bool closed_ = false;   // saw a closed or denied event
  bool denied_ = false;
  bool saw_closed_ = false;  // saw a closed event (not only denied)
  // closed_at: the earliest closed event's time; the earliest denied
  // event's only when there is no closed event.
  std::optional<int64_t> real_closed_at_, denied_closed_at_;
  Attr close_reason_;
  SyntheticClose synthetic_ = SyntheticClose::kNone;
  std::vector<StallMark> marks_;  // sorted, unique

  Attr platform_;
  LatestAttr raw_state_, raw_reason_;
  // end_class stated by a closing event: a known class beats "unknown", then
  // the earliest close.
  Attr end_class_;
  bool end_class_known_ = false;
  SharedStr close_raw_reason_;  // the raw reason of that close
  Attr external_id_;
  std::optional<int64_t> queue_enter_at_, queue_leave_at_;
  std::vector<StallMark> reconnect_marks_;  // stall = reconnection began
};

}  // namespace sink
