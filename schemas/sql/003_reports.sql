-- sessionsink schema, version 3: what the reports need.

-- The viewer's network: 'a.b.c.0/24' for IPv4, the first 64 bits ('…::/64')
-- for IPv6, other text as is. The sharing report compares these, so carrier
-- address rotation inside one network is not taken for account sharing.
ALTER TABLE sessions ADD COLUMN ip_net TEXT;
UPDATE sessions SET ip_net = CASE
    WHEN ip GLOB '[0-9]*.[0-9]*.[0-9]*.[0-9]*' THEN rtrim(ip, '0123456789') || '0/24'
    ELSE ip END
  WHERE ip IS NOT NULL;  -- IPv6 rows are recomputed by sessionsink at start

-- Every stall of every session: [start_at, end_at), end_at NULL while the
-- session is still stalling. Kept in step with sessions.stall_count.
CREATE TABLE stall_intervals (
  session_id TEXT NOT NULL,
  start_at   INTEGER NOT NULL,         -- ms
  end_at     INTEGER,                  -- ms; NULL: still stalling
  PRIMARY KEY (session_id, start_at)
) WITHOUT ROWID;

-- The sources report finds each source's viewers. (Reports otherwise scan
-- the table: nearly all sessions are plays, and a scan beats walking an
-- index row by row.)
CREATE INDEX sessions_source ON sessions(source_id) WHERE source_id IS NOT NULL;
