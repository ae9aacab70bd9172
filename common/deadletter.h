/* The dead-letter envelope: one format on <prefix>.dlq for both programs.
 *
 *   key      the city (so one city's dead letters keep their order on one partition)
 *   value    the input exactly as it was rejected: the source row's text (bytes that are not
 *            UTF-8 replaced by \u0000), or the Kafka message's value; its first
 *            DEADLETTER_MAX_VALUE bytes when it was longer (always deliverable)
 *   headers  blotter.reason       why it was rejected (the same text as the log line)
 *            blotter.rejected_by  blotter-producer or blotter-consumer
 *            blotter.rejected_at  when, UTC, 2024-02-15T07:09:00.000Z
 *            blotter.city         the city
 *            blotter.source       where the value came from: a source kind (socrata) or kafka
 *            blotter.truncated    only when the value was cut: the input's length in bytes
 *   and, from a source kind:
 *            blotter.dataset      the city's dataset (Socrata's dataset id)
 *   or, from Kafka:
 *            blotter.topic, blotter.partition, blotter.offset   the message's place
 *            blotter.key          its key, when it had one */
#ifndef BLOTTER_DEADLETTER_H
#define BLOTTER_DEADLETTER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes of a rejected input a dead letter carries (and of its reason and key), well
 * under Kafka's default message.max.bytes (1 MB): a dead letter is always deliverable. */
#define DEADLETTER_MAX_VALUE  65536
#define DEADLETTER_MAX_REASON 1024
#define DEADLETTER_MAX_KEY    1024

struct deadletter {
    const char *reason;
    const char *rejected_by; /* the program */
    const char *city;
    const char *source;  /* a source kind's name, or "kafka" */
    const char *dataset; /* source kinds */
    const char *topic;   /* Kafka: NULL otherwise */
    int32_t partition;
    int64_t offset;
    const void *key; /* Kafka: the original key, or NULL */
    size_t key_len;
};

/* The headers of dl, stamped at now_us (a new list the caller gives to rd_kafka_producev or
 * destroys). */
rd_kafka_headers_t *deadletter_headers(const struct deadletter *dl, int64_t now_us);

/* Produce value[0..len) (copied; cut at DEADLETTER_MAX_VALUE with blotter.truncated) to topic with
 * dl's key and headers; opaque goes to the delivery report. Returns librdkafka's answer: on an
 * error nothing was queued. */
rd_kafka_resp_err_t deadletter_produce(rd_kafka_t *rk, const char *topic,
                                       const struct deadletter *dl, const void *value, size_t len,
                                       void *opaque);

/* The city of an incidents topic "<prefix>.incidents.<city>" into buf, or "" when topic is not
 * one. */
void deadletter_city_of_topic(const char *topic, char *buf, size_t n);

#endif
