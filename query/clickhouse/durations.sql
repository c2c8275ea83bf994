-- durations on ClickHouse: the same report as query/sql/durations.sql
-- (finished plays in WMSPanel's 13 buckets, closed on the right; every
-- bucket listed), over {db}.sessions FINAL.
--
-- Parameters: {from}, {to}, {filters}, {db} (`sessionsink report --clickhouse`).
SELECT b.1 AS bucket, b.2 AS label, b.3 AS above_ms, b.4 AS up_to_ms,
       toInt64(countEqual(cs, b.1)) AS plays,
       if(length(cs) = 0, NULL, round(100.0 * countEqual(cs, b.1) / length(cs), 1)) AS pct
FROM (
  SELECT groupArray(c) AS cs
  FROM (
    SELECT multiIf(ms <= 30000, greatest(1, intDiv(ms + 4999, 5000)),
                   ms <= 300000, 7, ms <= 900000, 8, ms <= 1800000, 9, ms <= 3600000, 10,
                   ms <= 7200000, 11, ms <= 10800000, 12, 13) AS c
    FROM (
      SELECT greatest(0, assumeNotNull(closed_at) - assumeNotNull(started_at)) AS ms
      FROM {db}.sessions FINAL
      WHERE kind = 'play' AND state = 'finished'
        AND isNotNull(started_at) AND isNotNull(closed_at)
        AND coalesce(opened_at, first_event_at) >= {from}
        AND coalesce(opened_at, first_event_at) < {to}
        AND {filters}
    )
  )
)
ARRAY JOIN [
  (1, '0-5s', 0, toNullable(5000)), (2, '5-10s', 5000, 10000), (3, '10-15s', 10000, 15000),
  (4, '15-20s', 15000, 20000), (5, '20-25s', 20000, 25000), (6, '25-30s', 25000, 30000),
  (7, '30s-5m', 30000, 300000), (8, '5-15m', 300000, 900000), (9, '15-30m', 900000, 1800000),
  (10, '30m-1h', 1800000, 3600000), (11, '1-2h', 3600000, 7200000),
  (12, '2-3h', 7200000, 10800000), (13, '>3h', 10800000, NULL)
] AS b
ORDER BY bucket
