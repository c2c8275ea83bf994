-- media on ClickHouse: the same report as query/sql/media.sql (per media:
-- attempts, plays, users, watch hours, bytes, startup p50/p95 by nearest
-- rank, stall ratio, peak concurrency), over {db}.sessions FINAL.
--
-- Nearest rank without window functions: the ⌈p·n/100⌉-th element of the
-- sorted array of values. The peak: every play's start (+1) and end (−1)
-- sorted by (time, change), ends first at an instant; the highest running
-- sum is the most plays at one instant.
--
-- Parameters: {from}, {to}, {now}, {filters}, {db} (`sessionsink report --clickhouse`).
SELECT m AS media, attempts, plays, users, watch_hours, bytes,
       if(su_n = 0, NULL, su[toUInt64(intDiv(50 * su_n + 99, 100))]) AS startup_p50_ms,
       if(su_n = 0, NULL, su[toUInt64(intDiv(95 * su_n + 99, 100))]) AS startup_p95_ms,
       stall_ratio,
       if(empty(ch), 0, arrayReduce('max', arrayCumSum(arrayMap(e -> e.2, arraySort(ch)))))
         AS peak_concurrency
FROM (
  SELECT m,
         count() AS attempts,
         count(st) AS plays,
         uniqExact(u) AS users,
         round(ifNull(sum(w), 0) / 3600000.0, 4) AS watch_hours,
         ifNull(sum(b), 0) AS bytes,
         arraySort(groupArray(startup)) AS su,
         length(su) AS su_n,
         round(sum(if(isNotNull(st), stalled, NULL)) / nullIf(sum(w), 0), 4) AS stall_ratio,
         groupArrayArray(arrayFilter(e -> isNotNull(st) AND pb > ifNull(st, 0),
                                     [(ifNull(st, 0), toInt64(1)), (pb, toInt64(-1))])) AS ch
  FROM (
    SELECT media AS m, started_at AS st, user_id AS u, bytes AS b, stalled_ms AS stalled,
           if(isNotNull(started_at),
              greatest(0, coalesce(closed_at, last_event_at, started_at) - started_at), NULL) AS w,
           started_at - opened_at AS startup,
           coalesce(closed_at, {now}) AS pb
    FROM {db}.sessions FINAL
    WHERE kind = 'play'
      AND coalesce(opened_at, first_event_at) >= {from}
      AND coalesce(opened_at, first_event_at) < {to}
      AND {filters}
  )
  GROUP BY m
)
ORDER BY watch_hours DESC, attempts DESC, media NULLS FIRST
