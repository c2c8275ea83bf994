-- concurrency: peak concurrent plays per time bucket, in total and per media.
--
-- A play occupies [started_at, end): end is closed_at, or :now for sessions
-- still open (default: the current time). The interval is half-open, so a
-- session ending at the instant another starts does not overlap it (ends
-- sort before starts). Plays that never started do not count.
--
-- One row per bucket of :bucket_ms (default 60000 = 1 min); buckets are
-- aligned to multiples of :bucket_ms since the epoch, from the bucket holding
-- :from (default: the first start) up to :to (default: the last end). The
-- plays counted are those overlapping [:from, :to); give whole buckets for
-- exact edges.
--   bucket_start  ms
--   media         '*' for all media together, else the media name
--   peak          the most plays running at one instant inside the bucket
-- Rows per media cover the buckets from that media's first to its last
-- change. Filters: :media, :user, :server.
WITH RECURSIVE
p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         coalesce(:now, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) AS now,
         coalesce(:bucket_ms, 60000) AS w,
         :media AS media, :user AS usr, :server AS srv
),
-- The plays, as intervals [a, b) that overlap the window.
iv AS (
  SELECT s.media AS media, s.started_at AS a, coalesce(s.closed_at, p.now) AS b
  FROM sessions s, p
  WHERE s.kind = 'play' AND s.started_at IS NOT NULL
    AND coalesce(s.closed_at, p.now) > s.started_at
    AND s.started_at < p.t1 AND coalesce(s.closed_at, p.now) > p.t0
    AND (p.media IS NULL OR s.media = p.media)
    AND (p.usr IS NULL OR s.user_id = p.usr)
    AND (p.srv IS NULL OR s.server = p.srv)
),
-- Every start (+1) and end (−1), once for the total ('*') and once for its media.
ev(part, t, d) AS (
  SELECT '*', a, 1 FROM iv UNION ALL SELECT '*', b, -1 FROM iv
  UNION ALL SELECT coalesce(media, ''), a, 1 FROM iv UNION ALL SELECT coalesce(media, ''), b, -1 FROM iv
),
-- The level after all changes at an instant (RANGE: every change at t counts).
lvl AS (
  SELECT DISTINCT part, t, sum(d) OVER (PARTITION BY part ORDER BY t RANGE UNBOUNDED PRECEDING) AS n
  FROM ev
),
-- The buckets each part spans, clipped to the window.
span AS (
  SELECT lvl.part,
         (max(min(lvl.t), p.t0) / p.w) * p.w AS first_b,
         min(max(lvl.t), p.t1) AS last_t,
         p.w AS w
  FROM lvl, p GROUP BY lvl.part
),
bk(part, b, last_t, w) AS (
  SELECT part, first_b, last_t, w FROM span
  UNION ALL SELECT part, b + w, last_t, w FROM bk WHERE b + w < last_t
),
-- For each bucket: the highest level reached at an instant inside it, and
-- the level carried in from before it.
inside AS (
  SELECT lvl.part, (lvl.t / p.w) * p.w AS b, max(lvl.n) AS peak, min(lvl.t) AS first_t
  FROM lvl, p GROUP BY 1, 2
),
carried AS (
  SELECT bk.part, bk.b,
         (SELECT l.n FROM lvl l WHERE l.part = bk.part AND l.t < bk.b ORDER BY l.t DESC LIMIT 1) AS n
  FROM bk
)
SELECT bk.b AS bucket_start,
       CASE WHEN bk.part = '' THEN NULL ELSE bk.part END AS media,
       max(coalesce(inside.peak, 0),
           CASE WHEN inside.first_t = bk.b THEN 0 ELSE coalesce(carried.n, 0) END) AS peak
FROM bk
JOIN p
LEFT JOIN inside ON inside.part = bk.part AND inside.b = bk.b
LEFT JOIN carried ON carried.part = bk.part AND carried.b = bk.b
WHERE bk.b < p.t1
ORDER BY bk.b, bk.part = '*' DESC, bk.part;
