#include "store/session.h"

#include <arpa/inet.h>
#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <iterator>
#include <tuple>

#include <charconv>

namespace sink {

const std::array<const char*, kDescCount> kDescColumn = {
    "server", "media", "source_id", "parent_id",  "user_id", "token",
    "ip",     "proto", "country",   "user_agent", "referer", "url",
};

std::string_view SyntheticCloseName(SyntheticClose s) {
  switch (s) {
    case SyntheticClose::kNone:
      return "";
    case SyntheticClose::kSinkTimeout:
      return "sink_timeout";
    case SyntheticClose::kServerRestart:
      return "server_restart";
  }
  return "";
}

std::optional<std::string> IpNetwork(const std::optional<std::string>& ip) {
  if (!ip || ip->empty()) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  in_addr v4;
  if (inet_pton(AF_INET, ip->c_str(), &v4) == 1) {
    v4.s_addr &= htonl(0xffffff00u);
    return std::string(inet_ntop(AF_INET, &v4, buf, sizeof buf)) + "/24";
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, ip->c_str(), &v6) == 1) {
    std::fill(v6.s6_addr + 8, v6.s6_addr + 16, 0);
    return std::string(inet_ntop(AF_INET6, &v6, buf, sizeof buf)) + "/64";
  }
  return ip;
}

void Attr::Offer(std::string_view v, int64_t at) {
  if (!value.has_value() || at < t || (at == t && v < value.view())) {
    if (!value.has_value() || v != value.view()) value = SharedStr::Of(v);
    t = at;
  }
}

void LatestAttr::Offer(std::string_view v, std::optional<int64_t> at) {
  const int64_t a = at ? std::max<int64_t>(*at, 0) : 0;
  if (!value.has_value() || a > t || (a == t && v > value.view())) {
    if (!value.has_value() || v != value.view()) value = SharedStr::Of(v);
    t = a;
  }
}

std::string_view FlussonicEndClass(const std::optional<std::string>& reason) {
  if (!reason || reason->empty() || *reason == "null") return "normal";
  std::string r = *reason;
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto has = [&r](std::initializer_list<std::string_view> words) {
    for (std::string_view w : words) {
      if (r.find(w) != std::string::npos) return true;
    }
    return false;
  };
  // Most specific first: "session_limit_timeout" is a limit.
  if (has({"normal", "eof", "finished", "stopped"}) || r == "closed" || r == "stop") {
    return "normal";
  }
  if (has({"denied", "forbidden", "unauthori", "auth_fail", "not_allowed", "banned"})) {
    return "denied";
  }
  if (has({"limit", "max_sessions", "too_many", "quota", "overflow"})) return "limit";
  if (has({"kick", "admin", "api"})) return "admin_kick";
  if (has({"timeout", "idle", "inactiv"})) return "idle_timeout";
  if (has({"client", "user", "viewer", "closed_by", "disconnect", "left"})) return "user_left";
  if (has({"network", "tcp", "socket", "econn", "reset", "broken_pipe", "unreachable"})) {
    return "network";
  }
  if (has({"shutdown", "restart", "crash", "error", "internal", "exit", "failed"})) {
    return "internal";
  }
  return "unknown";
}

namespace {

// Index of `c` in kEndClasses, or -1.
int EndClassIndex(std::string_view c) {
  for (size_t i = 0; i < std::size(kEndClasses); ++i) {
    if (kEndClasses[i] == c) return static_cast<int>(i);
  }
  return -1;
}

// Replays sorted marks into intervals, up to `end` (nullopt: no end yet).
// Returns whether the last interval is still open.
bool Replay(const std::vector<StallMark>& marks, std::optional<int64_t> end, bool finished,
            std::vector<StallInterval>* out) {
  bool open = false;
  for (const StallMark& m : marks) {
    if (end && m.t > *end) break;
    if (m.stall && !open) {
      open = true;
      out->push_back(StallInterval{m.t, std::nullopt});
    } else if (!m.stall && open) {
      open = false;
      out->back().end_at = m.t;
    }
  }
  // An interval still open when the session finished lasted until its end.
  if (open && finished && end) out->back().end_at = std::max(*end, out->back().start_at);
  return open;
}

int64_t TotalMs(const std::vector<StallInterval>& v, std::optional<int64_t> end) {
  int64_t total = 0;
  for (const StallInterval& s : v) {
    const std::optional<int64_t> until = s.end_at ? s.end_at : end;
    if (until && *until > s.start_at) total += *until - s.start_at;
  }
  return total;
}

void AddMark(std::vector<StallMark>* marks, StallMark m) {
  auto it = std::lower_bound(marks->begin(), marks->end(), m);
  if (it == marks->end() || !(*it == m)) marks->insert(it, m);
}

void Min(std::optional<int64_t>& acc, const std::optional<int64_t>& v) {
  if (v && (!acc || *v < *acc)) acc = v;
}
void Max(std::optional<int64_t>& acc, const std::optional<int64_t>& v) {
  if (v && (!acc || *v > *acc)) acc = v;
}

}  // namespace

