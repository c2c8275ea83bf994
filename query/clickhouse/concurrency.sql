-- concurrency on ClickHouse: the same report as query/sql/concurrency.sql
-- (peak concurrent plays per bucket, in total '*' and per media; the same
-- buckets, edges and columns), over {db}.sessions FINAL.
--
-- Without window functions (18.16): per part ('*' and each media), the
-- changes (+1 at a start, −1 at an end, summed per instant) and a probe at
-- every bucket start are sorted into one array; its running sum
-- (arrayCumSum) is the level after all changes at each instant, probes
-- after the changes at their instant. A bucket's peak is the highest level
-- at its probe or at a change inside it. (18.16's lambdas cannot capture a
-- column beside an array computed from another one: first_b is passed in
-- as an array of its own.)
--
-- Parameters (filled in by `sessionsink report --clickhouse`): {from}, {to}
-- (ms, the extremes of Int64 when not given), {from_given}, {to_given} (1/0),
-- {now}, {bucket_ms}, {filters}, {db}. More than 100,000 buckets in the total is
-- refused (throwIf), as on SQLite.
SELECT bucket_start, if(part = '', NULL, part) AS media, peak
FROM (
  SELECT part, intDiv(x.1, {bucket_ms}) * {bucket_ms} AS bucket_start,
         max(x.3) AS peak, max(x.2) AS probed
  FROM (
    SELECT part,
           arraySort(arrayConcat(changes,
             arrayMap((k, f) -> (f + toInt64(k) * {bucket_ms}, toUInt8(1), toInt64(0)),
                      range(toUInt64(nb)), arrayResize([first_b], toUInt64(nb), first_b)))) AS stream,
           arrayMap((e, n) -> (e.1, e.2, n), stream,
                    arrayCumSum(arrayMap(e -> e.3, stream))) AS lvl
    FROM (
      SELECT part, changes, first_b,
             if(has_span, greatest(1, intDiv(last_t - first_b + {bucket_ms} - 1, {bucket_ms})), 0)
               AS nb0,
             nb0 + throwIf(part = '*' AND nb0 > 100000) AS nb
      FROM (
        SELECT part, changes,
               if(part = '*', if({from_given} = 1, intDiv({from}, {bucket_ms}) * {bucket_ms},
                                 intDiv(tmin, {bucket_ms}) * {bucket_ms}),
                  intDiv(greatest(tmin, {from}), {bucket_ms}) * {bucket_ms}) AS first_b,
               if(part = '*', if({to_given} = 1, {to}, tmax), least(tmax, {to})) AS last_t,
               if(part = '*', n > 0 OR ({from_given} = 1 AND {to_given} = 1), 1) AS has_span
        FROM (
          SELECT '*' AS part, groupArray((t, toUInt8(0), dd)) AS changes,
                 min(t) AS tmin, max(t) AS tmax, count() AS n
          FROM (
            SELECT t, sum(d) AS dd
            FROM (
              SELECT arrayJoin([(a, toInt64(1)), (b, toInt64(-1))]) AS e, e.1 AS t, e.2 AS d
              FROM (
                SELECT started_at AS a0, coalesce(closed_at, {now}) AS b0,
                       assumeNotNull(a0) AS a, assumeNotNull(b0) AS b
                FROM {db}.sessions FINAL
                WHERE kind = 'play' AND isNotNull(started_at)
                  AND coalesce(closed_at, {now}) > started_at
                  AND started_at < {to} AND coalesce(closed_at, {now}) > {from}
                  AND {filters}
              )
            )
            GROUP BY t
          )
          UNION ALL
          SELECT part, groupArray((t, toUInt8(0), dd)) AS changes,
                 min(t) AS tmin, max(t) AS tmax, count() AS n
          FROM (
            SELECT m AS part, t, sum(d) AS dd
            FROM (
              SELECT m, arrayJoin([(a, toInt64(1)), (b, toInt64(-1))]) AS e, e.1 AS t, e.2 AS d
              FROM (
                SELECT ifNull(media, '') AS m, started_at AS a0,
                       coalesce(closed_at, {now}) AS b0,
                       assumeNotNull(a0) AS a, assumeNotNull(b0) AS b
                FROM {db}.sessions FINAL
                WHERE kind = 'play' AND isNotNull(started_at)
                  AND coalesce(closed_at, {now}) > started_at
                  AND started_at < {to} AND coalesce(closed_at, {now}) > {from}
                  AND {filters}
              )
            )
            GROUP BY m, t
          )
          GROUP BY part
        )
      )
    )
  )
  ARRAY JOIN lvl AS x
  GROUP BY part, bucket_start
  HAVING probed = 1 AND bucket_start < {to}
)
ORDER BY bucket_start, part != '*', part
