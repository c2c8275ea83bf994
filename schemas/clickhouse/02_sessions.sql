-- sessions: one row per session, the latest the sink computed.
--
-- Fed from the sessions topic (schemas/kafka/sessionsink.sessions.schema.json):
-- every change of a row is one message, delivered at least once. The engine
-- keeps, per id, the row with the highest change_seq, so redelivered and
-- repeated messages collapse to the sink's latest row once parts merge;
-- queries read `FROM sessions FINAL` (or argMax(…, change_seq)) to see the
-- collapsed rows before the merge. ORDER BY id: a session id names one
-- session across the fleet (a media server posts to one sink; the
-- split-sessions report shows the sessions for which that did not hold).
CREATE TABLE IF NOT EXISTS {database}.sessions (
  id String,
  kind String,
  state String,
  server Nullable(String),
  media Nullable(String),
  source_id Nullable(String),
  parent_id Nullable(String),
  user_id Nullable(String),
  token Nullable(String),
  ip Nullable(String),
  proto Nullable(String),
  country Nullable(String),
  user_agent Nullable(String),
  referer Nullable(String),
  url Nullable(String),
  opened_at Nullable(Int64),
  authorized_at Nullable(Int64),
  started_at Nullable(Int64),
  updated_at Nullable(Int64),
  closed_at Nullable(Int64),
  bytes Nullable(Int64),
  duration_ms Nullable(Int64),
  stall_count Int64,
  stalled_ms Int64,
  denied UInt8,
  close_reason Nullable(String),
  event_count Int64,
  first_event_at Nullable(Int64),
  last_event_at Nullable(Int64),
  platform String,
  raw_state Nullable(String),
  raw_reason Nullable(String),
  end_class Nullable(String),
  queued_ms Nullable(Int64),
  reconnect_count Int64,
  reconnect_ms Int64,
  external_id Nullable(String),
  change_seq UInt64
) ENGINE = ReplacingMergeTree(change_seq)
ORDER BY id
