-- sessionsink schema, version 7: stream availability and nginx-rtmp.
-- (Version 6 is the store's own; a file migrated before it was merged keeps
-- working: these are indexes only, created if missing.)
--
-- The outages report reads Flussonic's stream-level events (no session id,
-- so they are in no session row) from `events`. They are rare (one per
-- source loss or stream start/stop), so a partial index holds just them and
-- costs nothing for every other event written.
CREATE INDEX IF NOT EXISTS events_stream_state ON events(server, utc_ms)
  WHERE event IN ('source_lost', 'source_ready', 'stream_started', 'stream_stopped');
-- nginx-rtmp callbacks, in arrival time: at start the sink reads back the
-- recent ones to remember which session each nginx connection is in
-- (ingest/platforms/nginx_rtmp.h).
CREATE INDEX IF NOT EXISTS events_nginx_rtmp ON events(received_at)
  WHERE event GLOB 'nginx-rtmp.*';
