-- What the platform adapters would record: platform, end class and raw reason.
-- fe is open (no end_class yet); ff is finished without one.
UPDATE sessions SET platform = 'flussonic', end_class = 'normal', raw_reason = NULL WHERE id = 'fa';
UPDATE sessions SET platform = 'flussonic', end_class = 'normal', raw_reason = NULL WHERE id = 'fb';
UPDATE sessions SET platform = 'flussonic', end_class = 'normal', raw_reason = NULL WHERE id = 'fc';
UPDATE sessions SET platform = 'flussonic', end_class = 'network', raw_reason = '{"code":"timeout"}' WHERE id = 'fd';
UPDATE sessions SET platform = 'flussonic', end_class = NULL, raw_reason = NULL WHERE id = 'fe';
UPDATE sessions SET platform = 'flussonic', end_class = NULL, raw_reason = NULL WHERE id = 'ff';
UPDATE sessions SET platform = 'streampixel', end_class = 'user_left', raw_reason = 'disconnected' WHERE id = 'sa';
UPDATE sessions SET platform = 'streampixel', end_class = 'user_left', raw_reason = 'disconnected' WHERE id = 'sb';
UPDATE sessions SET platform = 'streampixel', end_class = 'capacity', raw_reason = 'queue_timeout' WHERE id = 'sc';
UPDATE sessions SET platform = 'streampixel', end_class = 'app_crash', raw_reason = 'UE4 crashed' WHERE id = 'sd';
UPDATE sessions SET platform = 'streampixel', end_class = 'idle_timeout', raw_reason = 'afk' WHERE id = 'se';
UPDATE sessions SET platform = 'streampixel', end_class = 'user_left', raw_reason = NULL WHERE id = 'sf';
UPDATE sessions SET platform = 'gamelift', end_class = 'limit', raw_reason = 'maxSessionLengthTimeout' WHERE id = 'ga';
UPDATE sessions SET platform = 'gamelift', end_class = 'capacity', raw_reason = 'placementTimeout' WHERE id = 'gb';
UPDATE sessions SET platform = 'gamelift', end_class = 'app_crash', raw_reason = 'applicationExit' WHERE id = 'gc';
UPDATE sessions SET platform = 'gamelift', end_class = 'unknown', raw_reason = 'someNewReason' WHERE id = 'gd';
UPDATE sessions SET platform = 'gamelift', end_class = 'unknown', raw_reason = NULL WHERE id = 'ge';
UPDATE sessions SET platform = 'gamelift', end_class = 'capacity', raw_reason = 'placementTimeout' WHERE id = 'gf';
UPDATE sessions SET platform = 'zego', end_class = 'user_left', raw_reason = '0' WHERE id = 'za';
UPDATE sessions SET platform = 'zego', end_class = 'network', raw_reason = '1' WHERE id = 'zb';
UPDATE sessions SET platform = 'zego', end_class = 'network', raw_reason = '1' WHERE id = 'zc';
UPDATE sessions SET platform = 'zego', end_class = 'network', raw_reason = '1' WHERE id = 'zd';
UPDATE sessions SET platform = 'zego', end_class = 'admin_kick', raw_reason = '3' WHERE id = 'ze';
UPDATE sessions SET platform = 'zego', end_class = 'normal', raw_reason = '0' WHERE id = 'zp';
