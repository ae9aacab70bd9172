/* The consumer's intake. See intake.h. */
#define _GNU_SOURCE
#include "consumers/intake.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "consumers/replay.h"

extern char **environ;

struct intake {
    const struct consumer_settings *set;
    struct consumer_stats *stats;
    rd_kafka_t *rk;
    rd_kafka_t *also_poll;
    struct replay *replay; /* --replay: the planned ranges */
    bool paused;
    atomic_bool assigned;
    rd_kafka_message_t **carry; /* polled while paused: the next batch starts with them */
    size_t n_carry, cap_carry;
    int64_t last_lag_ms; /* 0: publish the lag at the next tick (new partitions) */
};

/* ---- Group membership ---- */

/* Take or give back parts, the way the group's protocol wants it. */
static void reassign(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, bool take)
{
    if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
        rd_kafka_error_t *e = take ? rd_kafka_incremental_assign(rk, parts)
                                   : rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            log_warn("consumer.rebalance", "error=%s", LQ(rd_kafka_error_string(e)));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk, take ? parts : NULL);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct intake *in = opaque;
    bool take = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    log_info(take ? "consumer.assigned" : "consumer.revoked", "partitions=%d", parts->cnt);
    reassign(rk, parts, take);
    if (take) {
        if (in->paused) {
            rd_kafka_pause_partitions(rk, parts); /* newly assigned ones wait too */
        }
        atomic_store(&in->assigned, true);
        in->last_lag_ms = 0; /* publish the new partitions' lag soon */
    } else if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") != 0) {
        atomic_store(&in->assigned, false);
    }
}

struct intake *intake_new(const struct consumer_settings *set, struct consumer_stats *stats,
                          rd_kafka_t *also_poll, char *errstr, size_t n)
{
    struct intake *in = calloc(1, sizeof(*in));
    if (!in) {
        err_set(errstr, n, "out of memory");
        return NULL;
    }
    in->set = set;
    in->stats = stats;
    in->also_poll = also_poll;
    rd_kafka_conf_t *conf = kafka_conf_new(KAFKA_CONSUMER, set->svc.brokers, environ, errstr, n);
    if (!conf) {
        free(in);
        return NULL;
    }
    /* A replay commits nothing: the live group's offsets are never touched. */
    if (rd_kafka_conf_set(conf, "group.id", set->group, errstr, n) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, n) !=
            RD_KAFKA_CONF_OK ||
        (set->replay &&
         rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, n) != RD_KAFKA_CONF_OK)) {
        rd_kafka_conf_destroy(conf);
        free(in);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, in);
    in->rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, n);
    if (!in->rk) {
        free(in);
        return NULL;
    }
    rd_kafka_poll_set_consumer(in->rk);
    return in;
}

void intake_destroy(struct intake *in)
{
    if (!in) {
        return;
    }
    for (size_t i = 0; i < in->n_carry; i++) {
        rd_kafka_message_destroy(in->carry[i]); /* never stored: re-read after a restart */
    }
    free(in->carry);
    /* Commits what was stored (only committed batches), leaves the group. */
    rd_kafka_consumer_close(in->rk);
    rd_kafka_destroy(in->rk);
    replay_destroy(in->replay);
    free(in);
}

static enum err_class start_replay(struct intake *in, char *errstr, size_t n)
{
    const struct consumer_settings *set = in->set;
    const char *cities[CONSUMER_MAX_CITIES];
    for (size_t i = 0; i < set->n_cities; i++) {
        cities[i] = set->cities[i];
    }
    enum err_class cls = replay_plan(in->rk, set->svc.topic_prefix, cities, set->n_cities,
                                     set->from_us, set->to_us, 15000, &in->replay, errstr, n);
    if (cls) {
        return cls;
    }
    const rd_kafka_topic_partition_list_t *parts = replay_assignment(in->replay);
    log_info("replay.plan", "partitions=%d messages=%lld", parts->cnt,
             (long long)replay_total(in->replay));
    rd_kafka_resp_err_t err = rd_kafka_assign(in->rk, parts);
    if (err) {
        err_set(errstr, n, "assign: %s", rd_kafka_err2str(err));
        return ERR_FATAL;
    }
    atomic_store(&in->assigned, true);
    return ERR_OK;
}