void Session::Apply(const Event& e, int64_t received_at_ms) {
  const std::optional<int64_t> te = e.EventTime();
  const int64_t at = te.value_or(kNever);
  ++event_count_;
  Min(first_event_at_, te);
  Max(last_event_at_, te);
  Min(first_received_at_, received_at_ms);
  seen_at_ = std::max(seen_at_, received_at_ms);

  if (e.kind_explicit && !kind_explicit_) {
    kind_ = Attr{};
    kind_explicit_ = true;
  }
  if (e.kind_explicit == kind_explicit_) kind_.Offer(e.kind, at);

  const std::optional<std::string>* fields[kDescCount] = {
      &e.server, &e.media, &e.source_id, &e.parent_id,  &e.user_id, &e.token,
      &e.ip,     &e.proto, &e.country,   &e.user_agent, &e.referer, &e.url,
  };
  for (int i = 0; i < kDescCount; ++i) {
    if (*fields[i]) desc_[i].Offer(**fields[i], at);
  }

  platform_.Offer(e.platform, at);
  raw_state_.Offer(e.raw_state ? *e.raw_state : e.name, te);
  const bool closing = e.phase == Phase::kDenied || e.phase == Phase::kClosed;
  if (e.raw_reason) {
    raw_reason_.Offer(*e.raw_reason, te);
  } else if (closing && e.reason) {
    raw_reason_.Offer(*e.reason, te);
  }
  if (e.external_id) external_id_.Offer(*e.external_id, at);
  if (e.queue_enter) Min(queue_enter_at_, e.opened_at ? e.opened_at : te);
  if (e.queue_leave) Min(queue_leave_at_, te);
  if (te && (e.reconnect_begin || e.reconnect_end)) {
    AddMark(&reconnect_marks_, StallMark{*te, e.reconnect_begin});
    AddMark(&marks_, StallMark{*te, e.reconnect_begin});
  }

  Min(opened_at_, e.opened_at);
  Min(authorized_at_, e.authorized_at);
  Min(started_at_, e.started_at);
  Max(updated_at_, e.updated_at);
  Max(bytes_, e.bytes);
  Max(duration_ms_, e.duration_ms);

  switch (e.phase) {
    case Phase::kOpened:
      Min(opened_at_, te);
      break;
    case Phase::kAuthorized:
      Min(authorized_at_, te);
      break;
    case Phase::kStarted:
      Min(started_at_, te);
      running_ = true;
      break;
    case Phase::kUpdated:
      Max(updated_at_, te);
      running_ = true;
      break;
    case Phase::kStalled:
    case Phase::kRecovered:
      if (e.phase == Phase::kRecovered) running_ = true;
      if (te) AddMark(&marks_, StallMark{*te, e.phase == Phase::kStalled});
      break;
    case Phase::kDenied:
    case Phase::kClosed: {
      const std::optional<int64_t> tc = e.closed_at ? e.closed_at : te;
      if (e.phase == Phase::kDenied) {
        denied_ = true;
        Min(denied_closed_at_, tc);
      } else {
        saw_closed_ = true;
        Min(real_closed_at_, tc);
      }
      if (e.reason) close_reason_.Offer(*e.reason, tc.value_or(kNever));
      // The close that decides end_class and raw_reason (both from the same
      // event): a known class first, then the earliest; ties by the values.
      const std::optional<std::string>& rr = e.raw_reason ? e.raw_reason : e.reason;
      const bool known = e.end_class && *e.end_class != "unknown";
      auto rank = [](bool k, int64_t t, bool has_c, std::string_view c, bool has_r,
                     std::string_view r) { return std::make_tuple(!k, t, has_c, c, has_r, r); };
      if (!closed_ ||
          rank(known, tc.value_or(kNever), e.end_class.has_value(),
               e.end_class.value_or(std::string()), rr.has_value(), rr.value_or(std::string())) <
              rank(end_class_known_, end_class_.t, end_class_.value.has_value(),
                   end_class_.value.view(), close_raw_reason_.has_value(),
                   close_raw_reason_.view())) {
        end_class_ = Attr{SharedStr::Of(e.end_class), tc.value_or(kNever)};
        end_class_known_ = known;
        close_raw_reason_ = SharedStr::Of(rr);
      }
      closed_ = true;
      synthetic_ = SyntheticClose::kNone;  // a real close wins
      break;
    }
    default:
      break;
  }
}

