-- live: sessions not finished yet, by kind, media and server.
--
--   kind, media, server   the group
--   sessions              sessions in it that are not finished
--   stalling              of those, the ones stalling now
--   oldest_opened_at      the earliest COALESCE(opened_at, first_event_at) among them (ms)
--   max_age_ms            :now − oldest_opened_at (default :now: the current time)
-- Not windowed (--from/--to do not apply). Filters: :media, :user, :server, :platform.
WITH p AS (
  SELECT coalesce(:now, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) AS now,
         :media AS media, :user AS usr, :server AS srv, :platform AS plat
)
SELECT s.kind, s.media, s.server,
       count(*) AS sessions,
       sum(s.state = 'stalling') AS stalling,
       min(coalesce(s.opened_at, s.first_event_at)) AS oldest_opened_at,
       p.now - min(coalesce(s.opened_at, s.first_event_at)) AS max_age_ms
FROM sessions s, p
WHERE s.state <> 'finished'
  AND (p.media IS NULL OR s.media = p.media)
  AND (p.usr IS NULL OR s.user_id = p.usr)
  AND (p.srv IS NULL OR s.server = p.srv)
  AND (p.plat IS NULL OR s.platform = p.plat)
GROUP BY s.kind, s.media, s.server
ORDER BY sessions DESC, s.kind, s.media, s.server;
