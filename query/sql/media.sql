-- media: per media, the plays and how they went (server-observed).
--
--   media               the media name
--   attempts            play sessions
--   plays               of those, the ones that started
--   users               distinct user_id
--   watch_hours         Σ over started sessions of (COALESCE(closed_at, last_event_at) − started_at), hours
--   bytes               Σ bytes
--   startup_p50_ms      median of started_at − opened_at over started sessions (nearest rank)
--   startup_p95_ms      95th percentile, nearest rank: the ⌈0.95·n⌉-th smallest
--   stall_ratio         Σ stalled_ms / Σ watched ms (NULL without watch time)
--   peak_concurrency    the most of these plays running at one instant ([started_at, end),
--                       end = closed_at or :now for open ones; ends before starts)
-- Window: sessions whose COALESCE(opened_at, first_event_at) is in [:from, :to).
-- Filters: :media, :user, :server, :platform.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         coalesce(:now, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) AS now,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
),
s AS (
  SELECT x.*,
         CASE WHEN x.started_at IS NOT NULL THEN
           max(0, coalesce(x.closed_at, x.last_event_at, x.started_at) - x.started_at) END AS watch_ms
  FROM sessions x, p
  WHERE +x.kind = 'play'
    AND +coalesce(x.opened_at, x.first_event_at) >= p.t0
    AND coalesce(x.opened_at, x.first_event_at) < p.t1
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.usr IS NULL OR x.user_id = p.usr)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
startup AS (
  SELECT media, started_at - opened_at AS ms,
         row_number() OVER (PARTITION BY media ORDER BY started_at - opened_at) AS rn,
         count(*) OVER (PARTITION BY media) AS n
  FROM s WHERE started_at IS NOT NULL AND opened_at IS NOT NULL
),
pct AS (
  SELECT media,
         max(CASE WHEN rn = (50 * n + 99) / 100 THEN ms END) AS p50,
         max(CASE WHEN rn = (95 * n + 99) / 100 THEN ms END) AS p95
  FROM startup GROUP BY media
),
ev(media, t, d) AS (
  SELECT s.media, s.started_at, 1 FROM s, p
   WHERE s.started_at IS NOT NULL AND coalesce(s.closed_at, p.now) > s.started_at
  UNION ALL
  SELECT s.media, coalesce(s.closed_at, p.now), -1 FROM s, p
   WHERE s.started_at IS NOT NULL AND coalesce(s.closed_at, p.now) > s.started_at
),
peak AS (
  SELECT media, max(n) AS peak FROM (
    SELECT media, sum(d) OVER (PARTITION BY media ORDER BY t RANGE UNBOUNDED PRECEDING) AS n FROM ev)
  GROUP BY media
)
SELECT s.media,
       count(*) AS attempts,
       count(s.started_at) AS plays,
       count(DISTINCT s.user_id) AS users,
       round(coalesce(sum(s.watch_ms), 0) / 3600000.0, 4) AS watch_hours,
       coalesce(sum(s.bytes), 0) AS bytes,
       pct.p50 AS startup_p50_ms,
       pct.p95 AS startup_p95_ms,
       round(CAST(sum(CASE WHEN s.started_at IS NOT NULL THEN s.stalled_ms END) AS REAL)
             / nullif(sum(s.watch_ms), 0), 4) AS stall_ratio,
       coalesce(peak.peak, 0) AS peak_concurrency
FROM s
LEFT JOIN pct ON pct.media IS s.media
LEFT JOIN peak ON peak.media IS s.media
GROUP BY s.media
ORDER BY watch_hours DESC, attempts DESC, s.media;
