/* The consumer's dead letters: records that cannot be decoded or stored go to <prefix>.dlq in
 * the shared envelope (common/deadletter.h), and the batch's offsets are stored only once
 * Kafka acknowledged every one of them. */
#ifndef BLOTTER_DLQ_H
#define BLOTTER_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "common/err.h"
#include "consumers/batch.h"
#include "consumers/intake.h"
#include "consumers/settings.h"

struct dlq;

/* The dead-letter producer, and the topic (created when missing; a failure to create it is
 * only logged: producing will say more). NULL with errstr on a bad configuration. */
struct dlq *dlq_new(const struct consumer_settings *set, char *errstr, size_t errstr_size);
/* Flush what is queued (bounded) and free. NULL is a no-op. */
void dlq_destroy(struct dlq *d);
/* From now on delivery reports touch no slot (their batch is about to be freed): called before
 * the last batch is freed at exit, whose flush (dlq_destroy) would otherwise write into it. */
void dlq_detach(struct dlq *d);
/* The producer handle, to be polled with the consumer. */
rd_kafka_t *dlq_rk(struct dlq *d);

/* Send every S_DEAD slot of b not yet delivered and wait for the acknowledgements, retrying
 * with backoff (polling the intake meanwhile). ERR_OK when all are delivered; ERR_TRANSIENT
 * when a stop was requested first. *sent counts the dead letters sent the first time. */
enum err_class dlq_send_batch(struct dlq *d, struct batch *b, struct intake *in, size_t *sent);

#endif
