#include "store/session.h"

#include <arpa/inet.h>
#include <algorithm>

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

void Attr::Offer(const std::string& v, int64_t at) {
  if (!value || at < t || (at == t && v < *value)) {
    value = v;
    t = at;
  }
}

namespace {

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
      if (te) {
        StallMark m{*te, e.phase == Phase::kStalled};
        auto it = std::lower_bound(marks_.begin(), marks_.end(), m);
        if (it == marks_.end() || !(*it == m)) marks_.insert(it, m);
      }
      break;
    case Phase::kDenied:
    case Phase::kClosed: {
      if (e.phase == Phase::kDenied) denied_ = true;
      closed_ = true;
      synthetic_ = SyntheticClose::kNone;  // a real close wins
      const std::optional<int64_t> tc = e.closed_at ? e.closed_at : te;
      Min(real_closed_at_, tc);
      if (e.reason) close_reason_.Offer(*e.reason, tc.value_or(kNever));
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
  r.kind = kind_.value.value_or("");
  for (int i = 0; i < kDescCount; ++i) r.desc[i] = desc_[i].value;
  r.opened_at = opened_at_;
  r.authorized_at = authorized_at_;
  r.started_at = started_at_;
  r.updated_at = updated_at_;
  r.bytes = bytes_;
  r.duration_ms = duration_ms_;
  r.denied = denied_;
  r.event_count = event_count_;
  r.first_event_at = first_event_at_;
  r.last_event_at = last_event_at_;
  r.seen_at = seen_at_;

  const bool finished = Finished();
  if (closed_) {
    r.closed_at = real_closed_at_;
    r.close_reason = close_reason_.value;
  } else if (synthetic_ != SyntheticClose::kNone) {
    // The last sign of life is the best estimate of when it ended.
    r.closed_at = last_event_at_ ? last_event_at_ : std::optional<int64_t>(seen_at_);
    r.close_reason = std::string(SyntheticCloseName(synthetic_));
  }

  // Replay stall instants in time order; stop at the end of the session.
  const std::optional<int64_t> end = finished ? r.closed_at : last_event_at_;
  bool stalling = false;
  for (const StallMark& m : marks_) {
    if (end && m.t > *end) break;
    if (m.stall && !stalling) {
      stalling = true;
      r.stalls.push_back(StallInterval{m.t, std::nullopt});
    } else if (!m.stall && stalling) {
      stalling = false;
      r.stalls.back().end_at = m.t;
    }
  }
  // A stall still open when the session finished lasted until its end.
  if (stalling && finished && end)
    r.stalls.back().end_at = std::max(*end, r.stalls.back().start_at);
  r.stall_count = static_cast<int64_t>(r.stalls.size());
  for (const StallInterval& s : r.stalls) {
    const std::optional<int64_t> until = s.end_at ? s.end_at : end;
    if (until && *until > s.start_at) r.stalled_ms += *until - s.start_at;
  }
  r.ip_net = IpNetwork(r.desc[kIp]);

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

// Merge state text, version 1: space-separated integers
//   1 kind_explicit kind_t desc_t[0..11] running closed close_reason_t synthetic
//   n_marks (t stall)...
std::string Session::MergeState() const {
  std::string s = "1 ";
  auto put = [&s](int64_t v) {
    s += std::to_string(v);
    s += ' ';
  };
  put(kind_explicit_);
  put(kind_.t);
  for (const Attr& a : desc_) put(a.t);
  put(running_);
  put(closed_);
  put(close_reason_.t);
  put(static_cast<int64_t>(synthetic_));
  put(static_cast<int64_t>(marks_.size()));
  for (const StallMark& m : marks_) {
    put(m.t);
    put(m.stall);
  }
  s.pop_back();
  return s;
}

Result<Session> Session::FromStored(const SessionRow& row, std::string_view merge_state) {
  std::vector<int64_t> v;
  const char* p = merge_state.data();
  const char* end = p + merge_state.size();
  while (p < end) {
    while (p < end && *p == ' ') ++p;
    if (p == end) break;
    int64_t x = 0;
    auto [next, ec] = std::from_chars(p, end, x);
    if (ec != std::errc()) return Status::Internal("corrupt merge state for session " + row.id);
    v.push_back(x);
    p = next;
  }
  constexpr size_t kFixed = 1 + 2 + kDescCount + 5;
  if (v.size() < kFixed || v[0] != 1 ||
      v.size() != kFixed + 2 * static_cast<size_t>(std::max<int64_t>(v[kFixed - 1], 0))) {
    return Status::Internal("corrupt merge state for session " + row.id);
  }
  Session s(row.id);
  size_t i = 1;
  s.kind_explicit_ = v[i++] != 0;
  s.kind_.t = v[i++];
  if (!row.kind.empty()) s.kind_.value = row.kind;
  for (int f = 0; f < kDescCount; ++f) {
    s.desc_[f].value = row.desc[f];
    s.desc_[f].t = v[i++];
  }
  s.running_ = v[i++] != 0;
  s.closed_ = v[i++] != 0;
  s.close_reason_.t = v[i++];
  s.synthetic_ = static_cast<SyntheticClose>(v[i++]);
  const int64_t n = v[i++];
  for (int64_t k = 0; k < n; ++k) {
    s.marks_.push_back(StallMark{v[i], v[i + 1] != 0});
    i += 2;
  }
  s.opened_at_ = row.opened_at;
  s.authorized_at_ = row.authorized_at;
  s.started_at_ = row.started_at;
  s.updated_at_ = row.updated_at;
  s.bytes_ = row.bytes;
  s.duration_ms_ = row.duration_ms;
  s.denied_ = row.denied;
  s.event_count_ = row.event_count;
  s.first_event_at_ = row.first_event_at;
  s.last_event_at_ = row.last_event_at;
  s.seen_at_ = row.seen_at;
  if (s.closed_) {
    s.real_closed_at_ = row.closed_at;
    s.close_reason_.value = row.close_reason;
  }
  return s;
}

}  // namespace sink
