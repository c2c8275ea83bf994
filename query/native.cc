#include "query/native.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

namespace sink {

namespace {

constexpr int64_t kMin = -9223372036854775807;
constexpr int64_t kMax = 9223372036854775807;

using OptInt = std::optional<int64_t>;
using OptStr = std::optional<std::string>;

// The parameters with the defaults the SQL files give them.
struct Window {
  int64_t t0, t1, now, w;
  OptInt from, to, limit;
  OptStr media, user, server, platform;
};

Result<Window> Resolve(Db& db, const ReportParams& p) {
  Window w{p.from.value_or(kMin),
           p.to.value_or(kMax),
           0,
           p.bucket_ms.value_or(60000),
           p.from,
           p.to,
           p.limit,
           p.media,
           p.user,
           p.server,
           p.platform};
  if (p.now) {
    w.now = *p.now;
  } else {
    // The same expression as the SQL, so both see the same "now".
    Result<int64_t> now =
        db.QueryInt("SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)");
    if (!now.ok()) return now.status();
    w.now = now.value();
  }
  return w;
}

// SQLite's round(), for identical output. A failure (of the statement) is
// kept: the report returns status() before its table.
class Rounder {
 public:
  explicit Rounder(Db& db) {
    Result<Stmt> s = db.Prepare("SELECT round(?1, ?2)");
    if (s.ok()) {
      stmt_ = std::move(s.value());
    } else {
      status_ = s.status();
    }
  }
  Cell operator()(std::optional<double> v, int digits) {
    if (!v) return std::monostate{};
    if (!status_.ok()) return *v;
    sqlite3_bind_double(stmt_.get(), 1, *v);
    stmt_.Bind(2, int64_t{digits});
    Result<bool> row = stmt_.Step();
    if (!row.ok()) status_ = row.status();
    const double r = row.ok() && row.value() ? sqlite3_column_double(stmt_.get(), 0) : *v;
    stmt_.Reset();
    return r;
  }
  const Status& status() const { return status_; }

