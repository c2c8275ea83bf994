-- Moves what sessions_queue consumes into sessions.
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.sessions_mv TO {database}.sessions AS
SELECT id, kind, state, server, media, source_id, parent_id, user_id, token, ip, proto, country,
       user_agent, referer, url, opened_at, authorized_at, started_at, updated_at, closed_at,
       bytes, duration_ms, stall_count, stalled_ms, denied, close_reason, event_count,
       first_event_at, last_event_at, platform, raw_state, raw_reason, end_class, queued_ms,
       reconnect_count, reconnect_ms, external_id, toUInt64(change_seq) AS change_seq
FROM {database}.sessions_queue
