-- events: every accepted event, for raw analysis and timelines.
--
-- Fed from the ClickHouse events topic (`serve --kafka-topic-clickhouse`):
-- an envelope the sink builds for each event, always valid JSON whatever
-- the media server sent — sink, seq, server, kind, phase, session_id and the
-- body as received, as a JSON string (parse it with visitParamExtract*).
-- (sink, seq) names one event; redelivered messages collapse on merge
-- (read FINAL for exact counts). Partitioned by the month it arrived, so
-- old months can be dropped (ALTER TABLE … DROP PARTITION 202611).
CREATE TABLE IF NOT EXISTS {database}.events (
  sink String,
  seq UInt64,
  server Nullable(String),
  kind Nullable(String),
  phase Nullable(String),
  session_id Nullable(String),
  event String,
  utc_ms Int64,
  body String,
  inserted_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(inserted_at)
ORDER BY (sink, seq)
