-- The platforms the adapters would report (the events above are in
-- Flussonic's format, so the store records them as flussonic).
UPDATE sessions SET platform = 'streampixel' WHERE id IN ('sp1', 'sp2', 'sp3');
UPDATE sessions SET platform = 'gamelift' WHERE id IN ('gl1', 'gl2', 'gl3');
UPDATE sessions SET platform = 'zego' WHERE id IN ('zp1', 'z1', 'z2');
