-- servers: what each sending server delivered.
--
--   server         the "server" field of its events
--   events         distinct events accepted (all time)
--   duplicates     events received again (resends; all time)
--   rejected       items rejected (all time)
--   sessions       sessions of this server in the window (COALESCE(opened_at, first_event_at) in [:from, :to))
--   open_sessions  of those, not finished
--   last_event_at  latest event time it reported (its clock, ms)
--   last_seen_at   when its latest event arrived (sink clock, ms)
--   restart_at     its latest server_started (ms), NULL if none
-- Filters: :server; :platform lists only the servers that have sessions of
-- that platform (at any time) and counts only those in sessions and
-- open_sessions. events, duplicates and rejected stay the server's totals.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         :server AS srv, :platform AS plat
),
s AS (
  SELECT x.server, count(*) AS n, sum(x.state <> 'finished') AS open_n
  FROM sessions x, p
  WHERE x.server IS NOT NULL
    AND +coalesce(x.opened_at, x.first_event_at) >= p.t0
    AND coalesce(x.opened_at, x.first_event_at) < p.t1
    AND (p.plat IS NULL OR x.platform = p.plat)
  GROUP BY x.server
),
-- With :platform, the servers that ever sent a session of it.
ps AS (
  SELECT DISTINCT x.server FROM sessions x, p
  WHERE p.plat IS NOT NULL AND x.platform = p.plat AND x.server IS NOT NULL
)
SELECT v.server, v.events, v.duplicates, v.rejected,
       coalesce(s.n, 0) AS sessions, coalesce(s.open_n, 0) AS open_sessions,
       v.last_event_at, v.last_seen_at, v.restart_at
FROM servers v, p
LEFT JOIN s ON s.server = v.server
WHERE (p.srv IS NULL OR v.server = p.srv)
  AND (p.plat IS NULL OR v.server IN (SELECT server FROM ps))
ORDER BY v.events DESC, v.server;