/* ^<prefix>\.incidents\..* with the prefix's regex characters escaped. */
static void every_city_pattern(const char *prefix, char *re, size_t n)
{
    size_t o = 0;
    re[o++] = '^';
    for (const char *p = prefix; *p && o + 32 < n; p++) {
        if (strchr(".^$*+?()[]{}|\\", *p)) {
            re[o++] = '\\';
        }
        re[o++] = *p;
    }
    snprintf(re + o, n - o, "\\.incidents\\..*");
}

enum err_class intake_start(struct intake *in, char *errstr, size_t n)
{
    const struct consumer_settings *set = in->set;
    if (set->replay) {
        return start_replay(in, errstr, n);
    }
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
    char topic[600];
    if (set->n_cities == 0) {
        every_city_pattern(set->svc.topic_prefix, topic, sizeof(topic));
        rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    }
    for (size_t i = 0; i < set->n_cities; i++) {
        kafka_topic_incidents(topic, sizeof(topic), set->svc.topic_prefix, set->cities[i]);
        rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    }
    for (int i = 0; i < subs->cnt; i++) {
        log_info("consumer.subscribe", "topic=%s group=%s", LQ(subs->elems[i].topic),
                 LQ(set->group));
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(in->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        err_set(errstr, n, "subscribe: %s", rd_kafka_err2str(err));
        return ERR_FATAL;
    }
    return ERR_OK;
}

/* ---- Polling ---- */

static void carry_push(struct intake *in, rd_kafka_message_t *rkm)
{
    rd_kafka_message_t **grown =
        array_grow(in->carry, &in->cap_carry, in->n_carry, sizeof(*in->carry), 256);
    if (!grown) {
        /* Not storing its offset keeps it safe: it is re-read after a restart. */
        rd_kafka_message_destroy(rkm);
        log_error("consumer.oom", "what=carry");
        stop_request(STOP_FATAL);
        return;
    }
    in->carry = grown;
    in->carry[in->n_carry++] = rkm;
}

/* An event from the consumer queue. true: rkm is a message to process; false: it was an
 * event (end of partition, an error) or a message outside the replay's range. */
static bool take_message(struct intake *in, rd_kafka_message_t *rkm)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (in->replay && rkm->rkt) {
            replay_advance(in->replay, rd_kafka_topic_name(rkm->rkt), rkm->partition, INT64_MAX);
        }
        return false;
    }
    if (rkm->err) {
        if (kafka_err_class(in->rk, rkm->err) == ERR_FATAL) {
            log_error("consumer.fatal", "error=%s", LQ(rd_kafka_message_errstr(rkm)));
            stop_request(STOP_FATAL);
        } else {
            log_emit_limited(LOG_WARN, "consumer.error", 10, "error=%s",
                             LQ(rd_kafka_message_errstr(rkm)));
        }
        return false;
    }
    if (in->replay) {
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        if (!replay_wants(in->replay, topic, rkm->partition, rkm->offset)) {
            replay_advance(in->replay, topic, rkm->partition, rkm->offset + 1);
            return false;
        }
    }
    return true;
}

static rd_kafka_message_t *poll_once(struct intake *in, int timeout_ms)
{
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(in->rk, timeout_ms);
    if (in->also_poll) {
        rd_kafka_poll(in->also_poll, 0);
    }
    if (rkm && !take_message(in, rkm)) {
        rd_kafka_message_destroy(rkm);
        return NULL;
    }
    return rkm;
}

void intake_wait(struct intake *in, long ms)
{
    int64_t end = mono_ms() + ms;
    while (!stop_requested) {
        int64_t left = end - mono_ms();
        if (left <= 0) {
            break;
        }
        rd_kafka_message_t *rkm = poll_once(in, left > 100 ? 100 : (int)left);
        if (rkm) {
            carry_push(in, rkm);
        }
    }
}

