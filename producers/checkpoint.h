/* The producer's checkpoint: a position per key (the city, or the city and a backfill range) in
 * the compacted topic <prefix>.producer-state. Producers keep no local state.
 *
 * The position is a struct keyset, the one every kind so far pages on; a source kind that pages
 * otherwise (an offset, per-file validators) adds its own position to struct checkpoint_value
 * and to checkpoint_encode/decode. */
#ifndef BLOTTER_CHECKPOINT_H
#define BLOTTER_CHECKPOINT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* A position in the (:updated_at, :id) order: the last row already taken. A kind that does not
 * page on a keyset (ArcGIS offsets, CSV files and their validators) keeps its position in
 * state instead, as JSON text of its own ("" before the first page). */
struct keyset {
    bool set; /* false: before the first row */
    char updated_at[40];
    char id[128];
    char state[4096];
};

/* Advance to a row's (:updated_at, :id); rows arrive in that order, so this only moves forward.
 * -1 (position unchanged) when either value is missing, too long or would move backwards. */
int keyset_advance(struct keyset *ks, const char *updated_at, const char *id);

struct checkpoint_value {
    struct keyset ks;
    uint64_t rows;    /* rows taken under this key so far */
    int64_t saved_at; /* UTC microseconds */
};

/* JSON text of a checkpoint (malloc'ed) and back. decode: -1 when the text is not one. */
char *checkpoint_encode(const struct checkpoint_value *v);
int checkpoint_decode(const char *text, size_t len, struct checkpoint_value *v);

/* Read the state topic to its end and return the newest value of key (found = 0 when there is
 * none). conf is consumed (rd_kafka_new takes it, or it is destroyed on failure). */
enum err_class checkpoint_load(rd_kafka_conf_t *conf, const char *topic, const char *key,
                               struct checkpoint_value *v, int *found, char *errstr,
                               size_t errstr_size);

/* Read every partition of topic from its beginning to its end (as it is now), handing each
 * message to cb in offset order per partition. conf is consumed. */
typedef void (*topic_read_fn)(void *ctx, const rd_kafka_message_t *rkm);
enum err_class topic_read_all(rd_kafka_conf_t *conf, const char *topic, topic_read_fn cb, void *ctx,
                              char *errstr, size_t errstr_size);

/* Produce the value under key through rk (delivery reports arrive with a NULL opaque). */
enum err_class checkpoint_save(rd_kafka_t *rk, const char *topic, const char *key,
                               const struct checkpoint_value *v, char *errstr, size_t errstr_size);

#endif