void Session::CloseSynthetic(SyntheticClose why) {
  if (Finished() || why == SyntheticClose::kNone) return;
  synthetic_ = why;
}

bool Session::ApplyServerRestart(std::optional<int64_t> restart_at) {
  if (closed_ || synthetic_ == SyntheticClose::kSinkTimeout) return false;
  const bool was = synthetic_ == SyntheticClose::kServerRestart;
  const bool now = restart_at && last_event_at_ && *last_event_at_ < *restart_at;
  synthetic_ = now ? SyntheticClose::kServerRestart : SyntheticClose::kNone;
  return now && !was;
}

SessionRow Session::Row() const {
  SessionRow r;
  r.id = id_;
  r.kind = std::string(kind_.value.view());
  for (int i = 0; i < kDescCount; ++i) r.desc[i] = desc_[i].value.opt();
  r.opened_at = opened_at_;
  r.authorized_at = authorized_at_;
  r.started_at = started_at_;
  r.updated_at = updated_at_;
  r.bytes = bytes_;
  r.duration_ms = duration_ms_;
  r.denied = denied_;
  r.event_count = event_count_;
  // Events that carry no time at all: the sink's receive time of the first.
  r.first_event_at = first_event_at_ ? first_event_at_ : first_received_at_;
  r.last_event_at = last_event_at_;
  r.seen_at = seen_at_;

  const bool finished = Finished();
  if (closed_) {
    r.closed_at = saw_closed_ ? real_closed_at_ : denied_closed_at_;
    r.close_reason = close_reason_.value.opt();
  } else if (synthetic_ != SyntheticClose::kNone) {
    // The last sign of life is the best estimate of when it ended.
    r.closed_at = last_event_at_ ? last_event_at_ : std::optional<int64_t>(seen_at_);
    r.close_reason = std::string(SyntheticCloseName(synthetic_));
  }

  // Replay stall instants in time order; stop at the end of the session.
  const std::optional<int64_t> end = finished ? r.closed_at : last_event_at_;
  const bool stalling = Replay(marks_, end, finished, &r.stalls);
  r.stall_count = static_cast<int64_t>(r.stalls.size());
  r.stalled_ms = TotalMs(r.stalls, end);
  std::vector<StallInterval> reconnects;
  Replay(reconnect_marks_, end, finished, &reconnects);
  r.reconnect_count = static_cast<int64_t>(reconnects.size());
  r.reconnect_ms = TotalMs(reconnects, end);
  r.ip_net = IpNetwork(r.desc[kIp]);

  r.platform = platform_.value.has_value() ? std::string(platform_.value.view())
                                           : std::string(kFlussonicPlatform);
  r.raw_state = raw_state_.value.opt();
  r.raw_reason = closed_ ? close_raw_reason_.opt() : raw_reason_.value.opt();
  r.external_id = external_id_.value.opt();
  if (queue_enter_at_) {
    std::optional<int64_t> until;
    if (queue_leave_at_ && *queue_leave_at_ >= *queue_enter_at_) {
      until = queue_leave_at_;
    } else if (finished && r.closed_at) {
      until = std::max(*r.closed_at, *queue_enter_at_);
    }
    if (until) r.queued_ms = *until - *queue_enter_at_;
  }
  if (closed_) {
    if (end_class_.value.has_value()) {
      r.end_class = end_class_.value.opt();
    } else if (denied_) {
      r.end_class = "denied";
    } else {
      r.end_class = std::string(r.platform == "flussonic" ? FlussonicEndClass(r.close_reason)
                                                          : std::string_view("unknown"));
    }
  } else if (synthetic_ == SyntheticClose::kSinkTimeout) {
    r.end_class = "idle_timeout";
  } else if (synthetic_ == SyntheticClose::kServerRestart) {
    r.end_class = "internal";
  }

  if (finished) {
    r.state = "finished";
  } else if (stalling) {
    r.state = "stalling";
  } else if (running_ || started_at_) {
    r.state = "running";
  } else {
    r.state = "establishing";
  }
  return r;
}

