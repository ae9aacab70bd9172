/* The producer's checkpoint: a keyset position per key (the city, or the city and a backfill
 * range) in the compacted topic <prefix>.producer-state. Producers keep no local state. */
#ifndef BLOTTER_CHECKPOINT_H
#define BLOTTER_CHECKPOINT_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "common/err.h"
#include "producers/query.h"

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

/* Produce the value under key through rk (delivery reports arrive with a NULL opaque). */
enum err_class checkpoint_save(rd_kafka_t *rk, const char *topic, const char *key,
                               const struct checkpoint_value *v, char *errstr, size_t errstr_size);

#endif
