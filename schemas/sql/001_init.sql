-- sessionsink schema, version 1.
-- All times are INTEGER milliseconds since the Unix epoch (UTC) unless a
-- column says otherwise. Columns marked "contract" are read by users and by
-- reports; they change only through a new migration file.

-- The append log of every distinct accepted event; also the Kafka outbox.
CREATE TABLE events (
  seq         INTEGER PRIMARY KEY,  -- contract: monotonically increasing, never reused
  received_at INTEGER NOT NULL,     -- contract: sink clock when the request arrived
  server      TEXT,                 -- contract: "server" field of the event
  event       TEXT NOT NULL,        -- contract: "event" field, verbatim
  kind        TEXT,                 -- contract: play|publish|ingest|push|stream, NULL if no session
  phase       TEXT,                 -- normalized phase (opened, started, stalled, …), NULL if none
  session_id  TEXT,                 -- contract: "id" of the session, NULL if none
  utc_ms      INTEGER,              -- contract: "utc_ms" normalized to ms
  event_id    INTEGER,              -- "event_id" field
  dedup       INTEGER NOT NULL,     -- 64-bit hash of (server, event, id, utc_ms, event_id)
  body        TEXT NOT NULL         -- contract: the event JSON exactly as received
);
-- Duplicate detection: led by time so recent entries stay together.
CREATE INDEX events_dedup ON events(utc_ms, dedup);

-- One row per session, merged from its events (see store/session.h).
CREATE TABLE sessions (
  id            TEXT PRIMARY KEY,   -- contract: session id ("id" of its events)
  kind          TEXT NOT NULL,      -- contract: play|publish|ingest|push|stream
  state         TEXT NOT NULL,      -- contract: establishing|running|stalling|finished
  server        TEXT,               -- contract
  media         TEXT,               -- contract
  source_id     TEXT,               -- contract: the source session feeding this one
  parent_id     TEXT,               -- contract: the stream session
  user_id       TEXT,               -- contract
  token         TEXT,               -- contract
  ip            TEXT,               -- contract
  proto         TEXT,               -- contract
  country       TEXT,               -- contract
  user_agent    TEXT,               -- contract
  referer       TEXT,               -- contract
  url           TEXT,               -- contract
  opened_at     INTEGER,            -- contract: earliest
  authorized_at INTEGER,            -- contract: earliest
  started_at    INTEGER,            -- contract: earliest
  updated_at    INTEGER,            -- contract: latest
  closed_at     INTEGER,            -- contract: from closed/denied, or the sink's close
  bytes         INTEGER,            -- contract: bytes, maximum reported (cumulative)
  duration_ms   INTEGER,            -- contract: "duration" (seconds) × 1000, maximum reported
  stall_count   INTEGER NOT NULL,   -- contract: number of stall intervals
  stalled_ms    INTEGER NOT NULL,   -- contract: total time in stall intervals
  denied        INTEGER NOT NULL,   -- contract: 1 if a denied event was seen
  close_reason  TEXT,               -- contract: "reason" (JSON text when an object), or
                                    --   'sink_timeout' / 'server_restart' when the sink closed it
  event_count   INTEGER NOT NULL,   -- contract: distinct events merged
  last_event_at INTEGER,            -- contract: latest event time (utc_ms, sender clock)
  first_event_at INTEGER,           -- earliest event time (sender clock)
  seen_at       INTEGER NOT NULL,   -- sink clock when the newest event arrived (idle timeout)
  merge_state   TEXT NOT NULL       -- internal: provenance and stall instants for the merge
);
-- Open sessions, for the idle sweep and for server restarts. Every index here
-- costs a random page write per session update, so there are few.
CREATE INDEX sessions_open ON sessions(seen_at) WHERE state <> 'finished';

-- Dead letters: bodies and items that could not be accepted, with the reason.
CREATE TABLE rejected (
  id          INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,     -- contract
  remote_addr TEXT,                 -- contract: sender address
  reason      TEXT NOT NULL,        -- contract: why it was rejected
  item_index  INTEGER,              -- position in the request, NULL for a whole body
  server      TEXT,                 -- "server" field when the item had one
  body        BLOB NOT NULL         -- contract: the body or item as received
);

-- Per sending server: counters and the latest restart seen.
CREATE TABLE servers (
  server        TEXT PRIMARY KEY,
  events        INTEGER NOT NULL DEFAULT 0,  -- distinct events accepted
  duplicates    INTEGER NOT NULL DEFAULT 0,  -- duplicate events received
  rejected      INTEGER NOT NULL DEFAULT 0,  -- items rejected
  last_event_at INTEGER,                     -- latest event time (sender clock)
  last_seen_at  INTEGER,                     -- latest receive time (sink clock)
  restart_at    INTEGER                      -- latest server_started time
);
