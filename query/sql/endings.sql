-- endings: how finished plays ended, per platform, end class and raw reason.
--
--   platform            flussonic, streampixel, gamelift, zego
--   end_class           why it ended, normalized: normal, user_left,
--                       idle_timeout, limit, denied, capacity, app_crash,
--                       network, admin_kick, internal, unknown
--   raw_reason          the platform's own end code or reason, verbatim
--                       (NULL when it gave none)
--   sessions            finished plays with this platform, end_class and raw_reason
--   pct                 sessions ÷ all finished plays of the platform in the
--                       window, % (rounded to 2 decimals)
--   median_duration_ms  median duration, nearest rank (the ⌈n/2⌉-th smallest);
--                       duration = COALESCE(closed_at, last_event_at) −
--                       COALESCE(opened_at, first_event_at), at least 0: the
--                       whole session, waiting (queue, placement) and starting
--                       included
--   played              of those sessions, the ones that started
--   median_watch_ms     median watch time of those, nearest rank; watch time =
--                       COALESCE(closed_at, last_event_at) − started_at, at
--                       least 0 (NULL when none started)
-- Window: by the end. A finished play (state 'finished') counts when
-- COALESCE(closed_at, last_event_at) is in [:from, :to), whenever it opened;
-- sessions not finished are left out. Filters: :media, :user, :server, :platform.
-- Rows: by platform, then sessions (most first), end_class, raw_reason.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
),
s AS (
  SELECT x.platform, x.end_class, x.raw_reason, x.started_at,
         max(0, coalesce(x.closed_at, x.last_event_at)
                - coalesce(x.opened_at, x.first_event_at)) AS duration_ms,
         CASE WHEN x.started_at IS NOT NULL THEN
           max(0, coalesce(x.closed_at, x.last_event_at) - x.started_at) END AS watch_ms
  FROM sessions x, p
  WHERE +x.kind = 'play' AND +x.state = 'finished'
    AND +coalesce(x.closed_at, x.last_event_at) >= p.t0
    AND coalesce(x.closed_at, x.last_event_at) < p.t1
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.usr IS NULL OR x.user_id = p.usr)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
-- Ranks within each group, NULLs (no duration, no watch time) after the rest.
r AS (
  SELECT platform, end_class, raw_reason, started_at, duration_ms, watch_ms,
         row_number() OVER (PARTITION BY platform, end_class, raw_reason
                            ORDER BY duration_ms IS NULL, duration_ms) AS d_rn,
         count(duration_ms) OVER (PARTITION BY platform, end_class, raw_reason) AS d_n,
         row_number() OVER (PARTITION BY platform, end_class, raw_reason
                            ORDER BY watch_ms IS NULL, watch_ms) AS w_rn,
         count(watch_ms) OVER (PARTITION BY platform, end_class, raw_reason) AS w_n
  FROM s
)
SELECT platform, end_class, raw_reason,
       count(*) AS sessions,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY platform), 2) AS pct,
       max(CASE WHEN d_rn = (50 * d_n + 99) / 100 THEN duration_ms END) AS median_duration_ms,
       count(started_at) AS played,
       max(CASE WHEN w_rn = (50 * w_n + 99) / 100 THEN watch_ms END) AS median_watch_ms
FROM r
GROUP BY platform, end_class, raw_reason
ORDER BY platform, sessions DESC, end_class, raw_reason;
