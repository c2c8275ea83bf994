-- sessionsink schema, version 2: Kafka fan-out.

-- Every write of a session row takes the next change_seq, so the relay can
-- publish each change (including the sink's own closes) after its cursor.
ALTER TABLE sessions ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET change_seq = rowid;  -- rows from version 1 are published once
CREATE INDEX sessions_change ON sessions(change_seq);

-- How far the relay has delivered: 'events' (events.seq) and 'sessions'
-- (sessions.change_seq). Advanced only over successful delivery reports.
CREATE TABLE relay_cursors (
  name       TEXT PRIMARY KEY,
  seq        INTEGER NOT NULL,
  updated_at INTEGER NOT NULL          -- ms, sink clock
);

-- Messages Kafka refused for good (too large, not authorized, …); the relay
-- records them here and moves on.
CREATE TABLE kafka_dead_letters (
  id         INTEGER PRIMARY KEY,
  topic      TEXT NOT NULL,
  seq        INTEGER,                   -- events.seq, or sessions.change_seq
  key        TEXT,                      -- message key (session id / server)
  reason     TEXT NOT NULL,             -- Kafka's error
  failed_at  INTEGER NOT NULL           -- ms, sink clock
);
