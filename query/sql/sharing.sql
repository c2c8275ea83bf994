-- sharing: users whose plays overlap in time from different networks.
--
-- A play occupies [started_at, end), end = closed_at or :now while open.
-- Networks compare ip_net: the /24 of an IPv4 address, the /64 of an IPv6
-- one, so a carrier rotating addresses inside one network is not sharing.
--   user_id            the user
--   plays              started play sessions of the user in the window
--   networks           distinct networks those came from
--   overlapping_pairs  pairs of the user's plays that overlap in time and come
--                      from different networks
--   overlap_s          Σ over those pairs of the overlapping time, seconds
--   max_concurrent     the most of the user's plays running at one instant
--                      (any network; ends before starts)
-- Without :limit, the users with overlapping_pairs > 0; with :limit N, the
-- users whose max_concurrent exceeds N (an account-sharing limit).
-- Window: COALESCE(opened_at, first_event_at) in [:from, :to). Filters: :media, :user, :server, :platform.
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         coalesce(:now, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) AS now,
         :limit AS lim, :media AS media, :user AS usr, :server AS srv, :platform AS plat
),
s AS (
  SELECT x.id, x.user_id, coalesce(x.ip_net, x.ip) AS net, x.started_at AS a,
         coalesce(x.closed_at, p.now) AS b
  FROM sessions x, p
  WHERE +x.kind = 'play' AND +x.user_id IS NOT NULL AND x.started_at IS NOT NULL
    AND +coalesce(x.opened_at, x.first_event_at) >= p.t0
    AND coalesce(x.opened_at, x.first_event_at) < p.t1
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.usr IS NULL OR x.user_id = p.usr)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
pairs AS (
  SELECT s1.user_id, count(*) AS n, sum(min(s1.b, s2.b) - max(s1.a, s2.a)) AS overlap_ms
  FROM s s1 JOIN s s2
    ON s1.user_id = s2.user_id AND s1.id < s2.id AND s1.net IS NOT s2.net
   AND s1.a < s2.b AND s2.a < s1.b
  GROUP BY s1.user_id
),
ev(user_id, t, d) AS (
  SELECT user_id, a, 1 FROM s WHERE b > a UNION ALL SELECT user_id, b, -1 FROM s WHERE b > a
),
conc AS (
  SELECT user_id, max(n) AS max_concurrent FROM (
    SELECT user_id, sum(d) OVER (PARTITION BY user_id ORDER BY t RANGE UNBOUNDED PRECEDING) AS n
    FROM ev)
  GROUP BY user_id
),
u AS (
  SELECT user_id, count(*) AS plays, count(DISTINCT net) AS networks FROM s GROUP BY user_id
)
SELECT u.user_id, u.plays, u.networks,
       coalesce(pairs.n, 0) AS overlapping_pairs,
       round(coalesce(pairs.overlap_ms, 0) / 1000.0, 3) AS overlap_s,
       coalesce(conc.max_concurrent, 0) AS max_concurrent
FROM u, p
LEFT JOIN pairs ON pairs.user_id = u.user_id
LEFT JOIN conc ON conc.user_id = u.user_id
WHERE (p.lim IS NULL AND pairs.n > 0) OR (p.lim IS NOT NULL AND conc.max_concurrent > p.lim)
ORDER BY overlap_s DESC, max_concurrent DESC, u.user_id;
