-- startup on ClickHouse: the same report as query/sql/startup.sql (one row
-- per outcome of the play attempts — played, denied, failed, exited, probe,
-- establishing — with its count and share, then the startup, queued and
-- connect times at p50/p95/p99 by nearest rank), over {db}.sessions FINAL.
-- The rows are one aggregate turned into rows with ARRAY JOIN.
--
-- Parameters: {from}, {to}, {filters}, {db} (`sessionsink report --clickhouse`).
SELECT r.2 AS metric, r.3 AS value, r.4 AS pct
FROM (
  SELECT [
      (1, 'played', toNullable(played), round(100.0 * played / nullIf(total, 0), 2)),
      (2, 'denied', toNullable(denied_), round(100.0 * denied_ / nullIf(total, 0), 2)),
      (3, 'failed', toNullable(failed), round(100.0 * failed / nullIf(total, 0), 2)),
      (4, 'exited', toNullable(exited), round(100.0 * exited / nullIf(total, 0), 2)),
      (5, 'probe', toNullable(probe), round(100.0 * probe / nullIf(total, 0), 2)),
      (6, 'establishing', toNullable(establishing),
         round(100.0 * establishing / nullIf(total, 0), 2)),
      (7, 'startup_p50_ms', if(su_n = 0, NULL, su[toUInt64(intDiv(50 * su_n + 99, 100))]), NULL),
      (8, 'startup_p95_ms', if(su_n = 0, NULL, su[toUInt64(intDiv(95 * su_n + 99, 100))]), NULL),
      (9, 'startup_p99_ms', if(su_n = 0, NULL, su[toUInt64(intDiv(99 * su_n + 99, 100))]), NULL),
      (10, 'queued_p50_ms', if(qu_n = 0, NULL, qu[toUInt64(intDiv(50 * qu_n + 99, 100))]), NULL),
      (11, 'queued_p95_ms', if(qu_n = 0, NULL, qu[toUInt64(intDiv(95 * qu_n + 99, 100))]), NULL),
      (12, 'queued_p99_ms', if(qu_n = 0, NULL, qu[toUInt64(intDiv(99 * qu_n + 99, 100))]), NULL),
      (13, 'connect_p50_ms', if(co_n = 0, NULL, co[toUInt64(intDiv(50 * co_n + 99, 100))]), NULL),
      (14, 'connect_p95_ms', if(co_n = 0, NULL, co[toUInt64(intDiv(95 * co_n + 99, 100))]), NULL),
      (15, 'connect_p99_ms', if(co_n = 0, NULL, co[toUInt64(intDiv(99 * co_n + 99, 100))]), NULL)
    ] AS rows_
  FROM (
    SELECT toInt64(count()) AS total,
           toInt64(countIf(o = 'played')) AS played,
           toInt64(countIf(o = 'denied')) AS denied_,
           toInt64(countIf(o = 'failed')) AS failed,
           toInt64(countIf(o = 'exited')) AS exited,
           toInt64(countIf(o = 'probe')) AS probe,
           toInt64(countIf(o = 'establishing')) AS establishing,
           arraySort(groupArray(startup)) AS su, length(su) AS su_n,
           arraySort(groupArray(queued)) AS qu, length(qu) AS qu_n,
           arraySort(groupArray(connect)) AS co, length(co) AS co_n
    FROM (
      SELECT multiIf(isNotNull(started_at), 'played',
                     denied = 1, 'denied',
                     state != 'finished', 'establishing',
                     ifNull(isNotNull(close_reason)
                            AND close_reason NOT IN ('normal', 'sink_timeout'), 0), 'failed',
                     ifNull(coalesce(closed_at, last_event_at)
                            - coalesce(opened_at, first_event_at) >= 1000, 0), 'exited',
                     'probe') AS o,
             started_at - opened_at AS startup,
             queued_ms AS queued,
             started_at - authorized_at AS connect
      FROM {db}.sessions FINAL
      WHERE kind = 'play'
        AND coalesce(opened_at, first_event_at) >= {from}
        AND coalesce(opened_at, first_event_at) < {to}
        AND {filters}
    )
  )
)
ARRAY JOIN rows_ AS r
ORDER BY r.1
