-- sessions-per-user: play sessions per user, server-observed.
--
-- One row per user_id (sessions without a user are not attributed to anyone):
--   sessions         play sessions carrying that user
--   plays            of those, the ones that started (started_at known)
--   watch_ms         Σ over started sessions of COALESCE(closed_at, last_event_at) − started_at
--   bytes            Σ bytes
--   media            distinct media watched
--   ips              distinct client addresses
--   stalls           Σ stall_count
--   first_opened_at  earliest opened_at (ms)
--   last_event_at    latest event time (ms)
-- Window: a session counts when COALESCE(opened_at, first_event_at) is in [:from, :to).
-- Filters: :media, :user, :server, :platform (NULL = all). Times are ms since the epoch.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
)
SELECT s.user_id,
       count(*) AS sessions,
       count(s.started_at) AS plays,
       coalesce(sum(CASE WHEN s.started_at IS NOT NULL THEN
                  max(0, coalesce(s.closed_at, s.last_event_at, s.started_at) - s.started_at) END), 0)
         AS watch_ms,
       coalesce(sum(s.bytes), 0) AS bytes,
       count(DISTINCT s.media) AS media,
       count(DISTINCT s.ip) AS ips,
       sum(s.stall_count) AS stalls,
       min(s.opened_at) AS first_opened_at,
       max(s.last_event_at) AS last_event_at
FROM sessions s, p
WHERE +s.kind = 'play' AND +s.user_id IS NOT NULL
  AND +coalesce(s.opened_at, s.first_event_at) >= p.t0
  AND coalesce(s.opened_at, s.first_event_at) < p.t1
  AND (p.media IS NULL OR s.media = p.media)
  AND (p.usr IS NULL OR s.user_id = p.usr)
  AND (p.srv IS NULL OR s.server = p.srv)
  AND (p.plat IS NULL OR s.platform = p.plat)
GROUP BY s.user_id
ORDER BY watch_ms DESC, s.user_id;