// Merge state text, version 3: space-separated integers
//   3 kind_explicit kind_t desc_t[0..11] running closed close_reason_t synthetic
//   platform_t raw_state_t raw_reason_t end_class end_class_t end_class_known
//   external_id_t has_queue_enter queue_enter has_queue_leave queue_leave
//   saw_closed has_denied_at denied_at has_first_received first_received
//   first_event_known
//   n_marks (t stall)... n_reconnect_marks (t stall)...
// (end_class: index in kEndClasses, -1 for none.) Version 2 lacks the six
// fields from saw_closed; version 1 is version 2 up to `synthetic`, then
// n_marks and the marks.
std::string Session::MergeState() const {
  std::string s = "3 ";
  s.reserve(160);
  auto put = [&s](int64_t v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    s.append(buf, end);
    s += ' ';
  };
  auto put_opt = [&put](const std::optional<int64_t>& v) {
    put(v.has_value());
    put(v.value_or(0));
  };
  put(kind_explicit_);
  put(kind_.t);
  for (const Attr& a : desc_) put(a.t);
  put(running_);
  put(closed_);
  put(close_reason_.t);
  put(static_cast<int64_t>(synthetic_));
  put(platform_.t);
  put(raw_state_.t);
  // Once closed, the row shows the deciding close's reason and the latest
  // one is no longer kept (FromStored does not restore it).
  put(closed_ ? -1 : raw_reason_.t);
  put(end_class_.value.has_value() ? EndClassIndex(end_class_.value.view()) : -1);
  put(end_class_.t);
  put(end_class_known_);
  put(external_id_.t);
  put_opt(queue_enter_at_);
  put_opt(queue_leave_at_);
  put(saw_closed_);
  put_opt(denied_closed_at_);
  put_opt(first_received_at_);
  put(first_event_at_.has_value());
  for (const std::vector<StallMark>* marks : {&marks_, &reconnect_marks_}) {
    put(static_cast<int64_t>(marks->size()));
    for (const StallMark& m : *marks) {
      put(m.t);
      put(m.stall);
    }
  }
  s.pop_back();
  return s;
}

