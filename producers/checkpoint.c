/* Checkpoints in the compacted state topic. See checkpoint.h. */
#include "producers/checkpoint.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka.h"
#include "common/timeutil.h"

/* ---- Positions ---- */

int keyset_advance(struct keyset *ks, const char *updated_at, const char *id)
{
    if (!updated_at || !id || !*updated_at || !*id ||
        strlen(updated_at) >= sizeof(ks->updated_at) || strlen(id) >= sizeof(ks->id)) {
        return -1;
    }
    if (ks->set) {
        int64_t prev = iso8601_to_us(ks->updated_at), next = iso8601_to_us(updated_at);
        if (next == TS_NULL || next < prev || (next == prev && strcmp(id, ks->id) <= 0)) {
            return -1;
        }
    } else if (iso8601_to_us(updated_at) == TS_NULL) {
        return -1;
    }
    ks->set = true;
    strcpy(ks->updated_at, updated_at);
    strcpy(ks->id, id);
    return 0;
}

/* ---- Checkpoint values ---- */

char *checkpoint_encode(const struct checkpoint_value *v)
{
    char saved[40];
    us_format(v->saved_at, false, saved, sizeof(saved));
    json_t *o =
        json_pack("{s:s?, s:s?, s:I, s:s}", "updated_at", v->ks.set ? v->ks.updated_at : NULL, "id",
                  v->ks.set ? v->ks.id : NULL, "rows", (json_int_t)v->rows, "saved_at", saved);
    json_t *state = v->ks.state[0] ? json_loads(v->ks.state, 0, NULL) : NULL;
    if (o && state) {
        json_object_set_new(o, "state", state);
    }
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

int checkpoint_decode(const char *text, size_t len, struct checkpoint_value *v)
{
    memset(v, 0, sizeof(*v));
    json_t *o = json_loadb(text, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    const char *u = json_string_value(json_object_get(o, "updated_at"));
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *saved = json_string_value(json_object_get(o, "saved_at"));
    int rc = 0;
    if (u && id) {
        rc = keyset_advance(&v->ks, u, id);
    }
    const json_t *state = json_object_get(o, "state");
    char *st = json_is_object(state) ? json_dumps(state, JSON_COMPACT) : NULL;
    if (st && strlen(st) < sizeof(v->ks.state)) {
        strcpy(v->ks.state, st);
    } else if (st) {
        rc = -1;
    }
    free(st);
    v->rows = (uint64_t)json_integer_value(json_object_get(o, "rows"));
    v->saved_at = saved ? iso8601_to_us(saved) : TS_NULL;
    json_decref(o);
    return rc;
}

/* The partitions of topic holding anything, assigned from the beginning, into *parts. */
static enum err_class plan_read(rd_kafka_t *rk, const char *topic,
                                rd_kafka_topic_partition_list_t **parts, char *errstr,
                                size_t errstr_size)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 15000);
    rd_kafka_topic_destroy(rkt);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        err_set(errstr, errstr_size, "metadata of %s: %s", topic,
                rd_kafka_err2str(err  ? err
                                 : md ? md->topics[0].err
                                      : RD_KAFKA_RESP_ERR_UNKNOWN));
        if (md) {
            rd_kafka_metadata_destroy(md);
        }
        return ERR_TRANSIENT;
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    *parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 15000);
        if (err) {
            err_set(errstr, errstr_size, "offsets of %s/%d: %s", topic, p, rd_kafka_err2str(err));
            return ERR_TRANSIENT;
        }
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(*parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    return ERR_OK;
}

/* Consume the assigned partitions to their ends, handing each message to cb. */
static enum err_class read_to_end(rd_kafka_t *rk, const char *topic, int remaining,
                                  topic_read_fn cb, void *ctx, char *errstr, size_t errstr_size)
{
    int64_t deadline = mono_ms() + 60000;
    while (remaining > 0) {
        if (mono_ms() > deadline) {
            err_set(errstr, errstr_size, "reading %s: not at its end after 60 s", topic);
            return ERR_TRANSIENT;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 500);
        if (!rkm) {
            continue;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            remaining--;
        } else if (rkm->err == RD_KAFKA_RESP_ERR__FATAL ||
                   rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            err_set(errstr, errstr_size, "reading %s: %s", topic, rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            return ERR_FATAL;
        } else if (!rkm->err) {
            deadline = mono_ms() + 60000; /* progress */
            cb(ctx, rkm);
        }
        rd_kafka_message_destroy(rkm);
    }
    return ERR_OK;
}

enum err_class topic_read_all(rd_kafka_conf_t *conf, const char *topic, topic_read_fn cb, void *ctx,
                              char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    char kerr[512];
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", NULL, 0); /* EOF quickly, not after 500 ms */
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "blotter.producer-state-reader", NULL, 0);
    rd_kafka_t *rk = kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!rk) {
        err_set(errstr, errstr_size, "reader of %s: %s", topic, kerr);
        return ERR_FATAL;
    }
    enum err_class cls = plan_read(rk, topic, &parts, errstr, errstr_size);
    if (cls == ERR_OK && parts->cnt > 0) {
        rd_kafka_assign(rk, parts);
        cls = read_to_end(rk, topic, parts->cnt, cb, ctx, errstr, errstr_size);
        rd_kafka_assign(rk, NULL);
    }
    if (parts) {
        rd_kafka_topic_partition_list_destroy(parts);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return cls;
}

/* The newest value of one key. */
struct key_read {
    const char *key;
    size_t klen;
    struct checkpoint_value *v;
    int *found;
};

static void on_state(void *ctx, const rd_kafka_message_t *rkm)
{
    struct key_read *k = ctx;
    if (rkm->key_len != k->klen || memcmp(rkm->key, k->key, k->klen) != 0) {
        return;
    }
    if (!rkm->payload) {
        *k->found = 0; /* a tombstone forgets the key */
        memset(k->v, 0, sizeof(*k->v));
    } else if (checkpoint_decode(rkm->payload, rkm->len, k->v) == 0) {
        *k->found = 1;
    }
}

enum err_class checkpoint_load(rd_kafka_conf_t *conf, const char *topic, const char *key,
                               struct checkpoint_value *v, int *found, char *errstr,
                               size_t errstr_size)
{
    *found = 0;
    memset(v, 0, sizeof(*v));
    struct key_read k = {key, strlen(key), v, found};
    return topic_read_all(conf, topic, on_state, &k, errstr, errstr_size);
}

enum err_class checkpoint_save(rd_kafka_t *rk, const char *topic, const char *key,
                               const struct checkpoint_value *v, char *errstr, size_t errstr_size)
{
    char *text = checkpoint_encode(v);
    if (!text) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE(text, strlen(text)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(NULL),
                                RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }
        rd_kafka_poll(rk, 100);
    }
    if (err) {
        free(text); /* not taken by librdkafka */
        err_set(errstr, errstr_size, "producing the checkpoint: %s", rd_kafka_err2str(err));
        return ERR_TRANSIENT;
    }
    return ERR_OK;
}
