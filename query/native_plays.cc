// The play reports, computed natively (query/native.h): sessions-per-user,
// media, startup, endings, stalls, sharing.
#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "query/native_common.h"

namespace sink::native {

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

}  // namespace sink::native
