-- live on ClickHouse: the same report as query/sql/live.sql (sessions not
-- finished yet, by kind, media and server; stalling now; oldest open; its
-- age at {now}), over {db}.sessions FINAL. Not windowed.
--
-- Parameters: {now}, {filters}, {db} (`sessionsink report --clickhouse`).
SELECT k AS kind, m AS media, srv AS server,
       toInt64(count()) AS sessions,
       toInt64(countIf(st = 'stalling')) AS stalling,
       min(opened) AS oldest_opened_at,
       {now} - min(opened) AS max_age_ms
FROM (
  SELECT kind AS k, media AS m, server AS srv, state AS st,
         coalesce(opened_at, first_event_at) AS opened
  FROM {db}.sessions FINAL
  WHERE state != 'finished' AND {filters}
)
GROUP BY k, m, srv
ORDER BY sessions DESC, kind, media NULLS FIRST, server NULLS FIRST
