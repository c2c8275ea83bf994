-- durations: how long finished plays played, in WMSPanel's 13 buckets.
--
-- A finished play that started played for closed_at − started_at (0 when the
-- close precedes the start). Buckets are closed on the right: up to 5 s, then
-- 5 s steps to 30 s, then up to 5 min, 15 min, 30 min, 1 h, 2 h, 3 h, and
-- over 3 h; a play of exactly 10 s is in "5-10s".
--   bucket      1…13
--   label       0-5s, 5-10s, 10-15s, 15-20s, 20-25s, 25-30s, 30s-5m, 5-15m,
--               15-30m, 30m-1h, 1-2h, 2-3h, >3h
--   above_ms    the bucket holds durations > above_ms …
--   up_to_ms    … and ≤ up_to_ms (NULL for the last)
--   plays       finished plays in the bucket (every bucket is listed, 0 included)
--   pct         % of the finished plays counted (NULL when there are none)
-- Window: COALESCE(opened_at, first_event_at) in [:from, :to). Filters: :media, :user, :server, :platform.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
),
b(bucket, label, above_ms, up_to_ms) AS (VALUES
  (1, '0-5s', 0, 5000), (2, '5-10s', 5000, 10000), (3, '10-15s', 10000, 15000),
  (4, '15-20s', 15000, 20000), (5, '20-25s', 20000, 25000), (6, '25-30s', 25000, 30000),
  (7, '30s-5m', 30000, 300000), (8, '5-15m', 300000, 900000), (9, '15-30m', 900000, 1800000),
  (10, '30m-1h', 1800000, 3600000), (11, '1-2h', 3600000, 7200000),
  (12, '2-3h', 7200000, 10800000), (13, '>3h', 10800000, NULL)
),
d AS (
  SELECT max(0, x.closed_at - x.started_at) AS ms
  FROM sessions x, p
  WHERE +x.kind = 'play' AND +x.state = 'finished'
    AND x.started_at IS NOT NULL AND x.closed_at IS NOT NULL
    AND +coalesce(x.opened_at, x.first_event_at) >= p.t0
    AND coalesce(x.opened_at, x.first_event_at) < p.t1
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.usr IS NULL OR x.user_id = p.usr)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
c AS (
  SELECT CASE WHEN ms <= 30000 THEN max(1, (ms + 4999) / 5000)
              WHEN ms <= 300000 THEN 7 WHEN ms <= 900000 THEN 8
              WHEN ms <= 1800000 THEN 9 WHEN ms <= 3600000 THEN 10
              WHEN ms <= 7200000 THEN 11 WHEN ms <= 10800000 THEN 12 ELSE 13 END AS bucket,
         count(*) AS n
  FROM d GROUP BY 1
),
t AS (SELECT sum(n) AS total FROM c)
SELECT b.bucket, b.label, b.above_ms, b.up_to_ms,
       coalesce(c.n, 0) AS plays,
       round(100.0 * coalesce(c.n, 0) / t.total, 1) AS pct
FROM b LEFT JOIN c ON c.bucket = b.bucket, t
ORDER BY b.bucket;
