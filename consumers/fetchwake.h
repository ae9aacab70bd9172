/* Waking librdkafka's fetchers, for librdkafka before 2.1 (Debian 12 ships 2.0.2).
 *
 * When the consumer's fetch queue holds queued.max.messages.kbytes, librdkafka stops fetching,
 * and a broker thread with nothing to fetch sleeps until a request or a reply wakes it, at most
 * a second (librdkafka #2879; 2.1 added fetch.queue.backoff.ms). A consumer that drains the
 * queue faster than that, as a redelivery does, then waits with an empty queue for most of
 * each second. Any request queued to a broker thread wakes it, and it decides again whether to
 * fetch. The waker sends one: a ListOffsets of the assignment's end offsets (one request per
 * leader), from a thread of its own so that the consumer never waits for the reply, at most
 * once per interval, when the consumer says it has drained part of the queue. */
#ifndef BLOTTER_FETCHWAKE_H
#define BLOTTER_FETCHWAKE_H

#include <librdkafka/rdkafka.h>

#include "common/metrics.h"

struct fetchwake;

/* A waker of rk's fetchers at most every interval_ms (counted in wakes; may be NULL), or NULL
 * when it could not start its thread. */
struct fetchwake *fetchwake_start(rd_kafka_t *rk, long interval_ms, struct metric *wakes);
/* Ask for a wake (coalesced with any pending one); never blocks on Kafka. NULL is a no-op. */
void fetchwake_poke(struct fetchwake *w);
/* Stop and join the thread (at most one ListOffsets timeout); before rk is closed. NULL is a
 * no-op. */
void fetchwake_stop(struct fetchwake *w);

#endif
