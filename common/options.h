/* Every setting of every Blotter program, declared once. This table drives parsing (config file,
 * BLOTTER_* environment, command-line flags), validation, --help and the README's settings table.
 *
 * X(ID, name, type, default, choices-or-range, programs, flags, help)
 *   name      file key; environment BLOTTER_<NAME>; flag --<name with - for _>
 *   choices   OPT_ENUM: "a|b|c"; OPT_INT: "min..max"; otherwise ""
 *   programs  P_PRODUCER | P_CONSUMER | P_SERVER | P_DASHBOARD
 *   flags     F_SECRET (never logged; also read from BLOTTER_<NAME>_FILE), F_LIST (repeatable,
 *             comma-separated), F_CLI (command line only) */
#ifndef BLOTTER_OPTIONS_H
#define BLOTTER_OPTIONS_H

#define BLOTTER_OPTIONS(X)                                                                         \
    X(CONFIG, "config", OPT_STRING, "", "", P_ALL, 0,                                              \
      "Optional settings file (key = value lines); the environment overrides it")                  \
    X(LOG_LEVEL, "log_level", OPT_ENUM, "info", "debug|info|warn|error", P_ALL, 0,                 \
      "Lowest level written to stderr")                                                            \
    X(LOG_FORMAT, "log_format", OPT_ENUM, "logfmt", "logfmt|json", P_ALL, 0, "Log line format")    \
    X(HTTP_LISTEN, "http_listen", OPT_STRING, "", "", P_PRODUCER | P_CONSUMER | P_DASHBOARD, 0,    \
      "host:port serving /metrics, /healthz and /readyz; empty disables it (the dashboard serves " \
      "its page, API and feed there too; empty means 127.0.0.1:18090 for it)")                     \
    X(KAFKA_BROKERS, "kafka_brokers", OPT_STRING, "127.0.0.1:19092", "", P_PRODUCER | P_CONSUMER,  \
      0, "Kafka bootstrap servers; other librdkafka properties pass through as BLOTTER_KAFKA_*")   \
    X(TOPIC_PREFIX, "topic_prefix", OPT_STRING, "blotter", "", P_PRODUCER | P_CONSUMER, 0,         \
      "Prefix of every topic: <prefix>.incidents.<city>, <prefix>.producer-state, <prefix>.dlq")   \
    X(TOPIC_PARTITIONS, "topic_partitions", OPT_INT, "6", "1..1024", P_PRODUCER | P_CONSUMER, 0,   \
      "Partitions of an incidents topic when Blotter creates it")                                  \
    X(TOPIC_REPLICATION, "topic_replication", OPT_INT, "1", "1..16", P_PRODUCER | P_CONSUMER, 0,   \
      "Replication factor of topics Blotter creates")                                              \
    X(SCHEMA_REGISTRY_ID, "schema_registry_id", OPT_INT, "0", "0..2147483647",                     \
      P_PRODUCER | P_CONSUMER, 0,                                                                  \
      "Registry id of schemas/incident.avsc; non-zero selects Confluent framing, 0 single-object") \
    X(CITIES_DIR, "cities_dir", OPT_STRING, BLOTTER_DEFAULT_CITIES_DIR, "", P_ALL, 0,              \
      "Folder of city files (one JSON file per city)")                                             \
    X(CITY, "city", OPT_STRING, "", "", P_ALL, F_LIST,                                             \
      "City to work on (repeatable for the consumer and the server; default all)")                 \
    X(SOURCE_BASE_URL, "source_base_url", OPT_STRING, "", "", P_PRODUCER, 0,                       \
      "Replaces the scheme and host of every city's URLs, every kind (mirrors, the local server)") \
    X(SOCRATA_BASE_URL, "socrata_base_url", OPT_STRING, "", "", P_PRODUCER, 0,                     \
      "Alias of source_base_url (source_base_url wins when both are set)")                         \
    X(SOCRATA_APP_TOKEN, "socrata_app_token", OPT_STRING, "", "", P_PRODUCER, F_SECRET,            \
      "Socrata app token, sent as X-App-Token")                                                    \
    X(PAGE_SIZE, "page_size", OPT_INT, "5000", "1..50000", P_PRODUCER, 0,                          \
      "Rows per Socrata request (ArcGIS: unless the city file says; CSV: a page is a file)")       \
    X(WORKERS, "workers", OPT_INT, "2", "1..64", P_PRODUCER, 0,                                    \
      "Threads that parse, map, encode and publish rows")                                          \
    X(POLL_INTERVAL_S, "poll_interval_s", OPT_INT, "60", "1..86400", P_PRODUCER, 0,                \
      "Seconds between incremental passes")                                                        \
    X(HTTP_TIMEOUT_S, "http_timeout_s", OPT_INT, "60", "1..3600", P_PRODUCER, 0,                   \
      "Timeout of one source request (a whole CSV file: 30 times this)")                           \
    X(MAX_RESPONSE_MB, "max_response_mb", OPT_INT, "1024", "1..65536", P_PRODUCER, 0,              \
      "Most MiB of one response body after decompression (a CSV page is a whole file): more "      \
      "fails the page, retried; a gzip bomb is never inflated past it")                            \
    X(STALL_S, "stall_s", OPT_INT, "30", "1..3600", P_PRODUCER, 0,                                 \
      "A response that brings less than a byte a second for this long fails, retried (the "        \
      "whole request is bounded by http_timeout_s)")                                               \
    X(MAX_ROW_BYTES, "max_row_bytes", OPT_INT, "1048576", "1024..268435456", P_PRODUCER, 0,        \
      "Most bytes of one row's text; a longer row is a dead letter (no more of it is ever held)")  \
    X(MAX_FIELD_BYTES, "max_field_bytes", OPT_INT, "65536", "16..65536", P_PRODUCER, 0,            \
      "Most bytes of one field's value; a row with a longer one is a dead letter (the "            \
      "warehouse's "                                                                               \
      "indexed fields, incident_id, area, take at most 512 whatever this says)")                   \
    X(MAX_JSON_DEPTH, "max_json_depth", OPT_INT, "32", "2..1000", P_PRODUCER, 0,                   \
      "Deepest nesting of arrays and objects in one row; a deeper row is a dead letter")           \
    X(MAX_FIELDS, "max_fields", OPT_INT, "1000", "1..1000", P_PRODUCER, 0,                         \
      "Most fields of one row; a row with more is a dead letter")                                  \
    X(RETRY_MAX, "retry_max", OPT_INT, "10", "0..1000", P_PRODUCER, 0,                             \
      "Retries of one page on 429/5xx/202/timeouts before the pass fails")                         \
    X(BACKOFF_MS, "backoff_ms", OPT_INT, "500", "1..600000",                                       \
      P_PRODUCER | P_CONSUMER | P_DASHBOARD, 0,                                                    \
      "First retry delay; doubles each retry, with jitter")                                        \
    X(BACKOFF_MAX_MS, "backoff_max_ms", OPT_INT, "60000", "1..3600000",                            \
      P_PRODUCER | P_CONSUMER | P_DASHBOARD, 0, "Longest retry delay")                             \
    X(ONCE, "once", OPT_BOOL, "false", "", P_PRODUCER, F_CLI,                                      \
      "Do one complete incremental pass and exit")                                                 \
    X(SINCE, "since", OPT_TIME, "", "", P_PRODUCER, F_CLI,                                         \
      "Backfill incidents that occurred from this local time of the city (ISO 8601)")              \
    X(UNTIL, "until", OPT_TIME, "", "", P_PRODUCER, F_CLI,                                         \
      "Backfill up to this local time (exclusive)")                                                \
    X(REDIS_URL, "redis_url", OPT_STRING, "redis://127.0.0.1:16379/0", "", P_CONSUMER, F_SECRET,   \
      "Redis for the seen-set (redis://[:password@]host:port/db); empty disables it")              \
    X(PG_DSN, "pg_dsn", OPT_STRING, "postgresql://blotter@127.0.0.1:15432/blotter", "",            \
      P_CONSUMER, F_SECRET, "PostgreSQL warehouse (libpq conninfo or URI)")                        \
    X(OWNER_PG_DSN, "owner_pg_dsn", OPT_STRING, "", "", P_CONSUMER, F_SECRET,                      \
      "The warehouse as the migrations' owner (libpq conninfo or URI); empty: pg_dsn applies "     \
      "them (then pg_dsn must own the schema)")                                                    \
    X(GROUP_ID, "group_id", OPT_STRING, "", "", P_CONSUMER, 0,                                     \
      "Consumer group; default <prefix>.warehouse")                                                \
    X(BATCH_SIZE, "batch_size", OPT_INT, "5000", "1..1000000", P_CONSUMER, 0,                      \
      "Most records in one warehouse transaction")                                                 \
    X(BATCH_TIMEOUT_MS, "batch_timeout_ms", OPT_INT, "200", "1..600000", P_CONSUMER, 0,            \
      "Longest wait to fill a batch")                                                              \
    X(SEEN_BUCKETS, "seen_buckets", OPT_INT, "4096", "1..16777216", P_CONSUMER, 0,                 \
      "Redis hashes per city in the seen-set (about incidents/400)")                               \
    X(GROUP_INSTANCE_ID, "group_instance_id", OPT_STRING, "", "", P_CONSUMER, 0,                   \
      "Static group membership id (group.instance.id); default <hostname>-<slot>, none: dynamic")  \
    X(UNTIL_IDLE_S, "until_idle", OPT_INT, "0", "0..86400", P_CONSUMER, F_CLI,                     \
      "Exit 0 once the group is done (every partition committed to its end) and nothing new "      \
      "arrived for this many seconds (0: run forever)")                                            \
    X(UNTIL_IDLE_MAX_S, "until_idle_max", OPT_INT, "0", "0..604800", P_CONSUMER, F_CLI,            \
      "With --until-idle or --replay: exit 1 when not done after this many seconds (0: no bound)") \
    X(REPLAY, "replay", OPT_BOOL, "false", "", P_CONSUMER, F_CLI,                                  \
      "Reprocess a time range under a group of its own")                                           \
    X(FROM, "from", OPT_TIME, "", "", P_CONSUMER, F_CLI, "Replay: first Kafka timestamp")          \
    X(TO, "to", OPT_TIME, "", "", P_CONSUMER, F_CLI, "Replay: end Kafka timestamp (exclusive)")    \
    X(LISTEN, "listen", OPT_STRING, "127.0.0.1:18080", "", P_SERVER, 0,                            \
      "host:port of the local Socrata-compatible server")                                          \
    X(ROWS, "rows", OPT_INT, "10000", "0..100000000", P_SERVER, 0, "Generated rows per city")      \
    X(SEED, "seed", OPT_INT, "1", "0..2147483647", P_SERVER, 0, "Seed of the generated rows")      \
    X(LIVE_RATE, "live_rate", OPT_INT, "0", "0..100000", P_SERVER, 0,                              \
      "Live mode: new or updated incidents per second per city (0: static)")                       \
    /* ---- blotter-dashboard ---- */                                                              \
    X(READER_PG_DSN, "reader_pg_dsn", OPT_STRING,                                                  \
      "postgresql://blotter_reader@127.0.0.1:15432/blotter", "", P_DASHBOARD, F_SECRET,            \
      "The warehouse as its read-only role (SELECT, LISTEN), libpq conninfo or URI")               \
    X(HTTP_THREADS, "http_threads", OPT_INT, "4", "1..64", P_DASHBOARD, 0,                         \
      "Threads serving HTTP, each an event loop for its connections (an API query holds one)")     \
    X(DB_CONNECTIONS, "db_connections", OPT_INT, "4", "1..64", P_DASHBOARD, 0,                     \
      "PostgreSQL connections for API queries")                                                    \
    X(QUERY_TIMEOUT_MS, "query_timeout_ms", OPT_INT, "10000", "100..600000", P_DASHBOARD, 0,       \
      "statement_timeout of one API query")                                                        \
    X(MAX_STREAMS, "max_streams", OPT_INT, "1000", "1..50000", P_DASHBOARD, 0,                     \
      "Most open /events streams; one more is answered 503")                                       \
    X(HEARTBEAT_S, "heartbeat_s", OPT_INT, "15", "1..300", P_DASHBOARD, 0,                         \
      "Seconds between heartbeat comments on /events (proxies keep the stream open)")              \
    X(EVENT_RING, "event_ring", OPT_INT, "1024", "1..1000000", P_DASHBOARD, 0,                     \
      "Recent events kept for Last-Event-ID resume")                                               \
    X(CACHE_MS, "cache_ms", OPT_INT, "2000", "0..600000", P_DASHBOARD, 0,                          \
      "An API answer is reused this long unless a batch commits meanwhile (0: no cache)")

#endif
