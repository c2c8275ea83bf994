-- sessionsink schema, version 5: the Kafka relay's session feed becomes an
-- append-only log. The index on sessions.change_seq cost a random page write
-- on every session update (the old entry's delete), ~20 % of ingest; appends
-- to this table are sequential, and it is written only while Kafka fan-out
-- is configured (sessionsink fills it from sessions.change_seq when fan-out
-- is turned on again). The relay publishes each listed session whose row
-- still has that change_seq, and the writer drops entries at or below the
-- relay's delivered cursor.
DROP INDEX IF EXISTS sessions_change;
CREATE TABLE session_changes (
  change_seq INTEGER PRIMARY KEY,  -- sessions.change_seq of the write
  id         TEXT NOT NULL         -- sessions.id
);
