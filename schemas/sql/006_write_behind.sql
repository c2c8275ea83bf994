-- sessionsink schema, version 6: sessions are written behind the event log.
--
-- A 2xx now waits only for the request's events (and dead letters) to be
-- committed in `events`. Open sessions are merged in memory and written to
-- `sessions` at most --session-flush later; the flush transaction also
-- records how far into the log the table is complete (the watermark). At
-- start, events after the watermark are replayed through the same merge.

-- How far the sessions table reflects the log: every event with a seq at
-- or below `sessions_watermark` is merged into the rows. Rows written before
-- version 6 were written with their events, so the whole log is covered.
CREATE TABLE store_state (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO store_state(name, value)
  SELECT 'sessions_watermark', coalesce(max(seq), 0) FROM events;

-- The highest events.seq merged into the row (NULL: written before version
-- 6, when rows were written with their events). Replay skips the events a
-- row already holds, so a row written ahead of the watermark is exact too.
ALTER TABLE sessions ADD COLUMN last_seq INTEGER;
-- The seqs of the session's events (up to a bound; see store/session_table.h),
-- delta-encoded varints: a session's timeline reads its events by primary key
-- instead of scanning the log, which has no index on session_id.
ALTER TABLE sessions ADD COLUMN event_seqs BLOB;

-- Which parser produced the event, so that replay reads it back the same
-- way: NULL for Flussonic (and every event before version 6), else the
-- platform (streampixel, gamelift, zego, ...).
ALTER TABLE events ADD COLUMN platform TEXT;

-- The open sessions, for the index the sink rebuilds in memory at start.
-- It replaces the index on seen_at: the idle sweep and server restarts now
-- work from memory. Rows are written without touching it unless their
-- server or their state crosses 'finished'.
DROP INDEX IF EXISTS sessions_open;
CREATE INDEX sessions_open ON sessions(server) WHERE state <> 'finished';
