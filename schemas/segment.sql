-- sessionsink event log segment, format 1.
--
-- The event log is a sequence of these files in the directory beside the
-- main file (`<db>.events/seg-<id>.db`). The open segment is appended by the
-- log writer (one connection, the only one that writes or checkpoints it);
-- a closed one never changes again and is deleted whole by retention
-- (docs/operations.md, "Retention"). `seq` continues from one segment to
-- the next: it is the log position, never reused.
CREATE TABLE events (
  seq         INTEGER PRIMARY KEY,  -- contract: monotonically increasing, never reused
  received_at INTEGER NOT NULL,     -- contract: sink clock when the request arrived
  server      TEXT,                 -- contract: "server" field of the event
  event       TEXT NOT NULL,        -- contract: "event" field, verbatim
  kind        TEXT,                 -- play|publish|ingest|push|stream, NULL if no session
  phase       TEXT,                 -- normalized phase (opened, started, stalled, …)
  session_id  TEXT,                 -- contract: "id" of the session, NULL if none
  utc_ms      INTEGER,              -- contract: "utc_ms" normalized to ms
  event_id    INTEGER,              -- "event_id" field
  dedup       INTEGER NOT NULL,     -- 64-bit hash of (server, event, id, utc_ms, event_id)
  body        TEXT NOT NULL,        -- contract: the event as stored (see store/event.h)
  platform    TEXT                  -- NULL for Flussonic, else the platform that parsed it
);
-- Dedup within the segment: led by time, so new keys land together at its end.
CREATE INDEX events_dedup ON events(utc_ms, dedup);
-- nginx-rtmp callbacks in arrival order: at start the sink reads the recent
-- ones back to remember which session each nginx connection is in.
CREATE INDEX events_nginx_rtmp ON events(received_at) WHERE event GLOB 'nginx-rtmp.*';

-- Dead letters, durable with the request that brought them (the main file's
-- `rejected` is a bounded copy the sessions writer keeps). after_seq: the
-- last seq of the log when they were committed (replay copies those after
-- the sessions watermark).
CREATE TABLE rejected (
  id          INTEGER PRIMARY KEY,
  after_seq   INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  remote_addr TEXT,
  reason      TEXT NOT NULL,
  item_index  INTEGER,
  server      TEXT,
  body        BLOB NOT NULL
);

-- What the segment knows of its place in the log: 'base_seq', the last seq
-- of the log when the segment was created (its first event is after it, so
-- seqs are never reused even when retention deleted every earlier segment).
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
