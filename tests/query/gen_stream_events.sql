-- Adds what the outages report reads beyond scripts/gen_sessions.sql: one
-- Flussonic stream-level event (source_lost, source_ready, stream_started,
-- stream_stopped; no session id) per five sessions, on the same servers and
-- media over the same 30 days — some without utc_ms (received_at then), a
-- few without media or with a numeric one, reasons as text, objects or
-- absent — and a seventh of the ingest sessions turned into stream sessions.
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
                        WHERE i < (SELECT count(*) / 5 FROM sessions)),
t AS (SELECT min(opened_at) AS t0 FROM sessions),
r AS (SELECT i, abs(random()) AS a, abs(random()) AS b FROM n),
e AS (
  SELECT i, a, b, t0 + a % (30 * 86400000) AS at,
         CASE b % 4 WHEN 0 THEN 'source_lost' WHEN 1 THEN 'source_ready'
                    WHEN 2 THEN 'stream_started' ELSE 'stream_stopped' END AS event
  FROM r, t)
INSERT INTO stream_events(seq, received_at, server, event, utc_ms, body)
SELECT i, at + b % 5000, 'edge' || (a % 20), event,
       CASE WHEN b % 50 = 0 THEN NULL ELSE at END,
       json_object('event', event, 'event_id', i, 'server', 'edge' || (a % 20),
                   'media', CASE WHEN b % 97 = 0 THEN NULL WHEN b % 89 = 0 THEN 7
                                 ELSE 'ch' || (b % 500) END,
                   'reason', CASE b % 5 WHEN 0 THEN 'source_down'
                                        WHEN 1 THEN json('{"code":"eof"}') END,
                   'utc_ms', CASE WHEN b % 50 = 0 THEN NULL ELSE at END)
FROM e;
UPDATE sessions SET kind = 'stream' WHERE kind = 'ingest' AND rowid % 7 = 0;
COMMIT;
ANALYZE;
