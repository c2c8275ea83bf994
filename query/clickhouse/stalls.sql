-- stalls on ClickHouse: the same report as query/sql/stalls.sql (started
-- plays per media and per user: stalls, stalled and watched ms, stall ratio,
-- share of plays with a stall), over {db}.sessions FINAL.
--
-- Parameters: {from}, {to}, {filters}, {db} (`sessionsink report --clickhouse`).
SELECT sc AS scope, nm AS name,
       toInt64(count()) AS plays,
       sum(sc_) AS stalls,
       sum(sm) AS stalled_ms,
       sum(w) AS watch_ms,
       round(sum(sm) / nullIf(sum(w), 0), 4) AS stall_ratio,
       round(100.0 * countIf(sc_ > 0) / count(), 2) AS plays_with_stall_pct
FROM (
  SELECT arrayJoin(arrayFilter(g -> g.1 = 'media' OR isNotNull(g.2),
                               [('media', media), ('user', user_id)])) AS g,
         g.1 AS sc, g.2 AS nm, stall_count AS sc_, stalled_ms AS sm,
         greatest(0, coalesce(closed_at, last_event_at, started_at) - assumeNotNull(started_at)) AS w
  FROM {db}.sessions FINAL
  WHERE kind = 'play' AND isNotNull(started_at)
    AND coalesce(opened_at, first_event_at) >= {from}
    AND coalesce(opened_at, first_event_at) < {to}
    AND {filters}
)
GROUP BY sc, nm
ORDER BY scope, stall_ratio DESC, name NULLS FIRST
