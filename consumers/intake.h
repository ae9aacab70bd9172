/* The consumer's intake: the librdkafka consumer of the city topics, its group membership
 * (rebalances, static membership through the properties), pausing while the warehouse is
 * down, filling batches, lag metrics, storing and committing offsets (its own commits of the
 * partitions it owns, never librdkafka's auto-commit). For --replay it reads the planned ranges
 * (consumers/replay.h) under a group of its own and stores nothing.
 *
 * Everything polled while the partitions are paused (or while waiting) is carried into the next
 * batch, so nothing is dropped and the group never evicts us for not polling. */
#ifndef BLOTTER_INTAKE_H
#define BLOTTER_INTAKE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "consumers/batch.h"
#include "consumers/settings.h"
#include "consumers/stats.h"

struct intake;

/* The consumer handle (not subscribed yet). also_poll (may be NULL) is a producer whose
 * delivery reports are served on every poll. NULL with errstr on a bad configuration. */
struct intake *intake_new(const struct consumer_settings *set, struct consumer_stats *stats,
                          rd_kafka_t *also_poll, char *errstr, size_t errstr_size);
/* Leave the group (committing what was stored) and free everything; carried messages are
 * dropped unstored (re-read after a restart). NULL is a no-op. */
void intake_destroy(struct intake *in);

/* Subscribe to the city topics, or plan the replay and assign its ranges. */
enum err_class intake_start(struct intake *in, char *errstr, size_t errstr_size);

/* Fill b: carried messages first, then polls until batch_size messages or batch_timeout_ms
 * after the first one. Returns with an empty batch after ~100 ms of nothing. */
void intake_collect(struct intake *in, struct batch *b);
/* Wait ms while polling (what arrives is carried), unless a stop is requested. */
void intake_wait(struct intake *in, long ms);
/* Pause or resume every assigned partition (idempotent). */
void intake_pause(struct intake *in, bool paused);
/* The batch is done: store each owned partition's next offset, committed at the next tick (a
 * replay only notes its progress). */
void intake_store(struct intake *in, const struct batch *b);
/* Every turn of the main loop: commits what was stored (every auto.commit.interval.ms) and
 * publishes the lag per partition every 2 s (at once after an assignment). */
void intake_tick(struct intake *in);

/* ---- Ownership ----
 * Every revocation, and every freeze of the whole process (SIGSTOP, a stalled VM) long enough
 * for the group to have evicted us, bumps a generation. A batch begun under an older generation
 * must not be applied: its partitions may have been handed to another member. */
uint64_t intake_gen(const struct intake *in);
/* Whether a batch begun under gen may still be applied (thread-safe). */
bool intake_batch_owned(const struct intake *in, uint64_t gen);
/* A batch was refused: drop what is carried and seek each partition of b that is still ours
 * back to b's first offset, so that it is read again (after letting the group settle when the
 * process was frozen). b itself stays the caller's to clear. */
void intake_rewind(struct intake *in, const struct batch *b);
/* Whether the group fenced this static member (librdkafka's fatal FENCED_INSTANCE_ID): no
 * batch is owned any more, and intake_renew must be called once the batch in hand is cleared. */
bool intake_fenced(const struct intake *in);
/* Replace the fenced handle with a new one that joins with the same group.instance.id (nothing
 * is committed: what the old one held is re-read). ERR_FATAL when fenced too often, which means
 * another live consumer has the same id. */
enum err_class intake_renew(struct intake *in, char *errstr, size_t errstr_size);
/* The group.instance.id in use ("" when dynamic). */
const char *intake_instance_id(const struct intake *in);

/* How far the group is from done: every partition of the subscribed topics, its committed
 * offset against its high watermark (stored offsets are committed first). */
struct intake_progress {
    int partitions, behind, not_ours; /* behind: committed < high; not_ours: of those, held by
                                         another member (live or departed) or by nobody */
    long long lag;                    /* messages between the committed offsets and the ends */
};
/* ERR_OK with p filled, or ERR_TRANSIENT (cluster unreachable, errstr says why). */
enum err_class intake_progress(struct intake *in, struct intake_progress *p, char *errstr,
                               size_t errstr_size);

/* Whether partitions are ours (readiness). */
bool intake_assigned(const struct intake *in);
/* Messages carried into the next batch. */
size_t intake_carried(const struct intake *in);
/* A replay read every partition to its end. */
bool intake_replay_done(const struct intake *in);
bool intake_is_replay(const struct intake *in);

#endif