Result<Session> Session::FromStored(const SessionRow& row, std::string_view merge_state) {
  const Status corrupt = Status::Internal("corrupt merge state for session " + row.id);
  std::vector<int64_t> v;
  const char* p = merge_state.data();
  const char* end = p + merge_state.size();
  while (p < end) {
    while (p < end && *p == ' ') ++p;
    if (p == end) break;
    int64_t x = 0;
    auto [next, ec] = std::from_chars(p, end, x);
    if (ec != std::errc()) return corrupt;
    v.push_back(x);
    p = next;
  }
  if (v.empty() || v[0] < 1 || v[0] > 3) return corrupt;
  const int version = static_cast<int>(v[0]);
  const size_t common = 1 + 2 + kDescCount + 4;  // up to `synthetic`
  const size_t fixed = common + (version >= 2 ? 11 : 0) + (version >= 3 ? 6 : 0);
  if (v.size() < fixed + 1) return corrupt;
  Session s(row.id);
  size_t i = 1;
  auto opt = [&v, &i]() -> std::optional<int64_t> {
    const bool has = v[i++] != 0;
    const int64_t x = v[i++];
    return has ? std::optional<int64_t>(x) : std::nullopt;
  };
  s.kind_explicit_ = v[i++] != 0;
  s.kind_.t = v[i++];
  if (!row.kind.empty()) s.kind_.value = SharedStr::Of(row.kind);
  for (int f = 0; f < kDescCount; ++f) {
    s.desc_[f].value = SharedStr::Of(row.desc[f]);
    s.desc_[f].t = v[i++];
  }
  s.running_ = v[i++] != 0;
  s.closed_ = v[i++] != 0;
  s.close_reason_.t = v[i++];
  s.synthetic_ = static_cast<SyntheticClose>(v[i++]);
  // Rows before version 3 kept one closed_at for closed and denied events
  // alike, and a first_event_at from event times only.
  s.saw_closed_ = s.closed_;
  bool first_event_known = true;
  if (version >= 2) {
    s.platform_ = Attr{SharedStr::Of(row.platform), v[i++]};
    s.raw_state_ = LatestAttr{SharedStr::Of(row.raw_state), row.raw_state ? v[i] : -1};
    ++i;
    // A closed session shows its deciding close's reason (see Apply).
    if (s.closed_) {
      s.close_raw_reason_ = SharedStr::Of(row.raw_reason);
    } else {
      s.raw_reason_ = LatestAttr{SharedStr::Of(row.raw_reason), row.raw_reason ? v[i] : -1};
    }
    ++i;
    const int64_t ec = v[i++];
    if (ec >= static_cast<int64_t>(std::size(kEndClasses))) return corrupt;
    if (ec >= 0) s.end_class_.value = SharedStr::Of(kEndClasses[ec]);
    s.end_class_.t = v[i++];
    s.end_class_known_ = v[i++] != 0;
    s.external_id_ = Attr{SharedStr::Of(row.external_id), v[i++]};
    s.queue_enter_at_ = opt();
    s.queue_leave_at_ = opt();
  }
  if (version >= 3) {
    s.saw_closed_ = v[i++] != 0;
    s.denied_closed_at_ = opt();
    s.first_received_at_ = opt();
    first_event_known = v[i++] != 0;
  }
  for (std::vector<StallMark>* marks : {&s.marks_, &s.reconnect_marks_}) {
    if (marks == &s.reconnect_marks_ && version == 1) break;
    if (i >= v.size() || v[i] < 0 || v.size() - i - 1 < 2 * static_cast<size_t>(v[i])) {
      return corrupt;
    }
    const int64_t n = v[i++];
    for (int64_t k = 0; k < n; ++k) {
      marks->push_back(StallMark{v[i], v[i + 1] != 0});
      i += 2;
    }
  }
  if (i != v.size()) return corrupt;
  if (version == 1 && s.closed_) s.close_raw_reason_ = SharedStr::Of(row.close_reason);
  s.opened_at_ = row.opened_at;
  s.authorized_at_ = row.authorized_at;
  s.started_at_ = row.started_at;
  s.updated_at_ = row.updated_at;
  s.bytes_ = row.bytes;
  s.duration_ms_ = row.duration_ms;
  s.denied_ = row.denied;
  s.event_count_ = row.event_count;
  if (first_event_known) s.first_event_at_ = row.first_event_at;
  s.last_event_at_ = row.last_event_at;
  s.seen_at_ = row.seen_at;
  if (s.closed_) {
    if (s.saw_closed_) s.real_closed_at_ = row.closed_at;
    s.close_reason_.value = SharedStr::Of(row.close_reason);
  }
  return s;
}

size_t Session::ApproximateMemoryUsage() const {
  size_t n = sizeof(Session);
  if (id_.capacity() > 15) n += id_.capacity() + 1;  // past the small-string buffer
  for (const Attr* a : {&kind_, &close_reason_, &platform_, &end_class_, &external_id_}) {
    n += a->value.SharedBytes();
  }
  for (const Attr& a : desc_) n += a.value.SharedBytes();
  n += raw_state_.value.SharedBytes() + raw_reason_.value.SharedBytes() +
       close_raw_reason_.SharedBytes();
  n += (marks_.capacity() + reconnect_marks_.capacity()) * sizeof(StallMark);
  return n;
}

}  // namespace sink
