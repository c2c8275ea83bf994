-- Synthetic sessions for benchmarks and the native-vs-SQL report test.
-- Placeholders (replaced before running): @N@ sessions, @T0@ first day (ms),
-- @DAY@ ms per day, @NOW@ the clock, @VERSION@ the schema version.
-- Kinds: 95 % play, 2.5 % ingest, 2.5 % publish; 500 media, N/20 users, 20
-- servers; 80 % of plays started, 95 % of sessions closed; some stalls,
-- denials and error closes; every 20th session is a source with viewers.
PRAGMA user_version = @VERSION@;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @N@),
r AS (SELECT i, abs(random()) AS a, abs(random()) AS b, abs(random()) AS c FROM n),
s AS (
  SELECT i,
         CASE WHEN i % 20 = 0 THEN (CASE WHEN i % 40 = 0 THEN 'publish' ELSE 'ingest' END) ELSE 'play' END AS kind,
         @T0@ + a % (30 * @DAY@) AS opened_at,
         a, b, c
  FROM r)
INSERT INTO sessions(id, kind, state, server, media, source_id, user_id, ip, ip_net, proto,
                     opened_at, started_at, closed_at, updated_at, bytes, duration_ms,
                     stall_count, stalled_ms, denied, close_reason, event_count,
                     first_event_at, last_event_at, seen_at, merge_state, change_seq)
SELECT printf('s%08d', i), kind,
       CASE WHEN b % 20 = 0 THEN 'running' ELSE 'finished' END,
       'edge' || (a % 20),
       CASE WHEN a % 97 = 0 THEN NULL ELSE 'ch' || (b % 500) END,
       CASE WHEN kind = 'play' THEN printf('s%08d', ((i / 20) * 20) + 20) END,
       CASE WHEN kind = 'play' AND c % 10 <> 0 THEN 'u' || (c % (@N@ / 20 + 1)) END,
       CASE WHEN a % 13 = 0 THEN printf('2001:db8:%x:%x::%x', c % 50, b % 3, a % 999)
            ELSE '10.' || (c % 200) || '.' || (b % 3) || '.' || (a % 250) END,
       CASE WHEN a % 13 = 0 THEN printf('2001:db8:%x:%x::/64', c % 50, b % 3)
            ELSE '10.' || (c % 200) || '.' || (b % 3) || '.0/24' END,
       'hls',
       CASE WHEN a % 101 = 0 THEN NULL ELSE opened_at END,
       CASE WHEN c % 5 <> 0 THEN opened_at + 200 + b % 3000 END,
       CASE WHEN b % 20 <> 0 THEN opened_at + 10000 + c % 7200000 END,
       opened_at + 5000,
       c % 1000000000,
       NULL,
       CASE WHEN a % 7 = 0 THEN 1 + a % 3 ELSE 0 END,
       CASE WHEN a % 7 = 0 THEN 1000 + b % 30000 ELSE 0 END,
       CASE WHEN c % 5 = 0 AND b % 3 = 0 THEN 1 ELSE 0 END,
       CASE WHEN b % 20 <> 0 AND c % 5 = 0 AND b % 3 = 1 THEN '{"code":"error"}' END,
       3 + a % 20,
       opened_at,
       CASE WHEN b % 20 <> 0 THEN opened_at + 10000 + c % 7200000 ELSE opened_at + 60000 END,
       @NOW@, '', i
FROM s;
INSERT INTO stall_intervals(session_id, start_at, end_at)
  SELECT id, first_event_at + 60000, first_event_at + 60000 + stalled_ms FROM sessions
  WHERE kind <> 'play' AND stall_count > 0;
INSERT INTO servers(server, events, duplicates, rejected, last_event_at, last_seen_at)
  SELECT server, sum(event_count), count(*) / 100, count(*) / 1000, max(last_event_at), @NOW@
  FROM sessions GROUP BY server;
COMMIT;
ANALYZE;
