-- The database of the fleet's sessions and events. {database} and the other
-- {names} are filled in by `sessionsink clickhouse init`.
CREATE DATABASE IF NOT EXISTS {database}