 private:
  Stmt stmt_;
  Status status_;
};

// Runs `sql` with ?1 = t0, ?2 = t1, ?3 = media, ?4 = user, ?5 = server,
// ?6 = now, ?7 = platform bound (those it uses), calling `row` for each result row. The
// report filters live in the SQL (cheap to evaluate during the scan); the aggregation in C++.
Status ForEach(Db& db, const std::string& sql, const Window& w,
               const std::function<void(const Stmt&)>& row) {
  Result<Stmt> q = db.Prepare(sql);
  if (!q.ok()) return q.status();
  Stmt& s = q.value();
  const int n = sqlite3_bind_parameter_count(s.get());
  if (n >= 1) s.Bind(1, w.t0);
  if (n >= 2) s.Bind(2, w.t1);
  if (n >= 3) s.Bind(3, w.media);
  if (n >= 4) s.Bind(4, w.user);
  if (n >= 5) s.Bind(5, w.server);
  if (n >= 6) s.Bind(6, w.now);
  if (n >= 7) s.Bind(7, w.platform);
  for (;;) {
    Result<bool> r = s.Step();
    if (!r.ok()) return r.status();
    if (!r.value()) return Status::Ok();
    row(s);
  }
}

// The plays of the window, as every play report selects them.
constexpr const char* kPlaysInWindow =
    " FROM sessions WHERE +kind = 'play'"
    " AND +coalesce(opened_at, first_event_at) >= ?1 AND +coalesce(opened_at, first_event_at) < ?2"
    " AND (?3 IS NULL OR media = ?3) AND (?4 IS NULL OR user_id = ?4)"
    " AND (?5 IS NULL OR server = ?5) AND (?7 IS NULL OR platform = ?7)";

// max(0, COALESCE(closed_at, last_event_at, started_at) − started_at), from
// columns (started, closed, last) at `c`.
int64_t WatchMs(const Stmt& q, int c) {
  const int64_t start = q.Int(c);
  const int64_t end = !q.IsNull(c + 1) ? q.Int(c + 1) : !q.IsNull(c + 2) ? q.Int(c + 2) : start;
  return std::max<int64_t>(0, end - start);
}

std::string Str(const Stmt& q, int c) { return std::string(q.Text(c)); }

Cell Int(OptInt v) { return v ? Cell(*v) : Cell(std::monostate{}); }
Cell Text(const OptStr& v) { return v ? Cell(*v) : Cell(std::monostate{}); }

void Min(OptInt& acc, const Stmt& q, int c) {
  if (!q.IsNull(c) && (!acc || q.Int(c) < *acc)) acc = q.Int(c);
}
void Max(OptInt& acc, const Stmt& q, int c) {
  if (!q.IsNull(c) && (!acc || q.Int(c) > *acc)) acc = q.Int(c);
}

// Maps keyed by text, looked up by the string_view SQLite hands out (no
// string built per row).
struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using TextMap = std::unordered_map<std::string, V, TextHash, std::equal_to<>>;

template <typename V>
V& At(TextMap<V>& m, std::string_view key) {
  auto it = m.find(key);
  if (it == m.end()) it = m.emplace(std::string(key), V{}).first;
  return it->second;
}

// count(DISTINCT x): collected unsorted, counted once at the end (cheaper
// than a set when most values repeat only a few times).
struct Distinct {
  std::vector<std::string> v;
  void Add(std::string_view s) { v.emplace_back(s); }
  int64_t Count() {
    std::sort(v.begin(), v.end());
    return static_cast<int64_t>(std::unique(v.begin(), v.end()) - v.begin());
  }
};

// SQLite orders NULL before any text; text in byte order.
bool LessNullsFirst(const OptStr& a, const OptStr& b) {
  if (!a || !b) return !a && b;
  return *a < *b;
}

// Nearest rank: the ⌈p·n/100⌉-th smallest, as (p·n + 99) / 100.
OptInt Percentile(std::vector<int64_t>& sorted, int p) {
  if (sorted.empty()) return std::nullopt;
  const size_t n = sorted.size();
  const size_t rank = (static_cast<size_t>(p) * n + 99) / 100;
  return sorted[rank - 1];
}

// The highest number of intervals [a, b) (a < b) open at one instant;
// ends before starts at the same instant.
int64_t Peak(std::vector<std::pair<int64_t, int>>& ev) {
  std::sort(ev.begin(), ev.end());  // (t, -1) sorts before (t, +1)
  int64_t level = 0, peak = 0;
  for (const auto& [t, d] : ev) {
    level += d;
    peak = std::max(peak, level);
  }
  return peak;
}

// ---------------------------------------------------------------------------

Result<Table> SessionsPerUser(Db& db, const Window& w) {
  struct Agg {
    int64_t sessions = 0, plays = 0, watch = 0, bytes = 0, stalls = 0;
    Distinct media, ips;
    OptInt first_opened, last_event;
  };
  TextMap<Agg> by;
  by.reserve(1 << 16);
  SINK_RETURN_IF_ERROR(ForEach(
      db,
      std::string("SELECT user_id, started_at, closed_at, last_event_at, bytes, stall_count, "
                  "media, ip, opened_at") +
          kPlaysInWindow + " AND +user_id IS NOT NULL",
      w, [&](const Stmt& q) {
        Agg& a = At(by, q.Text(0));
        ++a.sessions;
        if (!q.IsNull(1)) {
          ++a.plays;
          a.watch += WatchMs(q, 1);
        }
        a.bytes += q.Int(4);  // NULL reads as 0, as sum() skips it
        a.stalls += q.Int(5);
        if (!q.IsNull(6)) a.media.Add(q.Text(6));
        if (!q.IsNull(7)) a.ips.Add(q.Text(7));
        Min(a.first_opened, q, 8);
        Max(a.last_event, q, 3);
      }));
  std::vector<std::pair<const std::string*, Agg*>> order;
  for (auto& [u, a] : by) order.emplace_back(&u, &a);
  std::sort(order.begin(), order.end(), [](const auto& x, const auto& y) {
    if (x.second->watch != y.second->watch) return x.second->watch > y.second->watch;
    return *x.first < *y.first;
  });
  Table t;
  t.columns = {"user_id", "sessions", "plays",  "watch_ms",        "bytes",
               "media",   "ips",      "stalls", "first_opened_at", "last_event_at"};
  for (const auto& [u, a] : order) {
    t.rows.push_back({*u, a->sessions, a->plays, a->watch, a->bytes, a->media.Count(),
                      a->ips.Count(), a->stalls, Int(a->first_opened), Int(a->last_event)});
  }
  return t;
}

Result<Table> Concurrency(Db& db, const Window& w) {
  // Parts: "*" (total) and each media ("" for none), with their changes.
  std::map<std::string, std::vector<std::pair<int64_t, int>>> parts;
  std::vector<std::pair<int64_t, int>>& total = parts["*"];
  std::unordered_map<std::string, std::vector<std::pair<int64_t, int>>*> by_media;
  SINK_RETURN_IF_ERROR(
      ForEach(db,
              "SELECT coalesce(media, ''), started_at, coalesce(closed_at, ?6) FROM sessions "
              "WHERE +kind = 'play' AND started_at IS NOT NULL "
              "AND coalesce(closed_at, ?6) > started_at AND started_at < ?2 "
              "AND coalesce(closed_at, ?6) > ?1 AND (?3 IS NULL OR media = ?3) "
              "AND (?4 IS NULL OR user_id = ?4) AND (?5 IS NULL OR server = ?5) "
              "AND (?7 IS NULL OR platform = ?7)",
              w, [&](const Stmt& q) {
                const std::string_view media = q.Text(0);
                auto it = by_media.find(std::string(media));
                if (it == by_media.end()) {
                  it = by_media.emplace(std::string(media), &parts[std::string(media)]).first;
                }
                const int64_t a = q.Int(1), b = q.Int(2);
                total.emplace_back(a, 1);
                total.emplace_back(b, -1);
                it->second->emplace_back(a, 1);
                it->second->emplace_back(b, -1);
              }));
  // The rows each part would have, checked before any is made.
  {
    using Wide = __int128;
    auto buckets = [&w](Wide lo, Wide hi) -> Wide {
      const Wide first = (lo / w.w) * w.w;
      return std::max<Wide>(1, (hi - first + w.w - 1) / w.w);
    };
    Wide total_buckets = 0, rows = 0;
    for (const auto& [part, ev] : parts) {
      if (ev.empty() && (part != "*" || !w.from || !w.to)) continue;
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (const auto& e : ev) {
        lo = std::min(lo, e.first);
        hi = std::max(hi, e.first);
      }
      if (part == "*") {
        total_buckets = buckets(w.from ? *w.from : lo, w.to ? *w.to : hi);
      } else {
        rows += buckets(std::max(lo, w.t0), std::min(hi, w.t1));
      }
    }
    SINK_RETURN_IF_ERROR(CheckConcurrencySize(
        static_cast<int64_t>(std::min<Wide>(total_buckets, INT64_MAX)),
        static_cast<int64_t>(std::min<Wide>(rows + total_buckets, INT64_MAX)), w.w));
  }
  struct Out {
    int64_t bucket;
    const std::string* part;
    int64_t peak;
  };
  std::vector<Out> out;
  for (auto& [part, events] : parts) {
    // A plain reference, which the lambdas below capture (clang before 16
    // cannot capture a structured binding).
    auto& ev = events;
    std::sort(ev.begin(), ev.end());
    OptInt first_b, last_t;
    if (part == "*") {
      const OptInt lo = w.from ? w.from : ev.empty() ? OptInt() : OptInt(ev.front().first);
      if (lo) first_b = (*lo / w.w) * w.w;
      last_t = w.to ? w.to : ev.empty() ? OptInt() : OptInt(ev.back().first);
    } else if (!ev.empty()) {
      first_b = (std::max(ev.front().first, w.t0) / w.w) * w.w;
      last_t = std::min(ev.back().first, w.t1);
    }
    if (!first_b || !last_t) continue;
    // Buckets first_b, first_b + w, … while b + w < last_t (the first always).
    std::vector<int64_t> peak;
    for (int64_t b = *first_b;; b += w.w) {
      peak.push_back(0);
      if (!(b + w.w < *last_t)) break;
    }
    auto slot = [&](int64_t t) -> int64_t* {
      if (t < *first_b) return nullptr;
      const uint64_t i =
          static_cast<uint64_t>((t / w.w) * w.w - *first_b) / static_cast<uint64_t>(w.w);
      return i < peak.size() ? &peak[i] : nullptr;
    };
    // The level after all changes at an instant, at each change and at each
    // bucket start; a bucket's peak is the highest of those inside it.
    int64_t level = 0;
    size_t i = 0;
    auto advance_through = [&](int64_t until) {
      while (i < ev.size() && ev[i].first <= until) {
        const int64_t t = ev[i].first;
        while (i < ev.size() && ev[i].first == t) level += ev[i++].second;
        if (int64_t* p = slot(t)) *p = std::max(*p, level);
      }
    };
    for (size_t k = 0; k < peak.size(); ++k) {
      advance_through(*first_b + static_cast<int64_t>(k) * w.w);
      peak[k] = std::max(peak[k], level);
    }
    advance_through(std::numeric_limits<int64_t>::max());
    for (size_t k = 0; k < peak.size(); ++k) {
      const int64_t b = *first_b + static_cast<int64_t>(k) * w.w;
      if (b < w.t1) out.push_back(Out{b, &part, peak[k]});
    }
  }
  std::sort(out.begin(), out.end(), [](const Out& x, const Out& y) {
    if (x.bucket != y.bucket) return x.bucket < y.bucket;
    if ((*x.part == "*") != (*y.part == "*")) return *x.part == "*";
    return *x.part < *y.part;
  });
  Table t;
  t.columns = {"bucket_start", "media", "peak"};
  t.rows.reserve(out.size());
  for (const Out& o : out) {
    t.rows.push_back({o.bucket, o.part->empty() ? Cell(std::monostate{}) : Cell(*o.part), o.peak});
  }
  return t;
}

Result<Table> Media(Db& db, const Window& w) {
  struct Agg {
    int64_t attempts = 0, plays = 0, watch = 0, bytes = 0, stalled = 0;
    Distinct users;
    std::vector<int64_t> startup;
    std::vector<std::pair<int64_t, int>> ev;
  };
  std::map<OptStr, Agg, decltype(&LessNullsFirst)> by(&LessNullsFirst);
  SINK_RETURN_IF_ERROR(
      ForEach(db,
              std::string("SELECT media, user_id, bytes, started_at, closed_at, last_event_at, "
                          "stalled_ms, opened_at") +
                  kPlaysInWindow,
              w, [&](const Stmt& q) {
                Agg& a = by[q.OptText(0)];
                ++a.attempts;
                if (!q.IsNull(1)) a.users.Add(q.Text(1));
                a.bytes += q.Int(2);
                if (q.IsNull(3)) return;
                const int64_t start = q.Int(3);
                ++a.plays;
                a.watch += WatchMs(q, 3);
                a.stalled += q.Int(6);
                if (!q.IsNull(7)) a.startup.push_back(start - q.Int(7));
                const int64_t end = q.IsNull(4) ? w.now : q.Int(4);
                if (end > start) {
                  a.ev.emplace_back(start, 1);
                  a.ev.emplace_back(end, -1);
                }
              }));
  Rounder round(db);
  struct Row {
    OptStr media;
    double hours;
    int64_t attempts;
    std::vector<Cell> cells;
  };
  std::vector<Row> out;
  for (auto& [media, a] : by) {
    std::sort(a.startup.begin(), a.startup.end());
    const Cell hours = round(static_cast<double>(a.watch) / 3600000.0, 4);
    std::optional<double> ratio;
    if (a.plays > 0 && a.watch != 0) ratio = static_cast<double>(a.stalled) / a.watch;
    Row r{media, std::get<double>(hours), a.attempts, {}};
    r.cells = {Text(media),
               a.attempts,
               a.plays,
               a.users.Count(),
               hours,
               a.bytes,
               Int(Percentile(a.startup, 50)),
               Int(Percentile(a.startup, 95)),
               round(ratio, 4),
               Peak(a.ev)};
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const Row& x, const Row& y) {
    if (x.hours != y.hours) return x.hours > y.hours;
    if (x.attempts != y.attempts) return x.attempts > y.attempts;
    return LessNullsFirst(x.media, y.media);
  });
  Table t;
  t.columns = {"media", "attempts",       "plays",          "users",       "watch_hours",
               "bytes", "startup_p50_ms", "startup_p95_ms", "stall_ratio", "peak_concurrency"};
  for (Row& r : out) t.rows.push_back(std::move(r.cells));
  SINK_RETURN_IF_ERROR(round.status());
  return t;
}

Result<Table> Startup(Db& db, const Window& w) {
  static const char* kOutcomes[] = {"played", "denied", "failed",
                                    "exited", "probe",  "establishing"};
  int64_t count[6] = {0, 0, 0, 0, 0, 0};
  int64_t total = 0;
  std::vector<int64_t> startup, queued, connect;
  SINK_RETURN_IF_ERROR(ForEach(
      db,
      std::string("SELECT started_at, opened_at, denied, state = 'finished', close_reason IS NOT "
                  "NULL AND close_reason NOT IN ('normal', 'sink_timeout'), "
                  "coalesce(closed_at, last_event_at) - coalesce(opened_at, first_event_at), "
                  "queued_ms, started_at - authorized_at") +
          kPlaysInWindow,
      w, [&](const Stmt& q) {
        ++total;
        if (!q.IsNull(6)) queued.push_back(q.Int(6));
        if (!q.IsNull(7)) connect.push_back(q.Int(7));
        int o;
        if (!q.IsNull(0)) {
          o = 0;
          if (!q.IsNull(1)) startup.push_back(q.Int(0) - q.Int(1));
        } else if (q.Int(2) == 1) {
          o = 1;
        } else if (q.Int(3) == 0) {
          o = 5;
        } else if (q.Int(4) == 1) {
          o = 2;
        } else {
          o = !q.IsNull(5) && q.Int(5) >= 1000 ? 3 : 4;
        }
        ++count[o];
      }));
  for (std::vector<int64_t>* v : {&startup, &queued, &connect}) std::sort(v->begin(), v->end());
  Rounder round(db);
  Table t;
  t.columns = {"metric", "value", "pct"};
  for (int i = 0; i < 6; ++i) {
    std::optional<double> pct;
    if (total != 0) pct = 100.0 * static_cast<double>(count[i]) / static_cast<double>(total);
    t.rows.push_back({std::string(kOutcomes[i]), count[i], round(pct, 2)});
  }
  for (const auto& [name, v] : {std::pair<const char*, std::vector<int64_t>*>{"startup", &startup},
                                {"queued", &queued},
                                {"connect", &connect}}) {
    for (int p : {50, 95, 99}) {
      t.rows.push_back({std::string(name) + "_p" + std::to_string(p) + "_ms",
                        Int(Percentile(*v, p)), std::monostate{}});
    }
  }
  SINK_RETURN_IF_ERROR(round.status());
  return t;
}

Result<Table> Endings(Db& db, const Window& w) {
  struct Agg {
    std::string platform;
    OptStr end_class, raw_reason;
    int64_t sessions = 0, played = 0;
    std::vector<int64_t> duration, watch;
  };
  // Keyed by the three columns, each as a NULL mark or a length and its bytes.
  TextMap<Agg> by;
  std::string key;
  auto add_key = [&key](const Stmt& q, int c) {
    if (q.IsNull(c)) {
      key += '\0';
      return;
    }
    const std::string_view v = q.Text(c);
    key += '\1';
    key += std::to_string(v.size());
    key += ':';
    key += v;
  };
  SINK_RETURN_IF_ERROR(ForEach(
      db,
      "SELECT platform, end_class, raw_reason, started_at, "
      "max(0, coalesce(closed_at, last_event_at) - coalesce(opened_at, first_event_at)), "
      "max(0, coalesce(closed_at, last_event_at) - started_at) "
      "FROM sessions WHERE +kind = 'play' AND +state = 'finished' "
      "AND +coalesce(closed_at, last_event_at) >= ?1 AND +coalesce(closed_at, last_event_at) < ?2 "
      "AND (?3 IS NULL OR media = ?3) AND (?4 IS NULL OR user_id = ?4) "
      "AND (?5 IS NULL OR server = ?5) AND (?7 IS NULL OR platform = ?7)",
      w, [&](const Stmt& q) {
        key.clear();
        for (int c = 0; c < 3; ++c) add_key(q, c);
        auto it = by.find(std::string_view(key));
        if (it == by.end()) {
          it = by.emplace(key, Agg{Str(q, 0), q.OptText(1), q.OptText(2), 0, 0, {}, {}}).first;
        }
        Agg& a = it->second;
        ++a.sessions;
        if (!q.IsNull(4)) a.duration.push_back(q.Int(4));
        if (!q.IsNull(3)) {
          ++a.played;
          if (!q.IsNull(5)) a.watch.push_back(q.Int(5));
        }
      }));
  std::map<std::string, int64_t> platform_total;
  std::vector<Agg*> order;
  for (auto& [k, a] : by) {
    platform_total[a.platform] += a.sessions;
    order.push_back(&a);
  }
  std::sort(order.begin(), order.end(), [](const Agg* x, const Agg* y) {
    if (x->platform != y->platform) return x->platform < y->platform;
    if (x->sessions != y->sessions) return x->sessions > y->sessions;
    if (x->end_class != y->end_class) return LessNullsFirst(x->end_class, y->end_class);
    return LessNullsFirst(x->raw_reason, y->raw_reason);
  });
  Rounder round(db);
  Table t;
  t.columns = {"platform", "end_class",          "raw_reason", "sessions",
               "pct",      "median_duration_ms", "played",     "median_watch_ms"};
  for (Agg* a : order) {
    std::sort(a->duration.begin(), a->duration.end());
    std::sort(a->watch.begin(), a->watch.end());
    const double pct =
        100.0 * static_cast<double>(a->sessions) / static_cast<double>(platform_total[a->platform]);
    t.rows.push_back({a->platform, Text(a->end_class), Text(a->raw_reason), a->sessions,
                      round(pct, 2), Int(Percentile(a->duration, 50)), a->played,
                      Int(Percentile(a->watch, 50))});
  }
  SINK_RETURN_IF_ERROR(round.status());
  return t;
}

Result<Table> Stalls(Db& db, const Window& w) {
  struct Agg {
    int64_t plays = 0, stalls = 0, stalled = 0, watch = 0, with_stall = 0;
  };
  std::map<OptStr, Agg, decltype(&LessNullsFirst)> media(&LessNullsFirst), user(&LessNullsFirst);
  SINK_RETURN_IF_ERROR(
      ForEach(db,
              std::string("SELECT media, user_id, stall_count, stalled_ms, started_at, closed_at, "
                          "last_event_at") +
                  kPlaysInWindow + " AND started_at IS NOT NULL",
              w, [&](const Stmt& q) {
                const int64_t watch = WatchMs(q, 4);
                for (Agg* a : {&media[q.OptText(0)], q.IsNull(1) ? nullptr : &user[q.OptText(1)]}) {
                  if (a == nullptr) continue;
                  ++a->plays;
                  a->stalls += q.Int(2);
                  a->stalled += q.Int(3);
                  a->watch += watch;
                  a->with_stall += q.Int(2) > 0;
                }
              }));
  Rounder round(db);
  Table t;
  t.columns = {"scope",      "name",     "plays",       "stalls",
               "stalled_ms", "watch_ms", "stall_ratio", "plays_with_stall_pct"};
  for (const auto& [scope, groups] :
       {std::pair<const char*, decltype(media)*>{"media", &media}, {"user", &user}}) {
    struct Row {
      OptStr name;
      std::optional<double> ratio;
      std::vector<Cell> cells;
    };
    std::vector<Row> out;
    for (const auto& [name, a] : *groups) {
      Cell ratio =
          round(a.watch != 0 ? std::optional<double>(static_cast<double>(a.stalled) / a.watch)
                             : std::nullopt,
                4);
      Row r{name,
            std::holds_alternative<double>(ratio) ? std::optional(std::get<double>(ratio))
                                                  : std::nullopt,
            {}};
      r.cells = {
          std::string(scope),
          Text(name),
          a.plays,
          a.stalls,
          a.stalled,
          a.watch,
          ratio,
          round(100.0 * static_cast<double>(a.with_stall) / static_cast<double>(a.plays), 2)};
      out.push_back(std::move(r));
    }
    // ORDER BY stall_ratio DESC (NULLs last), name.
    std::stable_sort(out.begin(), out.end(), [](const Row& x, const Row& y) {
      if (x.ratio.has_value() != y.ratio.has_value()) return x.ratio.has_value();
      if (x.ratio && *x.ratio != *y.ratio) return *x.ratio > *y.ratio;
      return LessNullsFirst(x.name, y.name);
    });
    for (Row& r : out) t.rows.push_back(std::move(r.cells));
  }
  SINK_RETURN_IF_ERROR(round.status());
  return t;
}

Result<Table> Sharing(Db& db, const Window& w) {
  struct Play {
    std::string id;
    OptStr net;
    int64_t a, b;
  };
  TextMap<std::vector<Play>> by;
  SINK_RETURN_IF_ERROR(
      ForEach(db,
              std::string("SELECT user_id, id, coalesce(ip_net, ip), started_at, "
                          "coalesce(closed_at, ?6)") +
                  kPlaysInWindow + " AND +user_id IS NOT NULL AND started_at IS NOT NULL",
              w, [&](const Stmt& q) {
                At(by, q.Text(0)).push_back(Play{Str(q, 1), q.OptText(2), q.Int(3), q.Int(4)});
              }));
  Rounder round(db);
  struct Row {
    double overlap_s;
    int64_t max_concurrent;
    const std::string* user;
    std::vector<Cell> cells;
  };
  std::vector<Row> out;
  for (auto& [user, plays] : by) {
    int64_t pairs = 0, overlap_ms = 0;
    for (size_t i = 0; i < plays.size(); ++i) {
      for (size_t j = 0; j < plays.size(); ++j) {
        const Play &x = plays[i], &y = plays[j];
        if (!(x.id < y.id) || x.net == y.net) continue;
        if (x.a < y.b && y.a < x.b) {
          ++pairs;
          overlap_ms += std::min(x.b, y.b) - std::max(x.a, y.a);
        }
      }
    }
    std::vector<std::pair<int64_t, int>> ev;
    std::set<std::string> nets;
    for (const Play& p : plays) {
      if (p.net) nets.insert(*p.net);
      if (p.b > p.a) {
        ev.emplace_back(p.a, 1);
        ev.emplace_back(p.b, -1);
      }
    }
    const bool any_interval = !ev.empty();
    const int64_t conc = Peak(ev);
    const bool keep = w.limit ? (any_interval && conc > *w.limit) : pairs > 0;
    if (!keep) continue;
    const Cell overlap = round(static_cast<double>(overlap_ms) / 1000.0, 3);
    out.push_back(Row{std::get<double>(overlap),
                      conc,
                      &user,
                      {user, static_cast<int64_t>(plays.size()), static_cast<int64_t>(nets.size()),
                       pairs, overlap, conc}});
  }
  std::sort(out.begin(), out.end(), [](const Row& x, const Row& y) {
    if (x.overlap_s != y.overlap_s) return x.overlap_s > y.overlap_s;
    if (x.max_concurrent != y.max_concurrent) return x.max_concurrent > y.max_concurrent;
    return *x.user < *y.user;
  });
  Table t;
  t.columns = {"user_id", "plays", "networks", "overlapping_pairs", "overlap_s", "max_concurrent"};
  for (Row& r : out) t.rows.push_back(std::move(r.cells));
  SINK_RETURN_IF_ERROR(round.status());
  return t;
}

Result<Table> Sources(Db& db, const Window& w) {
  struct Src {
    std::string id, kind;
    OptStr media, server;
    OptInt opened_at, closed_at;
    int64_t up, down, stall_count, stalled_ms;
    int64_t viewers = 0;
    std::vector<std::pair<int64_t, OptInt>> stalls;
    std::set<std::string> hit;
  };
  std::unordered_map<std::string, Src> srcs;
  SINK_RETURN_IF_ERROR(ForEach(
      db,
      "SELECT id, kind, media, server, opened_at, closed_at, "
      "coalesce(started_at, opened_at, first_event_at), coalesce(closed_at, ?6), stall_count, "
      "stalled_ms FROM sessions WHERE +kind IN ('publish', 'ingest') "
      "AND coalesce(started_at, opened_at, first_event_at) < ?2 "
      "AND coalesce(closed_at, ?6) > ?1 AND (?3 IS NULL OR media = ?3) "
      "AND (?5 IS NULL OR server = ?5) AND (?7 IS NULL OR platform = ?7)",
      w, [&](const Stmt& q) {
        srcs.emplace(Str(q, 0), Src{Str(q, 0),
                                    Str(q, 1),
                                    q.OptText(2),
                                    q.OptText(3),
                                    q.OptInt(4),
                                    q.OptInt(5),
                                    q.Int(6),
                                    q.Int(7),
                                    q.Int(8),
                                    q.Int(9),
                                    0,
                                    {},
                                    {}});
      }));
  if (!srcs.empty()) {
    SINK_RETURN_IF_ERROR(ForEach(db, "SELECT session_id, start_at, end_at FROM stall_intervals", w,
                                 [&](const Stmt& q) {
                                   auto it = srcs.find(Str(q, 0));
                                   if (it != srcs.end()) {
                                     it->second.stalls.emplace_back(q.Int(1), q.OptInt(2));
                                   }
                                 }));
    SINK_RETURN_IF_ERROR(
        ForEach(db,
                "SELECT source_id, id, started_at, coalesce(closed_at, ?6) FROM sessions "
                "WHERE source_id IS NOT NULL AND kind = 'play'",
                w, [&](const Stmt& q) {
                  auto it = srcs.find(std::string(q.Text(0)));
                  if (it == srcs.end()) return;
                  Src& src = it->second;
                  ++src.viewers;
                  if (q.IsNull(2)) return;
                  const int64_t a = q.Int(2), b = q.Int(3);
                  bool hit = src.closed_at && a <= *src.closed_at && b >= *src.closed_at;
                  for (const auto& [start, end] : src.stalls) {
                    if (a < end.value_or(src.down) && b > start) hit = true;
                  }
                  if (hit) src.hit.insert(Str(q, 1));
                }));
  }
  std::vector<const Src*> order;
  for (const auto& [id, src] : srcs) order.push_back(&src);
  std::sort(order.begin(), order.end(), [](const Src* x, const Src* y) {
    if (x->hit.size() != y->hit.size()) return x->hit.size() > y->hit.size();
    if (x->viewers != y->viewers) return x->viewers > y->viewers;
    if (x->opened_at != y->opened_at)
      return !x->opened_at || (y->opened_at && *x->opened_at < *y->opened_at);
    return x->id < y->id;
  });
  Table t;
  t.columns = {"id",        "kind",        "media",      "server",  "opened_at",       "closed_at",
               "uptime_ms", "stall_count", "stalled_ms", "viewers", "viewers_affected"};
  for (const Src* x : order) {
    t.rows.push_back({x->id, x->kind, Text(x->media), Text(x->server), Int(x->opened_at),
                      Int(x->closed_at), std::max<int64_t>(0, x->down - x->up), x->stall_count,
                      x->stalled_ms, x->viewers, static_cast<int64_t>(x->hit.size())});
  }
  return t;
}

// query/sql/outages.sql: each stream's marks in time order, the outages
// between them, and the plays running when each began.
Result<Table> Outages(Db& db, const Window& w) {
  using Key = std::pair<OptStr, std::string>;  // server (NULL first, as SQLite sorts), media
  struct Instant {
    int64_t starts = 0, ends = 0;
    OptStr cause;  // the smallest cause of the sources ending here
  };
  struct Mark {
    int64_t t;
    int up;  // 1 up, 0 down
    OptStr cause;
    bool operator<(const Mark& o) const {
      return std::tie(t, up, cause) < std::tie(o.t, o.up, o.cause);  // nullopt first, as NULL
    }
  };
  struct Outage {
    int64_t down_at;
    OptInt up_at;
    std::string cause;
    int64_t downtime;
    int64_t plays = 0;
    Distinct users;
  };
  struct Stream {
    std::map<int64_t, Instant> instants;
    std::vector<Mark> marks;
    std::vector<Outage> outages;  // by down_at
    int64_t total = 0;
  };
  std::map<Key, Stream> streams;  // ordered as the report: server, then media
  SINK_RETURN_IF_ERROR(ForEach(
      db,
      "SELECT server, media, coalesce(started_at, opened_at, first_event_at), closed_at, "
      "coalesce(close_reason, raw_reason, 'closed'), kind = 'stream' FROM sessions "
      "WHERE +kind IN ('publish', 'ingest', 'stream') AND media IS NOT NULL "
      "AND coalesce(started_at, opened_at, first_event_at) IS NOT NULL "
      "AND (closed_at IS NULL OR closed_at > coalesce(started_at, opened_at, first_event_at)) "
      "AND (?3 IS NULL OR media = ?3) AND (?5 IS NULL OR server = ?5) "
      "AND (?7 IS NULL OR platform = ?7)",
      w, [&](const Stmt& q) {
        Stream& s = streams[Key{q.OptText(0), Str(q, 1)}];
        if (q.Int(5) != 0) {  // a stream session: marks of its own, not a source
          s.marks.push_back(Mark{q.Int(2), 1, std::nullopt});
          if (!q.IsNull(3)) s.marks.push_back(Mark{q.Int(3), 0, Str(q, 4)});
          return;
        }
        ++s.instants[q.Int(2)].starts;
        if (q.IsNull(3)) return;
        Instant& end = s.instants[q.Int(3)];
        ++end.ends;
        std::string cause = Str(q, 4);
        if (!end.cause || cause < *end.cause) end.cause = std::move(cause);
      }));
  SINK_RETURN_IF_ERROR(
      ForEach(db,
              "SELECT e.server, CAST(CASE WHEN typeof(e.body ->> '$.media') IN ('text', 'integer') "
              "THEN e.body ->> '$.media' END AS TEXT), coalesce(e.utc_ms, e.received_at), "
              "e.event IN ('source_ready', 'stream_started'), "
              "CASE WHEN e.event IN ('source_lost', 'stream_stopped') "
              "THEN coalesce(CASE WHEN typeof(e.body ->> '$.reason') = 'text' "
              "THEN e.body ->> '$.reason' END, e.event) END FROM events e "
              "INDEXED BY events_stream_state WHERE e.event IN ('source_lost', 'source_ready', "
              "'stream_started', 'stream_stopped') "
              "AND (?7 IS NULL OR ?7 = 'flussonic') AND (?5 IS NULL OR e.server = ?5)",
              w, [&](const Stmt& q) {
                if (q.IsNull(1)) return;
                const std::string_view media = q.Text(1);
                if (w.media && media != *w.media) return;
                const int up = q.Int(3) != 0 ? 1 : 0;
                streams[Key{q.OptText(0), std::string(media)}].marks.push_back(
                    Mark{q.Int(2), up, up ? OptStr() : OptStr(Str(q, 4))});
              }));

  int64_t min_down = kMax, max_down = kMin;
  // Streams with outages, by StreamKey(server, media).
  TextMap<Stream*> with_outages;
  auto stream_key = [](std::string* out, const std::string_view* server, std::string_view media) {
    out->assign(server ? "S" : "N");  // NULL apart from every text
    if (server) out->append(*server).push_back('\0');
    out->append(media);
  };
  std::string key_buf;
  for (auto& [key, s] : streams) {
    int64_t before = 0;  // sources running before the instant
    for (const auto& [t, at] : s.instants) {
      if (at.ends > 0 && before == at.ends) s.marks.push_back(Mark{t, 0, at.cause});
      if (at.starts > 0) s.marks.push_back(Mark{t, 1, std::nullopt});
      before += at.starts - at.ends;
    }
    std::sort(s.marks.begin(), s.marks.end());
    // The first up mark at or after each mark.
    std::vector<OptInt> next_up(s.marks.size() + 1);
    for (size_t i = s.marks.size(); i-- > 0;) {
      next_up[i] = s.marks[i].up ? OptInt(s.marks[i].t) : next_up[i + 1];
    }
    for (size_t i = 0; i < s.marks.size(); ++i) {
      const Mark& m = s.marks[i];
      if (m.up || (i > 0 && !s.marks[i - 1].up)) continue;  // not a down after an up
      const OptInt up = next_up[i];
      if (up && *up <= m.t) continue;  // down and up at one instant: no outage
      if (m.t >= w.t1 || (up && *up <= w.t0)) continue;
      const int64_t downtime =
          std::max<int64_t>(0, std::min(up.value_or(w.now), w.t1) - std::max(m.t, w.t0));
      s.outages.push_back(Outage{m.t, up, *m.cause, downtime, 0, {}});
      s.total += downtime;
      min_down = std::min(min_down, m.t);
      max_down = std::max(max_down, m.t);
    }
    if (!s.outages.empty()) {
      std::string_view server;  // into key.first, which outlives it
      if (key.first) server = *key.first;
      stream_key(&key_buf, key.first ? &server : nullptr, key.second);
      with_outages.emplace(key_buf, &s);
    }
  }

  if (!with_outages.empty()) {
    // Plays running when an outage began: started_at <= down_at <= end.
    Window bounds = w;
    bounds.t0 = min_down;
    bounds.t1 = max_down;
    SINK_RETURN_IF_ERROR(ForEach(
        db,
        "SELECT media, started_at, coalesce(closed_at, ?6), user_id, server FROM sessions "
        "WHERE kind = 'play' AND started_at IS NOT NULL AND media IS NOT NULL "
        "AND started_at <= ?2 AND coalesce(closed_at, ?6) >= ?1",
        bounds, [&](const Stmt& q) {
          // w.server IS x.server: NULL matches NULL.
          const std::string_view server = q.Text(4);
          stream_key(&key_buf, q.IsNull(4) ? nullptr : &server, q.Text(0));
          auto it = with_outages.find(std::string_view(key_buf));
          if (it == with_outages.end()) return;
          Stream* s = it->second;
          const int64_t a = q.Int(1), b = q.Int(2);
          auto o = std::lower_bound(s->outages.begin(), s->outages.end(), a,
                                    [](const Outage& x, int64_t t) { return x.down_at < t; });
          for (; o != s->outages.end() && o->down_at <= b; ++o) {
            ++o->plays;
            if (!q.IsNull(3)) o->users.Add(q.Text(3));
          }
        }));
  }

  struct Row {
    const Key* key;
    Stream* s;
  };
  std::vector<Row> order;
  for (auto& [key, s] : streams) {
    if (!s.outages.empty()) order.push_back(Row{&key, &s});
  }
  std::stable_sort(order.begin(), order.end(), [](const Row& x, const Row& y) {
    return x.s->total > y.s->total;  // ties keep the map's order: server, media
  });
  Table t;
  t.columns = {"server",      "media",         "down_at",       "up_at",   "cause",
               "downtime_ms", "plays_running", "users_running", "outages", "total_downtime_ms"};
  for (const Row& r : order) {
    for (Outage& o : r.s->outages) {
      t.rows.push_back({Text(r.key->first), r.key->second, o.down_at, Int(o.up_at), o.cause,
                        o.downtime, o.plays, o.users.Count(),
                        static_cast<int64_t>(r.s->outages.size()), r.s->total});
    }
  }
  return t;
}

using NativeFn = Result<Table> (*)(Db&, const Window&);

const std::map<std::string_view, NativeFn>& Natives() {
  static const std::map<std::string_view, NativeFn> kAll = {
      {"sessions-per-user", &SessionsPerUser},
      {"concurrency", &Concurrency},
      {"media", &Media},
      {"startup", &Startup},
      {"endings", &Endings},
      {"stalls", &Stalls},
      {"sharing", &Sharing},
      {"sources", &Sources},
      {"outages", &Outages},
  };
  return kAll;
}

}  // namespace

bool HasNativeReport(std::string_view name) { return Natives().count(name) > 0; }

Result<Table> RunNativeReport(Db& db, std::string_view name, const ReportParams& params) {
  auto it = Natives().find(name);
  if (it == Natives().end()) return Status::Invalid("no native report " + std::string(name));
  Result<Window> w = Resolve(db, params);
  if (!w.ok()) return w.status();
  // One read transaction: every scan sees the same database.
  SINK_RETURN_IF_ERROR(db.Exec("BEGIN"));
  Result<Table> t = it->second(db, w.value());
  // Ends the read transaction (a read-only one commits nothing, so ending it
  // cannot lose data); a failure there means the connection is unusable.
  Status end = db.Exec("COMMIT");
  if (t.ok() && !end.ok()) return end;
  return t;
}

}  // namespace sink
