-- concurrency: peak concurrent plays per time bucket, in total and per media.
--
-- A play occupies [started_at, end): end is closed_at, or :now for sessions
-- still open (default: the current time). The interval is half-open, so a
-- session ending at the instant another starts does not overlap it (ends
-- sort before starts). Plays that never started do not count.
--
-- One row per bucket of :bucket_ms (default 60000 = 1 min); buckets are
-- aligned to multiples of :bucket_ms since the epoch. The total ('*') covers
-- every bucket from the one holding :from up to :to — zero where nothing
-- plays; without :from/:to, from the first start to the last end. The plays
-- counted are those overlapping [:from, :to); give whole buckets for exact
-- edges.
--   bucket_start  ms
--   media         '*' for all media together, else the media name
--   peak          the most plays running at one instant inside the bucket
-- Rows per media cover the buckets from that media's first to its last
-- change inside the window. Filters: :media, :user, :server, :platform.
WITH RECURSIVE
p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         :from AS from_given, :to AS to_given,
         coalesce(:now, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) AS now,
         coalesce(:bucket_ms, 60000) AS w,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
),
-- The plays, as intervals [a, b) that overlap the window.
iv AS MATERIALIZED (
  SELECT s.media AS media, s.started_at AS a, coalesce(s.closed_at, p.now) AS b
  FROM sessions s, p
  WHERE +s.kind = 'play' AND s.started_at IS NOT NULL
    AND coalesce(s.closed_at, p.now) > s.started_at
    AND s.started_at < p.t1 AND coalesce(s.closed_at, p.now) > p.t0
    AND (p.media IS NULL OR s.media = p.media)
    AND (p.usr IS NULL OR s.user_id = p.usr)
    AND (p.srv IS NULL OR s.server = p.srv)
    AND (p.plat IS NULL OR s.platform = p.plat)
),
-- Every start (+1) and end (−1), once for the total ('*') and once for its media.
ev(part, t, d) AS MATERIALIZED (
  SELECT '*', a, 1 FROM iv UNION ALL SELECT '*', b, -1 FROM iv
  UNION ALL SELECT coalesce(media, ''), a, 1 FROM iv UNION ALL SELECT coalesce(media, ''), b, -1 FROM iv
),
-- The buckets each part spans: the whole window for the total, from the
-- first to the last change (clipped to the window) for each media.
span AS (
  SELECT '*' AS part,
         (coalesce(p.from_given, (SELECT min(t) FROM ev WHERE part = '*')) / p.w) * p.w AS first_b,
         coalesce(p.to_given, (SELECT max(t) FROM ev WHERE part = '*')) AS last_t,
         p.w AS w
  FROM p
  UNION ALL
  SELECT ev.part, (max(min(ev.t), p.t0) / p.w) * p.w, min(max(ev.t), p.t1), p.w
  FROM ev, p WHERE ev.part <> '*' GROUP BY ev.part
),
bk(part, b, last_t, w) AS (
  SELECT part, first_b, last_t, w FROM span WHERE first_b IS NOT NULL AND last_t IS NOT NULL
  UNION ALL SELECT part, b + w, last_t, w FROM bk WHERE b + w < last_t
),
-- The level after all changes at an instant (RANGE: every change at t
-- counts), at every change and at every bucket start (a probe, d = 0). The
-- level is constant between changes, so a bucket's peak is the highest level
-- at its start or at a change inside it.
lvl AS (
  SELECT part, t, probe,
         sum(d) OVER (PARTITION BY part ORDER BY t RANGE UNBOUNDED PRECEDING) AS n
  FROM (SELECT part, t, d, 0 AS probe FROM ev UNION ALL SELECT part, b, 0, 1 FROM bk)
)
SELECT (lvl.t / p.w) * p.w AS bucket_start,
       CASE WHEN lvl.part = '' THEN NULL ELSE lvl.part END AS media,
       max(lvl.n) AS peak
FROM lvl, p
GROUP BY lvl.part, (lvl.t / p.w) * p.w
HAVING max(lvl.probe) = 1 AND (lvl.t / p.w) * p.w < max(p.t1)
ORDER BY bucket_start, lvl.part <> '*', lvl.part;
