// The machinery the native reports share (query/native.h): the resolved
// parameters (Window), the scan (ForEach, with the parameters bound by
// position as the SQL files number them), SQLite's rounding, and the small
// aggregates (distinct counts, percentiles, peaks) the SQL computes with
// window functions. The reports themselves are by family:
// native_plays.cc (the play reports of query/sql/), native_concurrency.cc,
// native_streams.cc (sources and outages).
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "query/report.h"
#include "store/sqlite.h"

namespace sink::native {

inline constexpr int64_t kMin = -9223372036854775807;
inline constexpr int64_t kMax = 9223372036854775807;

using OptInt = std::optional<int64_t>;
using OptStr = std::optional<std::string>;

// The parameters with the defaults the SQL files give them.
struct Window {
  int64_t t0, t1, now, w;
  OptInt from, to, limit;
  OptStr media, user, server, platform;
};

inline Result<Window> Resolve(Db& db, const ReportParams& p) {
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
inline Status ForEach(Db& db, const std::string& sql, const Window& w,
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
inline constexpr const char* kPlaysInWindow =
    " FROM sessions WHERE +kind = 'play'"
    " AND +coalesce(opened_at, first_event_at) >= ?1 AND +coalesce(opened_at, first_event_at) < ?2"
    " AND (?3 IS NULL OR media = ?3) AND (?4 IS NULL OR user_id = ?4)"
    " AND (?5 IS NULL OR server = ?5) AND (?7 IS NULL OR platform = ?7)";

// max(0, COALESCE(closed_at, last_event_at, started_at) − started_at), from
// columns (started, closed, last) at `c`.
inline int64_t WatchMs(const Stmt& q, int c) {
  const int64_t start = q.Int(c);
  const int64_t end = !q.IsNull(c + 1) ? q.Int(c + 1) : !q.IsNull(c + 2) ? q.Int(c + 2) : start;
  return std::max<int64_t>(0, end - start);
}

inline std::string Str(const Stmt& q, int c) { return std::string(q.Text(c)); }

inline Cell Int(OptInt v) { return v ? Cell(*v) : Cell(std::monostate{}); }
inline Cell Text(const OptStr& v) { return v ? Cell(*v) : Cell(std::monostate{}); }

inline void Min(OptInt& acc, const Stmt& q, int c) {
  if (!q.IsNull(c) && (!acc || q.Int(c) < *acc)) acc = q.Int(c);
}
inline void Max(OptInt& acc, const Stmt& q, int c) {
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
inline bool LessNullsFirst(const OptStr& a, const OptStr& b) {
  if (!a || !b) return !a && b;
  return *a < *b;
}

// Nearest rank: the ⌈p·n/100⌉-th smallest, as (p·n + 99) / 100.
inline OptInt Percentile(std::vector<int64_t>& sorted, int p) {
  if (sorted.empty()) return std::nullopt;
  const size_t n = sorted.size();
  const size_t rank = (static_cast<size_t>(p) * n + 99) / 100;
  return sorted[rank - 1];
}

// The highest number of intervals [a, b) (a < b) open at one instant;
// ends before starts at the same instant.
inline int64_t Peak(std::vector<std::pair<int64_t, int>>& ev) {
  std::sort(ev.begin(), ev.end());  // (t, -1) sorts before (t, +1)
  int64_t level = 0, peak = 0;
  for (const auto& [t, d] : ev) {
    level += d;
    peak = std::max(peak, level);
  }
  return peak;
}

// The reports (each as its query/sql/<name>.sql defines it).
Result<Table> SessionsPerUser(Db& db, const Window& w);  // native_plays.cc
Result<Table> Media(Db& db, const Window& w);
Result<Table> Startup(Db& db, const Window& w);
Result<Table> Endings(Db& db, const Window& w);
Result<Table> Stalls(Db& db, const Window& w);
Result<Table> Sharing(Db& db, const Window& w);
Result<Table> Concurrency(Db& db, const Window& w);  // native_concurrency.cc
Result<Table> Sources(Db& db, const Window& w);      // native_streams.cc
Result<Table> Outages(Db& db, const Window& w);

}  // namespace sink::native
