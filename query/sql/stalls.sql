-- stalls: how often and how long started plays stalled, per media and per user.
--
--   scope               'media' or 'user'
--   name                the media name or the user_id (users without an id are left out)
--   plays               started play sessions
--   stalls              Σ stall_count
--   stalled_ms          Σ stalled_ms
--   watch_ms            Σ (COALESCE(closed_at, last_event_at) − started_at)
--   stall_ratio         stalled_ms / watch_ms (NULL without watch time)
--   plays_with_stall_pct  % of plays with at least one stall
-- Window: COALESCE(opened_at, first_event_at) in [:from, :to). Filters: :media, :user, :server, :platform.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
),
s AS (
  SELECT x.media, x.user_id, x.stall_count, x.stalled_ms,
         max(0, coalesce(x.closed_at, x.last_event_at, x.started_at) - x.started_at) AS watch_ms
  FROM sessions x, p
  WHERE +x.kind = 'play' AND x.started_at IS NOT NULL
    AND +coalesce(x.opened_at, x.first_event_at) >= p.t0
    AND coalesce(x.opened_at, x.first_event_at) < p.t1
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.usr IS NULL OR x.user_id = p.usr)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
g AS (
  SELECT 'media' AS scope, media AS name, stall_count, stalled_ms, watch_ms FROM s
  UNION ALL
  SELECT 'user', user_id, stall_count, stalled_ms, watch_ms FROM s WHERE user_id IS NOT NULL
)
SELECT scope, name,
       count(*) AS plays,
       sum(stall_count) AS stalls,
       sum(stalled_ms) AS stalled_ms,
       sum(watch_ms) AS watch_ms,
       round(CAST(sum(stalled_ms) AS REAL) / nullif(sum(watch_ms), 0), 4) AS stall_ratio,
       round(100.0 * sum(stall_count > 0) / count(*), 2) AS plays_with_stall_pct
FROM g
GROUP BY scope, name
ORDER BY scope, stall_ratio DESC, name;
