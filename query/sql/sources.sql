-- sources: publish and ingest sessions, and the viewers that depended on them.
--
--   id, kind, media, server   the source session
--   opened_at, closed_at      ms (closed_at NULL while it runs)
--   uptime_ms            from started_at (else opened_at) to closed_at (else :now)
--   stall_count, stalled_ms   its stalls
--   viewers              play sessions whose source_id is this session
--   viewers_affected     of those, the ones that had started and were playing
--                        during one of its stalls ([start, end) overlapping), or
--                        when it closed (started at or before closed_at, ended at or after)
-- Window: sources running at some point of [:from, :to): [up, down) overlaps it,
-- up = COALESCE(started_at, opened_at, first_event_at), down = COALESCE(closed_at, :now).
-- Filters: :media, :server, :platform (the source's; its viewers are counted
-- whatever their platform).
WITH p AS (
  SELECT coalesce(:from, -9223372036854775807) AS t0,
         coalesce(:to, 9223372036854775807) AS t1,
         coalesce(:now, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) AS now,
         :media AS media, :server AS srv, :platform AS plat
),
src AS (
  SELECT x.*, coalesce(x.started_at, x.opened_at, x.first_event_at) AS up_at,
         coalesce(x.closed_at, p.now) AS down_at
  FROM sessions x, p
  WHERE +x.kind IN ('publish', 'ingest')
    AND coalesce(x.started_at, x.opened_at, x.first_event_at) < p.t1
    AND coalesce(x.closed_at, p.now) > p.t0
    AND (p.media IS NULL OR x.media = p.media)
    AND (p.srv IS NULL OR x.server = p.srv)
    AND (p.plat IS NULL OR x.platform = p.plat)
),
v AS (
  SELECT src.id AS src_id, w.id, w.started_at AS a, coalesce(w.closed_at, p.now) AS b
  FROM src JOIN sessions w ON w.source_id = src.id AND w.kind = 'play', p
),
hit AS (
  SELECT DISTINCT v.src_id, v.id FROM v
  JOIN src ON src.id = v.src_id
  LEFT JOIN stall_intervals st ON st.session_id = v.src_id
  WHERE v.a IS NOT NULL AND (
    (st.start_at IS NOT NULL AND v.a < coalesce(st.end_at, src.down_at) AND v.b > st.start_at)
    OR (src.closed_at IS NOT NULL AND v.a <= src.closed_at AND v.b >= src.closed_at))
)
SELECT src.id, src.kind, src.media, src.server, src.opened_at, src.closed_at,
       max(0, src.down_at - src.up_at) AS uptime_ms,
       src.stall_count, src.stalled_ms,
       (SELECT count(*) FROM v WHERE v.src_id = src.id) AS viewers,
       (SELECT count(*) FROM hit WHERE hit.src_id = src.id) AS viewers_affected
FROM src
ORDER BY viewers_affected DESC, viewers DESC, src.opened_at, src.id;
