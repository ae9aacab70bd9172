/* Replay: which partitions to read, from which offset to which, for a range of Kafka message
 * timestamps. The start of each partition is the first offset whose timestamp is >= from
 * (rd_kafka_offsets_for_times); its end (exclusive) the first offset whose timestamp is >= to,
 * or, without to, the high watermark when the replay starts. The replay reads under a group of
 * its own and commits nothing, so the live group's offsets are never touched. */
#ifndef BLOTTER_REPLAY_H
#define BLOTTER_REPLAY_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct replay;

/* Plan the replay of the incident topics of prefix (every city when n_cities is 0) between
 * from_us and to_us (TS_NULL: up to the high watermarks now). */
enum err_class replay_plan(rd_kafka_t *rk, const char *prefix, const char *const *cities,
                           size_t n_cities, int64_t from_us, int64_t to_us, int timeout_ms,
                           struct replay **out, char *errstr, size_t errstr_size);
void replay_destroy(struct replay *rp);

/* The partitions with something to replay and their start offsets (owned by rp), for
 * rd_kafka_assign. */
const rd_kafka_topic_partition_list_t *replay_assignment(const struct replay *rp);

/* Whether a message at offset of (topic, partition) lies inside the range. */
bool replay_wants(const struct replay *rp, const char *topic, int32_t partition, int64_t offset);
/* Note that the partition was read up to next_offset (exclusive). */
void replay_advance(struct replay *rp, const char *topic, int32_t partition, int64_t next_offset);
/* Whether every partition was read to its end. */
bool replay_finished(const struct replay *rp);
/* Total messages in the range (sum of end - start). */
int64_t replay_total(const struct replay *rp);

#endif
