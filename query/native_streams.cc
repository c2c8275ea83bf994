// The stream reports, computed natively (query/native.h): sources, outages.
#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "query/native_common.h"

namespace sink::native {

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

namespace {

// query/sql/outages.sql's terms.
using StreamId = std::pair<OptStr, std::string>;  // server (NULL first, as SQLite sorts), media
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
using Streams = std::map<StreamId, Stream>;  // ordered as the report: server, then media

// The up and down marks of each stream: its sources' sessions (as instants
// where sources start and end), its stream sessions, and its source/stream events.
Status ReadMarks(Db& db, const Window& w, Streams* out) {
  Streams& streams = *out;
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
        Stream& s = streams[StreamId{q.OptText(0), Str(q, 1)}];
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
              "THEN e.body ->> '$.reason' END, e.event) END FROM stream_events e "
              "WHERE e.event IN ('source_lost', 'source_ready', "
              "'stream_started', 'stream_stopped') "
              "AND (?7 IS NULL OR ?7 = 'flussonic') AND (?5 IS NULL OR e.server = ?5)",
              w, [&](const Stmt& q) {
                if (q.IsNull(1)) return;
                const std::string_view media = q.Text(1);
                if (w.media && media != *w.media) return;
                const int up = q.Int(3) != 0 ? 1 : 0;
                streams[StreamId{q.OptText(0), std::string(media)}].marks.push_back(
                    Mark{q.Int(2), up, up ? OptStr() : OptStr(Str(q, 4))});
              }));

  return Status::Ok();
}

// The outages of `s` in the window: a down mark after an up one, until the
// next up mark (or now). Widens [*min_down, *max_down] to their starts.
void FindOutages(const Window& w, Stream& s, int64_t* min_down, int64_t* max_down) {
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
    *min_down = std::min(*min_down, m.t);
    *max_down = std::max(*max_down, m.t);
  }
}

// A stream's key for looking up a play's (server, media): NULL apart from every text.
void StreamKey(std::string* out, const std::string_view* server, std::string_view media) {
  out->assign(server ? "S" : "N");
  if (server) out->append(*server).push_back('\0');
  out->append(media);
}

// Counts the plays running when each outage began: started_at <= down_at <= end.
Status CountPlaysRunning(Db& db, const Window& w, int64_t min_down, int64_t max_down,
                         const TextMap<Stream*>& with_outages) {
  std::string key_buf;
  Window bounds = w;
  bounds.t0 = min_down;
  bounds.t1 = max_down;
  SINK_RETURN_IF_ERROR(
      ForEach(db,
              "SELECT media, started_at, coalesce(closed_at, ?6), user_id, server FROM sessions "
              "WHERE kind = 'play' AND started_at IS NOT NULL AND media IS NOT NULL "
              "AND started_at <= ?2 AND coalesce(closed_at, ?6) >= ?1",
              bounds, [&](const Stmt& q) {
                // w.server IS x.server: NULL matches NULL.
                const std::string_view server = q.Text(4);
                StreamKey(&key_buf, q.IsNull(4) ? nullptr : &server, q.Text(0));
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
  return Status::Ok();
}

}  // namespace

// query/sql/outages.sql: each stream's marks in time order, the outages
// between them, and the plays running when each began.
Result<Table> Outages(Db& db, const Window& w) {
  Streams streams;
  SINK_RETURN_IF_ERROR(ReadMarks(db, w, &streams));
  int64_t min_down = kMax, max_down = kMin;
  TextMap<Stream*> with_outages;  // by StreamKey(server, media)
  std::string key_buf;
  for (auto& [key, s] : streams) {
    FindOutages(w, s, &min_down, &max_down);
    if (!s.outages.empty()) {
      std::string_view server;  // into key.first, which outlives it
      if (key.first) server = *key.first;
      StreamKey(&key_buf, key.first ? &server : nullptr, key.second);
      with_outages.emplace(key_buf, &s);
    }
  }
  if (!with_outages.empty()) {
    SINK_RETURN_IF_ERROR(CountPlaysRunning(db, w, min_down, max_down, with_outages));
  }

  struct Row {
    const StreamId* key;
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

}  // namespace sink::native
