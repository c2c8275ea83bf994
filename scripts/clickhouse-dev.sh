#!/usr/bin/env bash
# Runs a ClickHouse server for development and tests, in the foreground:
# its own config, data directory and loopback ports; no systemd, no root
# paths. Works with Debian 12's clickhouse-server (18.16) and current
# releases.
#
#   scripts/clickhouse-dev.sh DIR [HTTP_PORT] [TCP_PORT]
#
# DIR holds config.xml, users.xml, data and logs (created if missing).
# Defaults: HTTP 8123, native TCP 9000. The settings that matter for the
# Kafka tables are in users.xml's default profile (docs/clickhouse.md):
# input_format_skip_unknown_fields=1, read by the Kafka engine at start,
# stream_flush_interval_ms=1000 (rows reach the tables within a second or
# two), and in config.xml's <kafka> section: a 6 s consumer session timeout, so
# that a restarted server rejoins its consumer group in seconds, and
# auto.offset.reset=earliest, so that a new consumer group reads the topics
# from their start.
set -euo pipefail
dir=${1:?usage: clickhouse-dev.sh DIR [HTTP_PORT] [TCP_PORT]}
http=${2:-8123}
tcp=${3:-9000}
mkdir -p "$dir/data" "$dir/tmp" "$dir/log" "$dir/user_files" "$dir/format_schemas"
dir=$(cd "$dir" && pwd)
cat > "$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/clickhouse-server.log</log>
    <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
    <size>10M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>64</max_concurrent_queries>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <mark_cache_size>67108864</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
  <kafka>
    <session_timeout_ms>6000</session_timeout_ms>
    <heartbeat_interval_ms>1000</heartbeat_interval_ms>
    <!-- A new consumer group starts at the oldest message, not the next one:
         what the sinks produced before the tables existed is read too. -->
    <auto_offset_reset>earliest</auto_offset_reset>
  </kafka>
</yandex>
XML
cat > "$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <input_format_skip_unknown_fields>1</input_format_skip_unknown_fields>
      <output_format_json_quote_64bit_integers>0</output_format_json_quote_64bit_integers>
      <!-- Kafka engine: write a block at least every second (default 7.5 s). -->
      <stream_flush_interval_ms>1000</stream_flush_interval_ms>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
XML
exec clickhouse-server --config-file="$dir/config.xml"
