-- sessions-per-user on ClickHouse: the same report as query/sql/sessions-per-user.sql
-- (its columns and definitions), over {db}.sessions FINAL (one row per
-- session however often it was delivered).
--
-- Parameters, filled in by `sessionsink report --clickhouse` (ClickHouse
-- 18.16 has no query parameters): {from} and {to} (ms; the extremes of
-- Int64 when not given), {filters} (media, user, server and platform, 1 when
-- none), {db}.
SELECT user AS user_id,
       count() AS sessions,
       count(started) AS plays,
       sum(ifNull(watch, 0)) AS watch_ms,
       sum(ifNull(b, 0)) AS bytes,
       uniqExact(m) AS media,
       uniqExact(addr) AS ips,
       sum(stalls_) AS stalls,
       min(opened) AS first_opened_at,
       max(last_ev) AS last_event_at
FROM (
  SELECT user_id AS user, started_at AS started,
         if(isNotNull(started_at),
            greatest(0, coalesce(closed_at, last_event_at, started_at) - started_at), NULL) AS watch,
         bytes AS b, media AS m, ip AS addr, stall_count AS stalls_, opened_at AS opened,
         last_event_at AS last_ev
  FROM {db}.sessions FINAL
  WHERE kind = 'play' AND isNotNull(user_id)
    AND coalesce(opened_at, first_event_at) >= {from}
    AND coalesce(opened_at, first_event_at) < {to}
    AND {filters}
)
GROUP BY user
ORDER BY watch_ms DESC, user_id
