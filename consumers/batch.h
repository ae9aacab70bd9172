/* A batch of consumed messages and the stages it goes through, in order:
 *
 *   decode (both framings, incident_check) -> seen? (Redis, pipelined) -> newest per key
 *     -> upsert + aggregate deltas (one PostgreSQL transaction) -> dead letters acknowledged
 *     -> mark seen -> store offsets
 *
 * A batch is held in memory until it is done: while PostgreSQL is unreachable the partitions
 * are paused and the same batch is retried whole with backoff (the intake keeps polling, so
 * the group keeps us); a batch PostgreSQL refuses for its data is split until the record is
 * found and dead-lettered. Offsets are stored only after the warehouse commit and the dead
 * letters' acknowledgement. */
#ifndef BLOTTER_BATCH_H
#define BLOTTER_BATCH_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/incident.h"
#include "consumers/seen.h"
#include "consumers/settings.h"
#include "consumers/stats.h"
#include "consumers/warehouse.h"

enum slot_state {
    S_NEW,     /* decoded, not yet decided */
    S_DEAD,    /* to the dead-letter topic */
    S_SEEN,    /* the seen-set holds this very version: dropped */
    S_OLDER,   /* an older version than another one of the same batch: dropped */
    S_WRITTEN, /* went through the warehouse transaction */
};

enum dlq_state { DLQ_NONE = 0, DLQ_IN_FLIGHT, DLQ_DELIVERED, DLQ_FAILED };

struct slot {
    rd_kafka_message_t *rkm; /* owned by the slot */
    struct incident inc;
    uint64_t hash;
    enum slot_state state;
    struct warehouse_outcome outcome;
    enum dlq_state dlq; /* written by the dead-letter producer's delivery report */
    char reason[256];
};

struct batch {
    struct slot *slots;
    size_t n, cap;
    uint64_t gen; /* the intake's ownership generation when the batch began (intake.h) */
};

/* Take rkm into the batch; -1 (rkm not taken) on out of memory. */
int batch_push(struct batch *b, rd_kafka_message_t *rkm);
/* Destroy the messages and incidents; keep the memory. */
void batch_clear(struct batch *b);
void batch_free(struct batch *b);

struct intake;
struct dlq;

/* The stages of one consumer, wired by consumer_main.c. */
struct consumer {
    const struct consumer_settings *set;
    struct intake *intake;
    struct dlq *dlq;
    struct codec *codec;
    struct seen *seen; /* NULL without Redis */
    struct warehouse *wh;
    struct consumer_stats *stats;
    atomic_bool wh_ok;   /* the warehouse answered last time (readiness) */
    atomic_bool started; /* every stage is up: intake may be read from any thread */
    uint64_t batch_gen;  /* the batch in hand's generation, for the warehouse's fence */
    bool fenced;         /* the warehouse refused to commit it: its partitions may not be ours */
};

/* Every stage for b. ERR_OK: done, offsets stored, or fenced: some of its partitions were
 * revoked (or the process was frozen past its session) before the commit, so nothing was
 * applied and the partitions still ours were rewound; ERR_TRANSIENT: abandoned on a stop
 * request (nothing stored); ERR_FATAL. */
enum err_class batch_process(struct consumer *c, struct batch *b);

#endif
