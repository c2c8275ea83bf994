// The concurrency report, computed natively (query/native.h).
#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "query/native_common.h"

namespace sink::native {

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
    auto buckets = [&w](Wide lo, Wide hi) { return BucketCount(lo, hi, w.w); };
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

}  // namespace sink::native
