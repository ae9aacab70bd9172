/* Kafka helpers: a librdkafka configuration from Blotter's defaults plus BLOTTER_KAFKA_<PROPERTY>
 * passthrough, topic names, and topic creation through the admin API. */
#ifndef BLOTTER_KAFKA_H
#define BLOTTER_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

enum kafka_role { KAFKA_PRODUCER, KAFKA_CONSUMER };

/* A configuration for role: Blotter's defaults (idempotent acks=all compressed producer; consumer
 * with manual offset store), bootstrap.servers = brokers, then every BLOTTER_KAFKA_<PROPERTY> of
 * envp (PROPERTY lower-cased, '_' -> '.'; a _FILE suffix reads the value from that file), the log
 * callback routed into Blotter's log. NULL with errstr on a bad property. */
rd_kafka_conf_t *kafka_conf_new(enum kafka_role role, const char *brokers, char **envp,
                                char *errstr, size_t errstr_size);

/* With librdkafka 2.1 or later, -1: kafka_conf_new gives consumers fetch.queue.backoff.ms (10 ms
 * unless BLOTTER_KAFKA_FETCH_QUEUE_BACKOFF_MS says otherwise). Before 2.1 the library pauses a
 * full fetch queue for a fixed second; then the interval at which a consumer should wake its
 * fetchers (consumers/fetchwake.h): that variable of envp, 10 by default, and -1 (do not wake)
 * for 1000 or more, the library's own second. */
long kafka_fetch_wake_ms(char **envp);

/* rd_kafka_new that always takes conf: librdkafka's on success, destroyed on failure (then NULL
 * with errstr). The one place that rule is written. */
rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
                      size_t errstr_size);

/* "<prefix>.incidents.<city>", "<prefix>.producer-state", "<prefix>.dlq" into buf. */
void kafka_topic_incidents(char *buf, size_t n, const char *prefix, const char *city);
void kafka_topic_state(char *buf, size_t n, const char *prefix);
void kafka_topic_dlq(char *buf, size_t n, const char *prefix);

struct kafka_topic_spec {
    const char *name;
    int partitions;
    int replication;
    int compact; /* cleanup.policy=compact when non-zero */
};

/* Create the topics that do not exist yet; one that already exists counts as success. */
enum err_class kafka_ensure_topics(rd_kafka_t *rk, const struct kafka_topic_spec *specs, size_t n,
                                   int timeout_ms, char *errstr, size_t errstr_size);

/* True once a broker refused this process's clients for who they are or how they came: SASL
 * authentication failed, the TLS handshake failed (an untrusted certificate), or plaintext was
 * sent to a TLS listener (seen twice: once may be a broker going down). why: the first
 * such message. Read by kafka_ensure_topics, which then fails ERR_FATAL before data moves. */
bool kafka_refused(char *why, size_t n);

/* Classify a librdkafka error: ERR__FATAL and authentication/authorization as fatal, the rest as
 * transient. */
enum err_class kafka_err_class(rd_kafka_t *rk, rd_kafka_resp_err_t err);

#endif
