-- Spreads the sessions of scripts/gen_sessions.sql over the platforms and
-- fills the columns of schema version 4 the reports read: platform (60 %
-- flussonic, 20 % streampixel, 10 % gamelift, 10 % zego), end_class and
-- raw_reason of finished sessions (some raw_reason NULL, some end_class
-- 'unknown' or NULL), queued_ms (half the Streampixel and GameLift sessions waited)
-- and authorized_at (two thirds of the sessions, before or after started_at).
BEGIN;
UPDATE sessions SET platform = CASE abs(random()) % 10
    WHEN 6 THEN 'streampixel' WHEN 7 THEN 'streampixel'
    WHEN 8 THEN 'gamelift' WHEN 9 THEN 'zego' ELSE 'flussonic' END;
UPDATE sessions SET
    end_class = CASE WHEN state = 'finished' THEN
      CASE abs(random()) % 14
        WHEN 0 THEN 'user_left' WHEN 1 THEN 'idle_timeout' WHEN 2 THEN 'limit'
        WHEN 3 THEN 'denied' WHEN 4 THEN 'capacity' WHEN 5 THEN 'app_crash'
        WHEN 6 THEN 'network' WHEN 7 THEN 'admin_kick' WHEN 8 THEN 'internal'
        WHEN 9 THEN 'unknown' WHEN 10 THEN NULL ELSE 'normal' END END,
    raw_reason = CASE WHEN state = 'finished' AND abs(random()) % 5 <> 0 THEN
      substr(platform, 1, 2) || '_' || (abs(random()) % 6) END,
    queued_ms = CASE WHEN platform IN ('streampixel', 'gamelift') AND abs(random()) % 2 = 0
      THEN abs(random()) % 90000 END,
    authorized_at = CASE WHEN opened_at IS NOT NULL AND abs(random()) % 3 <> 0
      THEN opened_at + abs(random()) % 2000 END;
COMMIT;
ANALYZE;
