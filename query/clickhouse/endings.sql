-- endings on ClickHouse: the same report as query/sql/endings.sql (finished
-- plays per platform, end_class and raw_reason: count, share of the
-- platform, median duration, played, median watch time — medians by nearest
-- rank), over {db}.sessions FINAL. Windowed by the end.
--
-- Parameters: {from}, {to}, {filters}, {db} (`sessionsink report --clickhouse`).
SELECT plat AS platform, g.1 AS end_class, g.2 AS raw_reason, g.3 AS sessions,
       round(100.0 * g.3 / plat_total, 2) AS pct,
       g.4 AS median_duration_ms, g.5 AS played, g.6 AS median_watch_ms
FROM (
  SELECT plat, sum(n) AS plat_total,
         groupArray((ec, rr, n, med_d, n_played, med_w)) AS gs
  FROM (
    SELECT plat, ec, rr, toInt64(count()) AS n,
           arraySort(groupArray(d)) AS ds,
           if(empty(ds), NULL, ds[toUInt64(intDiv(50 * length(ds) + 99, 100))]) AS med_d,
           toInt64(count(st)) AS n_played,
           arraySort(groupArray(w)) AS ws,
           if(empty(ws), NULL, ws[toUInt64(intDiv(50 * length(ws) + 99, 100))]) AS med_w
    FROM (
      SELECT platform AS plat, end_class AS ec, raw_reason AS rr, started_at AS st,
             greatest(0, coalesce(closed_at, last_event_at)
                         - coalesce(opened_at, first_event_at)) AS d,
             if(isNotNull(started_at),
                greatest(0, coalesce(closed_at, last_event_at) - started_at), NULL) AS w
      FROM {db}.sessions FINAL
      WHERE kind = 'play' AND state = 'finished'
        AND coalesce(closed_at, last_event_at) >= {from}
        AND coalesce(closed_at, last_event_at) < {to}
        AND {filters}
    )
    GROUP BY plat, ec, rr
  )
  GROUP BY plat
)
ARRAY JOIN gs AS g
ORDER BY platform, sessions DESC, end_class NULLS FIRST, raw_reason NULLS FIRST
