-- startup: what became of play attempts, and how long starting took.
--
-- Every play session in the window is one attempt, with exactly one outcome:
--   played        it started (started_at known)
--   denied        refused (a denied event), without starting
--   failed        finished without starting, closed with a reason other than
--                 'normal' and other than the sink's own 'sink_timeout'
--   exited        finished without starting otherwise, after ≥ 1 s
--                 (closed_at − opened_at ≥ 1000 ms): the viewer gave up
--   probe         finished without starting in < 1 s (players probing, prefetch)
--   establishing  not started and not finished yet
-- Rows: metric, value (count), pct (share of all attempts, %). Then
-- startup_p50_ms, startup_p95_ms, startup_p99_ms: started_at − opened_at over
-- the played sessions, nearest rank (the ⌈p·n⌉-th smallest); pct is NULL.
-- Then, the same way (nearest rank, pct NULL, value NULL when there is none):
--   queued_p50_ms, _p95_ms, _p99_ms    queued_ms, the time spent waiting for
--                 capacity (a Streampixel queue, a GameLift placement), over
--                 the attempts that waited (queued_ms not NULL), whatever
--                 their outcome
--   connect_p50_ms, _p95_ms, _p99_ms   started_at − authorized_at over the
--                 attempts with both set: from ready (authorized; GameLift
--                 ACTIVE) to playing (GameLift CONNECTED)
-- Window: COALESCE(opened_at, first_event_at) in [:from, :to). Filters: :media, :user, :server, :platform.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
),
s AS (
  SELECT x.* FROM sessions x, p
  WHERE +x.kind = 'play'
    AND +coalesce(x.opened_at, x.first_event_at) >= p.t0
    AND coalesce(x.opened_at, x.first_event_at) < p.t1
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.usr IS NULL OR x.user_id = p.usr)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
outcome AS (
  SELECT CASE
           WHEN started_at IS NOT NULL THEN 'played'
           WHEN denied = 1 THEN 'denied'
           WHEN state <> 'finished' THEN 'establishing'
           WHEN close_reason IS NOT NULL AND close_reason NOT IN ('normal', 'sink_timeout') THEN 'failed'
           WHEN coalesce(closed_at, last_event_at) - coalesce(opened_at, first_event_at) >= 1000 THEN 'exited'
           ELSE 'probe'
         END AS o
  FROM s
),
names(o, k) AS (
  VALUES ('played', 1), ('denied', 2), ('failed', 3), ('exited', 4), ('probe', 5), ('establishing', 6)
),
total AS (SELECT count(*) AS n FROM outcome),
startup AS (
  SELECT started_at - opened_at AS ms,
         row_number() OVER (ORDER BY started_at - opened_at) AS rn,
         count(*) OVER () AS n
  FROM s WHERE started_at IS NOT NULL AND opened_at IS NOT NULL
),
queued AS (
  SELECT queued_ms AS ms,
         row_number() OVER (ORDER BY queued_ms) AS rn,
         count(*) OVER () AS n
  FROM s WHERE queued_ms IS NOT NULL
),
connect AS (
  SELECT started_at - authorized_at AS ms,
         row_number() OVER (ORDER BY started_at - authorized_at) AS rn,
         count(*) OVER () AS n
  FROM s WHERE started_at IS NOT NULL AND authorized_at IS NOT NULL
)
SELECT metric, value, pct FROM (
  SELECT names.k AS k, names.o AS metric, count(outcome.o) AS value,
         round(100.0 * count(outcome.o) / nullif(total.n, 0), 2) AS pct
  FROM names CROSS JOIN total LEFT JOIN outcome ON outcome.o = names.o
  GROUP BY names.o
  UNION ALL SELECT 7, 'startup_p50_ms', (SELECT ms FROM startup WHERE rn = (50 * n + 99) / 100), NULL
  UNION ALL SELECT 8, 'startup_p95_ms', (SELECT ms FROM startup WHERE rn = (95 * n + 99) / 100), NULL
  UNION ALL SELECT 9, 'startup_p99_ms', (SELECT ms FROM startup WHERE rn = (99 * n + 99) / 100), NULL
  UNION ALL SELECT 10, 'queued_p50_ms', (SELECT ms FROM queued WHERE rn = (50 * n + 99) / 100), NULL
  UNION ALL SELECT 11, 'queued_p95_ms', (SELECT ms FROM queued WHERE rn = (95 * n + 99) / 100), NULL
  UNION ALL SELECT 12, 'queued_p99_ms', (SELECT ms FROM queued WHERE rn = (99 * n + 99) / 100), NULL
  UNION ALL SELECT 13, 'connect_p50_ms', (SELECT ms FROM connect WHERE rn = (50 * n + 99) / 100), NULL
  UNION ALL SELECT 14, 'connect_p95_ms', (SELECT ms FROM connect WHERE rn = (95 * n + 99) / 100), NULL
  UNION ALL SELECT 15, 'connect_p99_ms', (SELECT ms FROM connect WHERE rn = (99 * n + 99) / 100), NULL
)
ORDER BY k;
