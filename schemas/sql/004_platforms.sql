-- sessionsink schema, version 4: one session model for every platform.
-- See docs/platforms.md for how each platform's states map onto it.

-- Which platform reported the session: flussonic (all rows before version
-- 4), streampixel, gamelift, zego.
ALTER TABLE sessions ADD COLUMN platform TEXT NOT NULL DEFAULT 'flussonic';  -- contract
-- The platform's own latest state and its end code or reason, verbatim
-- (Flussonic: the event name and the close reason).
ALTER TABLE sessions ADD COLUMN raw_state TEXT;                              -- contract
ALTER TABLE sessions ADD COLUMN raw_reason TEXT;                             -- contract
-- Why a finished session ended: normal, user_left, idle_timeout, limit,
-- denied, capacity, app_crash, network, admin_kick, internal, unknown.
-- NULL while the session is open.
ALTER TABLE sessions ADD COLUMN end_class TEXT;                              -- contract
-- Time spent waiting for capacity (a Streampixel queue, a GameLift
-- placement), ms; NULL when the session never waited.
ALTER TABLE sessions ADD COLUMN queued_ms INTEGER;                           -- contract
-- Reconnections (each one is also a stall interval) and their total time.
ALTER TABLE sessions ADD COLUMN reconnect_count INTEGER NOT NULL DEFAULT 0;  -- contract
ALTER TABLE sessions ADD COLUMN reconnect_ms INTEGER NOT NULL DEFAULT 0;     -- contract
-- The platform's own session id when it differs from id (Streampixel's
-- sessionId; ZEGO's login session_id).
ALTER TABLE sessions ADD COLUMN external_id TEXT;                            -- contract
-- Flussonic rows finished before version 4 get end_class and raw_state when
-- sessionsink first opens the file (the mapping lives in store/session.cc).
