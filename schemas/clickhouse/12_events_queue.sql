-- The consumer of the ClickHouse events topic: the envelopes the sink builds
-- (fanout/clickhouse_message.h), never the raw bodies of the events topic,
-- so that no message can stall it.
CREATE TABLE IF NOT EXISTS {database}.events_queue (
  sink String,
  seq UInt64,
  server Nullable(String),
  kind Nullable(String),
  phase Nullable(String),
  session_id Nullable(String),
  body String
) ENGINE = Kafka
SETTINGS kafka_broker_list = '{brokers}',
         kafka_topic_list = '{events_topic}',
         kafka_group_name = '{group}_events',
         kafka_format = 'JSONEachRow',
         kafka_num_consumers = 1