void intake_collect(struct intake *in, struct batch *b)
{
    size_t batch_size = (size_t)in->set->batch_size, taken = 0;
    while (taken < in->n_carry && b->n < batch_size && batch_push(b, in->carry[taken]) == 0) {
        taken++;
    }
    if (taken) {
        memmove(in->carry, in->carry + taken, (in->n_carry - taken) * sizeof(*in->carry));
        in->n_carry -= taken;
    }
    int64_t deadline = b->n ? mono_ms() + in->set->batch_timeout_ms : 0;
    while (!stop_requested && b->n < batch_size) {
        int timeout = 100;
        if (b->n) {
            int64_t left = deadline - mono_ms();
            if (left <= 0) {
                break;
            }
            timeout = left > 100 ? 100 : (int)left;
        }
        rd_kafka_message_t *rkm = poll_once(in, timeout);
        if (!rkm) {
            if (!b->n) {
                return; /* idle (or an event): let the caller look around */
            }
            continue;
        }
        if (batch_push(b, rkm) != 0) {
            carry_push(in, rkm);
            break;
        }
        if (b->n == 1) {
            deadline = mono_ms() + in->set->batch_timeout_ms;
        }
    }
}

/* ---- Pausing, offsets, lag ---- */

void intake_pause(struct intake *in, bool paused)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (in->paused == paused) {
        return;
    }
    if (rd_kafka_assignment(in->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (paused) {
            rd_kafka_pause_partitions(in->rk, parts);
        } else {
            rd_kafka_resume_partitions(in->rk, parts);
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    in->paused = paused;
    metric_set(in->stats->paused, paused);
    log_info(paused ? "consumer.paused" : "consumer.resumed", "partitions=all");
}

void intake_store(struct intake *in, const struct batch *b)
{
    if (in->replay) {
        for (size_t i = 0; i < b->n; i++) {
            replay_advance(in->replay, rd_kafka_topic_name(b->slots[i].rkm->rkt),
                           b->slots[i].rkm->partition, b->slots[i].rkm->offset + 1);
        }
        return; /* a replay commits nothing */
    }
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *rkm = b->slots[i].rkm;
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(offs, topic, rkm->partition);
        if (!p) {
            p = rd_kafka_topic_partition_list_add(offs, topic, rkm->partition);
            p->offset = rkm->offset + 1;
        } else if (rkm->offset + 1 > p->offset) {
            p->offset = rkm->offset + 1;
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(in->rk, offs);
    if (err) {
        /* Partitions revoked meanwhile: their new owner re-reads them (writes are idempotent). */
        log_emit_limited(LOG_INFO, "consumer.offsets_store", 10, "error=%s",
                         rd_kafka_err2name(err));
    }
    rd_kafka_topic_partition_list_destroy(offs);
}

/* Lag per assigned partition: high watermark (as last fetched) minus our position. */
static void update_lag(struct intake *in)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(in->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) {
        return;
    }
    atomic_store(&in->assigned, parts->cnt > 0 || in->replay);
    rd_kafka_position(in->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(in->rk, parts->elems[i].topic, parts->elems[i].partition,
                                           &lo, &hi) ||
            hi < 0) {
            continue;
        }
        int64_t pos = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
        char labels[400];
        snprintf(labels, sizeof(labels), "topic=\"%s\",partition=\"%d\"", parts->elems[i].topic,
                 parts->elems[i].partition);
        metric_set(
            metric_gauge("blotter_consumer_lag", "Messages behind the high watermark", labels),
            (double)(hi > pos ? hi - pos : 0));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

void intake_tick(struct intake *in)
{
    int64_t now = mono_ms();
    if (now - in->last_lag_ms >= 2000) {
        update_lag(in);
        in->last_lag_ms = now;
    }
}

bool intake_assigned(const struct intake *in)
{
    return atomic_load(&in->assigned);
}

size_t intake_carried(const struct intake *in)
{
    return in->n_carry;
}

bool intake_replay_done(const struct intake *in)
{
    return in->replay && replay_finished(in->replay);
}

bool intake_is_replay(const struct intake *in)
{
    return in->replay != NULL;
}
