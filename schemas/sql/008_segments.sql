-- sessionsink schema, version 8: the event log leaves the main file.
--
-- Events are kept in segment files beside the main file (`<db>.events/`,
-- schemas/segment.sql), appended by their own writer and deleted whole by
-- retention. Before this migration runs, the sink copies the rows of
-- `events` into the first segment (store/segment_log.cc); here the main
-- file keeps what it still needs of them and drops the table.

-- The catalog of the log's segments, as the sessions writer last saw it.
-- The files are the truth: a segment missing here is read from its file at
-- start, a row whose file is gone is dropped.
CREATE TABLE log_segments (
  id              INTEGER PRIMARY KEY,  -- the file <db>.events/seg-<id 8 digits>.db
  state           TEXT NOT NULL,        -- open | closed
  first_seq       INTEGER,              -- NULL while empty
  last_seq        INTEGER,
  events          INTEGER NOT NULL,
  rejected        INTEGER NOT NULL,
  min_received_at INTEGER,
  max_received_at INTEGER,
  min_utc_ms      INTEGER,
  max_utc_ms      INTEGER,
  bytes           INTEGER NOT NULL,     -- the file and its WAL
  closed_at       INTEGER               -- ms, sink clock
);

-- Stream-level events (source lost/ready, stream started/stopped): in no
-- session row, read by the outages report. Rare, so kept here whole,
-- beyond the retention of the log.
CREATE TABLE stream_events (
  seq         INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  server      TEXT,
  event       TEXT NOT NULL,
  utc_ms      INTEGER,
  body        TEXT NOT NULL,
  platform    TEXT
);
INSERT INTO stream_events(seq, received_at, server, event, utc_ms, body, platform)
  SELECT seq, received_at, server, event, utc_ms, body, platform FROM events
  WHERE event IN ('source_lost', 'source_ready', 'stream_started', 'stream_stopped');
CREATE INDEX stream_events_server ON stream_events(server, utc_ms);

-- Where a dead letter's durable copy is (its segment and row there), so that
-- replay after a crash copies each once.
ALTER TABLE rejected ADD COLUMN log_segment INTEGER;
ALTER TABLE rejected ADD COLUMN log_rowid INTEGER;
CREATE UNIQUE INDEX rejected_log ON rejected(log_segment, log_rowid) WHERE log_segment IS NOT NULL;

DROP TABLE events;
