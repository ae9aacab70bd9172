/* Publishing: incidents to <prefix>.incidents.<city> (key = incident_id), rejected rows to
 * <prefix>.dlq (common/deadletter.h), and the checkpoint's messages, through one idempotent
 * librdkafka producer. Every message of a page ends in the page ledger exactly once: at its
 * delivery report, or at once when producing it failed (then the page cannot complete and the
 * checkpoint does not pass it; librdkafka retries delivery itself, nothing is produced twice). */
#ifndef BLOTTER_PUBLISH_H
#define BLOTTER_PUBLISH_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "common/deadletter.h"
#include "producers/ledger.h"
#include "producers/stats.h"

#define PUBLISH_HDR_FP   "blotter.fp"
#define PUBLISH_HDR_UNIT "blotter.unit"

struct publisher;

/* Takes conf (also when it fails). NULL with errstr when librdkafka refuses it. */
struct publisher *publisher_new(rd_kafka_conf_t *conf, struct ledger *ledger,
                                struct producer_stats *stats, const char *topic,
                                const char *dlq_topic, char *errstr, size_t errstr_size);
void publisher_destroy(struct publisher *pub);

/* The producer handle (topic creation, checkpoints, polling). */
rd_kafka_t *publisher_rk(struct publisher *pub);

/* Serve delivery reports for up to timeout_ms. */
void publisher_poll(struct publisher *pub, int timeout_ms);

/* A message of pg (whose ledger count already includes it). publish_incident takes value (a
 * malloc'ed Avro message); a snapshot kind's fp_hex and unit (else NULL) go into the headers
 * blotter.fp and blotter.unit, from which the snapshot is rebuilt at start (PUBLISH_HDR_*);
 * publish_dead_letter copies raw. While librdkafka's queue is full
 * they wait for the main thread to serve delivery reports, unless a stop is requested. */
void publish_incident(struct publisher *pub, struct page *pg, const char *key, void *value,
                      size_t len, const char *fp_hex, const char *unit);
void publish_dead_letter(struct publisher *pub, struct page *pg, const struct deadletter *dl,
                         const char *raw, size_t len);

/* Wait up to timeout_ms for every message to be delivered; the number still queued. */
int publisher_flush(struct publisher *pub, int timeout_ms);

#endif
