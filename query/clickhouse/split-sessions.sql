-- split-sessions (ClickHouse only): sessions whose events were stored by
-- more than one sink — the deployment rule (a media server posts to one
-- sink; docs/scale-out.md) broken, e.g. by a load balancer that does not pin
-- servers. Each such sink computed the session from part of its events, so
-- its row in {db}.sessions (one per id, the highest change_seq of either
-- sink) may be incomplete; it is still counted once.
--
--   session_id     the session
--   sinks          how many sinks stored events of it
--   sink_names     their --sink-name, space-separated
--   events         its events, all sinks together
--   first_utc_ms, last_utc_ms  the earliest and latest event time (ms)
-- Read from {db}.events (the envelopes of --kafka-topic-clickhouse). Window:
-- sessions with an event time in [{from}, {to}); the other filters do not
-- apply (the events carry no media or user columns).
SELECT sid AS session_id, toInt64(uniqExact(sink)) AS sinks,
       arrayStringConcat(arraySort(groupUniqArray(sink)), ' ') AS sink_names,
       toInt64(count()) AS events,
       min(utc_ms) AS first_utc_ms, max(utc_ms) AS last_utc_ms
FROM (
  SELECT assumeNotNull(session_id) AS sid, sink, utc_ms
  FROM {db}.events FINAL
  WHERE isNotNull(session_id)
)
GROUP BY sid
HAVING sinks > 1 AND max(utc_ms) >= {from} AND min(utc_ms) < {to}
ORDER BY session_id
