-- Moves what events_queue consumes into events; the event name and time
-- come from the body as received (empty and 0 where it has none).
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.events_mv TO {database}.events AS
SELECT sink, seq, server, kind, phase, session_id,
       visitParamExtractString(body, 'event') AS event,
       toInt64(visitParamExtractFloat(body, 'utc_ms')) AS utc_ms,
       body,
       now() AS inserted_at
FROM {database}.events_queue
