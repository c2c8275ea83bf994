-- outages: when each stream (a media on a server) was down, why, and who was watching.
--
--   server, media        the stream
--   down_at              ms: when it went down
--   up_at                ms: when it came back; NULL while it is still down
--   cause                what took it down: the `reason` of the source_lost /
--                        stream_stopped event (text, or an object as JSON;
--                        else the event's name), or the close of the last
--                        source session running or of the stream session (its
--                        close_reason, else its raw_reason, else 'closed'); at
--                        one instant, the smallest
--   downtime_ms          of this outage, inside the window (an open one until :now)
--   plays_running        play sessions of the stream that had started and were
--                        running when it went down: started_at <= down_at <=
--                        COALESCE(closed_at, :now)
--   users_running        their distinct user_id
--   outages              the stream's outages in the window (on each of its rows)
--   total_downtime_ms    the sum of their downtime_ms
-- The stream's state (docs/session-model.md §5) is that of its latest mark,
-- from two sources:
--   events   source_ready, stream_started: up; source_lost, stream_stopped: down
--            (Flussonic's stream-level events; media from the body, time utc_ms)
--   sessions publish and ingest sessions of the stream ("sources"): up when
--            one starts (COALESCE(started_at, opened_at, first_event_at)), down
--            when a close leaves none running (ends before starts at one
--            instant); a stream session: up when it starts, down when it closes
-- Marks at one instant: downs before ups, so a stream that goes down and up
-- at the same instant has no outage. An outage is a down mark after an up
-- mark (or first of all), until the next up mark.
-- Window: outages overlapping [:from, :to): down_at < :to, up_at (open: never) > :from.
-- Filters: :media, :server, :platform (the sources'; the events are Flussonic's).
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         coalesce(:now, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) AS now,
         :media AS media, :server AS srv, :platform AS plat
),
ss AS (
  SELECT x.kind, x.server, x.media, coalesce(x.started_at, x.opened_at, x.first_event_at) AS a,
         x.closed_at AS b, coalesce(x.close_reason, x.raw_reason, 'closed') AS cause
  FROM sessions x, p
  WHERE +x.kind IN ('publish', 'ingest', 'stream') AND x.media IS NOT NULL
    AND coalesce(x.started_at, x.opened_at, x.first_event_at) IS NOT NULL
    AND (x.closed_at IS NULL OR x.closed_at > coalesce(x.started_at, x.opened_at, x.first_event_at))
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
src AS (SELECT server, media, a, b, cause FROM ss WHERE kind <> 'stream'),
-- Per instant: sources starting and ending, and how many ran before it.
d AS (
  SELECT server, media, t, sum(delta > 0) AS starts, sum(delta < 0) AS ends,
         min(CASE WHEN delta < 0 THEN cause END) AS cause
  FROM (SELECT server, media, a AS t, 1 AS delta, NULL AS cause FROM src
        UNION ALL
        SELECT server, media, b, -1, cause FROM src WHERE b IS NOT NULL)
  GROUP BY server, media, t
),
c AS (
  SELECT d.*, coalesce(sum(starts - ends) OVER (PARTITION BY server, media ORDER BY t
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
  FROM d
),
ev AS (
  SELECT e.server,
         CAST(CASE WHEN typeof(e.body ->> '$.media') IN ('text', 'integer')
                   THEN e.body ->> '$.media' END AS TEXT) AS media,
         coalesce(e.utc_ms, e.received_at) AS t,
         e.event IN ('source_ready', 'stream_started') AS up,
         CASE WHEN e.event IN ('source_lost', 'stream_stopped')
              THEN coalesce(CASE WHEN typeof(e.body ->> '$.reason') = 'text'
                                 THEN e.body ->> '$.reason' END, e.event) END AS cause
  FROM stream_events e, p  -- kept whole in the main file (schema 8)
  WHERE e.event IN ('source_lost', 'source_ready', 'stream_started', 'stream_stopped')
    AND (p.plat IS NULL OR p.plat = 'flussonic')
    AND (p.srv IS NULL OR e.server = p.srv)
),
-- Marks: 1 = up, 0 = down.
m AS (
  SELECT server, media, t, 0 AS up, cause FROM c WHERE ends > 0 AND before = ends
  UNION ALL
  SELECT server, media, t, 1, NULL FROM c WHERE starts > 0
  UNION ALL
  SELECT server, media, a, 1, NULL FROM ss WHERE kind = 'stream'
  UNION ALL
  SELECT server, media, b, 0, cause FROM ss WHERE kind = 'stream' AND b IS NOT NULL
  UNION ALL
  SELECT ev.server, ev.media, ev.t, ev.up, CASE WHEN ev.up THEN NULL ELSE ev.cause END
  FROM ev, p WHERE ev.media IS NOT NULL AND (p.media IS NULL OR ev.media = p.media)
),
o AS (
  SELECT server, media, t, up, cause,
         lag(up) OVER w AS prev,
         min(CASE WHEN up = 1 THEN t END) OVER (w ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
           AS next_up
  FROM m
  WINDOW w AS (PARTITION BY server, media ORDER BY t, up, cause)
),
x AS (
  SELECT o.server, o.media, o.t AS down_at, o.next_up AS up_at, o.cause,
         max(0, min(coalesce(o.next_up, p.now), p.t1) - max(o.t, p.t0)) AS downtime_ms
  FROM o, p
  WHERE o.up = 0 AND (o.prev IS NULL OR o.prev = 1)
    AND (o.next_up IS NULL OR o.next_up > o.t)
    AND o.t < p.t1 AND (o.next_up IS NULL OR o.next_up > p.t0)
),
hit AS (
  SELECT x.server, x.media, x.down_at, count(w.id) AS plays, count(DISTINCT w.user_id) AS users
  FROM x, p LEFT JOIN sessions w
    ON w.kind = 'play' AND w.media = x.media AND w.server IS x.server
   AND w.started_at <= x.down_at AND coalesce(w.closed_at, p.now) >= x.down_at
  GROUP BY x.server, x.media, x.down_at
)
SELECT x.server, x.media, x.down_at, x.up_at, x.cause, x.downtime_ms,
       hit.plays AS plays_running, hit.users AS users_running,
       count(*) OVER s AS outages, sum(x.downtime_ms) OVER s AS total_downtime_ms
FROM x JOIN hit ON hit.server IS x.server AND hit.media = x.media AND hit.down_at = x.down_at
WINDOW s AS (PARTITION BY x.server, x.media)
ORDER BY total_downtime_ms DESC, x.server, x.media, x.down_at;
