/* blotter-consumer: city incident topics -> PostgreSQL warehouse, exactly.
 *
 *   consume -> decode -> seen? -> upsert + aggregate (one transaction) -> mark seen
 *           -> store offsets
 *
 * A batch (batch_size messages or batch_timeout_ms) is held in memory until it is done: when
 * PostgreSQL is unreachable the assigned partitions are paused, the consumer keeps polling (the
 * group keeps us), and the same batch is retried whole with backoff. Offsets are stored only
 * after the warehouse transaction committed (and dead letters were acknowledged); librdkafka's
 * auto-commit commits stored offsets only. Undecodable or unstorable records go to <prefix>.dlq.
 * --replay reads a range of message timestamps under a group of its own and commits nothing. */
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/config.h"
#include "common/httpd.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "consumers/replay.h"
#include "consumers/seen.h"
#include "common/backoff.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "consumers/warehouse.h"

extern char **environ;

/* ---- State ---- */

enum slot_state {
    S_NEW,     /* decoded, not yet decided */
    S_DEAD,    /* to the dead-letter topic */
    S_SEEN,    /* the seen-set holds this very version: dropped */
    S_OLDER,   /* an older version than another one of the same batch: dropped */
    S_WRITTEN, /* went through the warehouse transaction */
};

struct slot {
    rd_kafka_message_t *rkm;
    struct incident inc;
    uint64_t hash;
    enum slot_state state;
    struct warehouse_outcome outcome;
    int dlq_state; /* 0 not sent, 1 in flight, 2 delivered, 3 failed */
    char reason[256];
};

struct batch {
    struct slot *slots;
    size_t n, cap;
};

struct metrics_set {
    struct metric *messages, *batch_size, *batch_seconds, *inserted, *updated, *unchanged,
        *seen_hits, *dead_letters, *retries, *default_rows, *paused, *redis_up, *batches,
        *end_to_end;
};

struct app {
    struct config *cfg;
    rd_kafka_t *rk;  /* consumer */
    rd_kafka_t *dlq; /* producer of dead letters */
    struct codec *codec;
    struct seen *seen;
    struct warehouse *wh;
    struct replay *replay;
    struct httpd *httpd;
    char prefix[200], dlq_topic[256], group[300];
    long batch_size, batch_timeout_ms, backoff_ms, backoff_max_ms, until_idle_s;
    bool paused;
    atomic_bool assigned, wh_ok;
    rd_kafka_message_t **carry; /* polled while paused: the next batch starts with them */
    size_t n_carry, cap_carry;
    int64_t last_activity_ms, last_lag_ms;
    struct metrics_set m;
    /* totals for the exit summary */
    unsigned long long t_messages, t_inserted, t_updated, t_unchanged, t_seen, t_dead;
};

/* ---- Metrics and readiness ---- */

static void metrics_init(struct metrics_set *m)
{
    static const double sizes[] = {1, 10, 50, 100, 500, 1000, 5000, 10000, 50000};
    m->messages = metric_counter("blotter_consumer_messages_total", "Messages consumed", NULL);
    m->batches = metric_counter("blotter_consumer_batches_total", "Batches completed", NULL);
    static const double e2e_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3,
                                         0.4,  0.5,   0.75, 1,   2.5,  5,   10,   60};
    m->end_to_end = metric_histogram(
        "blotter_consumer_end_to_end_seconds",
        "From the record's Kafka timestamp to the commit of the warehouse transaction holding it",
        NULL, e2e_buckets, sizeof(e2e_buckets) / sizeof(e2e_buckets[0]));
    m->batch_size = metric_histogram("blotter_consumer_batch_size", "Messages per batch", NULL,
                                     sizes, sizeof(sizes) / sizeof(sizes[0]));
    m->batch_seconds =
        metric_histogram("blotter_consumer_batch_seconds", "Time to complete a batch", NULL,
                         metric_latency_buckets, metric_latency_buckets_n);
    m->inserted = metric_counter("blotter_consumer_rows_total", "Warehouse rows by outcome",
                                 "result=\"inserted\"");
    m->updated = metric_counter("blotter_consumer_rows_total", "Warehouse rows by outcome",
                                "result=\"updated\"");
    m->unchanged = metric_counter("blotter_consumer_rows_total", "Warehouse rows by outcome",
                                  "result=\"unchanged\"");
    m->seen_hits = metric_counter("blotter_consumer_seen_hits_total",
                                  "Records dropped by the seen-set before PostgreSQL", NULL);
    m->dead_letters = metric_counter("blotter_consumer_dead_letters_total",
                                     "Records sent to the dead-letter topic", NULL);
    m->retries = metric_counter("blotter_consumer_warehouse_retries_total",
                                "Warehouse batch attempts that failed transiently", NULL);
    m->default_rows = metric_gauge("blotter_consumer_default_partition_rows",
                                   "Rows found in the DEFAULT partition (then drained)", NULL);
    m->paused = metric_gauge("blotter_consumer_paused", "1 while partitions are paused", NULL);
    m->redis_up =
        metric_gauge("blotter_consumer_redis_up", "1 when the seen-set is reachable", NULL);
}

static bool ready_cb(void *arg)
{
    struct app *a = arg;
    return atomic_load(&a->assigned) && atomic_load(&a->wh_ok);
}

/* Lag per assigned partition: high watermark (as last fetched) minus our position. */
static void update_lag(struct app *a)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(a->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) {
        return;
    }
    atomic_store(&a->assigned, parts->cnt > 0 || a->replay);
    rd_kafka_position(a->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(a->rk, parts->elems[i].topic, parts->elems[i].partition,
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

/* ---- Kafka plumbing ---- */

static void set_paused(struct app *a, bool paused)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (a->paused == paused) {
        return;
    }
    if (rd_kafka_assignment(a->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (paused) {
            rd_kafka_pause_partitions(a->rk, parts);
        } else {
            rd_kafka_resume_partitions(a->rk, parts);
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    a->paused = paused;
    metric_set(a->m.paused, paused);
    log_info(paused ? "consumer.paused" : "consumer.resumed", "partitions=%s",
             paused ? "all" : "all");
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct app *a = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("consumer.assigned", "partitions=%d", parts->cnt);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) {
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, parts);
        }
        if (a->paused) {
            rd_kafka_pause_partitions(rk, parts); /* newly assigned ones wait too */
        }
        atomic_store(&a->assigned, true);
        a->last_lag_ms = 0; /* publish the new partitions' lag soon */
    } else {
        log_info("consumer.revoked", "partitions=%d", parts->cnt);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e) {
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, NULL);
            atomic_store(&a->assigned, false);
        }
    }
}

static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct slot *s = rkm->_private;
    if (s) {
        s->dlq_state = rkm->err ? 3 : 2;
        if (rkm->err) {
            log_emit_limited(LOG_WARN, "dlq.delivery_failed", 10, "error=%s",
                             rd_kafka_err2name(rkm->err));
        }
    }
}

static void carry_push(struct app *a, rd_kafka_message_t *rkm)
{
    if (a->n_carry == a->cap_carry) {
        size_t cap = a->cap_carry ? a->cap_carry * 2 : 256;
        rd_kafka_message_t **p = realloc(a->carry, cap * sizeof(*p));
        if (!p) {
            /* Not storing its offset keeps it safe: it is re-read after a restart. */
            rd_kafka_message_destroy(rkm);
            log_error("consumer.oom", "what=carry");
            stop_request(STOP_FATAL);
            return;
        }
        a->carry = p;
        a->cap_carry = cap;
    }
    a->carry[a->n_carry++] = rkm;
}

/* An event from the consumer queue that is not a message: EOF, errors. true: rkm was used. */
static bool handle_event(struct app *a, rd_kafka_message_t *rkm)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (a->replay && rkm->rkt) {
            replay_advance(a->replay, rd_kafka_topic_name(rkm->rkt), rkm->partition, INT64_MAX);
        }
        return false;
    }
    if (rkm->err) {
        enum err_class cls = kafka_err_class(a->rk, rkm->err);
        if (cls == ERR_FATAL) {
            log_error("consumer.fatal", "error=%s", LQ(rd_kafka_message_errstr(rkm)));
            stop_request(STOP_FATAL);
        } else {
            log_emit_limited(LOG_WARN, "consumer.error", 10, "error=%s",
                             LQ(rd_kafka_message_errstr(rkm)));
        }
        return false;
    }
    if (a->replay) {
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        if (!replay_wants(a->replay, topic, rkm->partition, rkm->offset)) {
            replay_advance(a->replay, topic, rkm->partition, rkm->offset + 1);
            return false;
        }
    }
    return true;
}

/* Wait ms while polling the consumer (and the dead-letter producer): the group keeps us, and
 * whatever arrives (paused partitions deliver nothing new) is carried into the next batch. */
static void wait_polling(struct app *a, long ms)
{
    int64_t end = mono_ms() + ms;
    while (!stop_requested) {
        int64_t left = end - mono_ms();
        if (left <= 0) {
            break;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(a->rk, left > 100 ? 100 : (int)left);
        if (rkm) {
            if (handle_event(a, rkm)) {
                carry_push(a, rkm);
            } else {
                rd_kafka_message_destroy(rkm);
            }
        }
        rd_kafka_poll(a->dlq, 0);
    }
}

/* ---- Batch ---- */

static int batch_push(struct batch *b, rd_kafka_message_t *rkm)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        struct slot *p = realloc(b->slots, cap * sizeof(*p));
        if (!p) {
            return -1;
        }
        b->slots = p;
        b->cap = cap;
    }
    struct slot *s = &b->slots[b->n++];
    memset(s, 0, sizeof(*s));
    s->rkm = rkm;
    incident_init(&s->inc);
    return 0;
}

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        incident_clear(&b->slots[i].inc);
        rd_kafka_message_destroy(b->slots[i].rkm);
    }
    b->n = 0;
}

/* Fill the batch: carried messages first, then polls until batch_size messages or
 * batch_timeout_ms after the first one. Returns with an empty batch after ~100 ms of nothing so
 * the caller can do its housekeeping. */
static void collect(struct app *a, struct batch *b)
{
    size_t taken = 0;
    while (taken < a->n_carry && b->n < (size_t)a->batch_size) {
        if (batch_push(b, a->carry[taken]) != 0) {
            break;
        }
        taken++;
    }
    if (taken) {
        memmove(a->carry, a->carry + taken, (a->n_carry - taken) * sizeof(*a->carry));
        a->n_carry -= taken;
    }

    int64_t deadline = b->n ? mono_ms() + a->batch_timeout_ms : 0;
    while (!stop_requested && b->n < (size_t)a->batch_size) {
        int timeout = 100;
        if (b->n) {
            int64_t left = deadline - mono_ms();
            if (left <= 0) {
                break;
            }
            timeout = left > 100 ? 100 : (int)left;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(a->rk, timeout);
        rd_kafka_poll(a->dlq, 0);
        if (!rkm) {
            if (!b->n) {
                return; /* idle: let the caller look around */
            }
            continue;
        }
        if (!handle_event(a, rkm)) {
            rd_kafka_message_destroy(rkm);
            if (!b->n && a->replay && replay_finished(a->replay)) {
                return;
            }
            continue;
        }
        if (batch_push(b, rkm) != 0) {
            carry_push(a, rkm);
            break;
        }
        if (b->n == 1) {
            deadline = mono_ms() + a->batch_timeout_ms;
        }
    }
}

/* ---- Stages ---- */

static void decode_all(struct app *a, struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct slot *s = &b->slots[i];
        /* codec_decode also applies incident_check: what it returns can be written. */
        enum err_class cls = codec_decode(a->codec, s->rkm->payload, s->rkm->len, &s->inc,
                                          s->reason, sizeof(s->reason));
        if (cls != ERR_OK) {
            s->state = S_DEAD;
            continue;
        }
        s->hash = incident_content_hash(&s->inc);
        s->state = S_NEW;
    }
}

static void seen_filter(struct app *a, struct batch *b)
{
    if (!a->seen) {
        return;
    }
    struct seen_item *items = malloc((b->n + 1) * sizeof(*items));
    size_t *idx = malloc((b->n + 1) * sizeof(*idx));
    bool *hit = malloc((b->n + 1) * sizeof(*hit));
    size_t n = 0;
    if (items && idx && hit) {
        for (size_t i = 0; i < b->n; i++) {
            struct slot *s = &b->slots[i];
            if (s->state == S_NEW) {
                items[n] = (struct seen_item){s->inc.city, s->inc.incident_id, s->hash};
                idx[n++] = i;
            }
        }
        size_t hits = seen_check_batch(a->seen, items, n, hit);
        for (size_t k = 0; k < n && hits; k++) {
            if (hit[k]) {
                b->slots[idx[k]].state = S_SEEN;
            }
        }
        metric_add(a->m.seen_hits, (double)hits);
        a->t_seen += hits;
    }
    metric_set(a->m.redis_up, seen_up(a->seen));
    free(items);
    free(idx);
    free(hit);
}

/* Write slots[0..n) (pointers into the batch) with retries: transient errors pause the
 * partitions and retry the same records with backoff; a permanent error splits the records in
 * halves until the one that cannot be stored is found and dead-lettered.
 * ERR_OK, ERR_TRANSIENT (given up: a stop was requested) or ERR_FATAL. */
static enum err_class write_slots(struct app *a, struct slot **slots, size_t n)
{
    struct warehouse_item *items = malloc((n + 1) * sizeof(*items));
    enum err_class cls = ERR_FATAL;
    struct backoff retry;
    char errstr[1024];

    backoff_init(&retry, a->backoff_ms, a->backoff_max_ms);
    if (!items) {
        log_error("consumer.oom", "what=write");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = (struct warehouse_item){.inc = &slots[i]->inc, .hash = slots[i]->hash};
    }
    for (;;) {
        struct warehouse_counts counts;
        cls = warehouse_upsert_batch(a->wh, items, n, &counts, errstr, sizeof(errstr));
        if (cls == ERR_OK) {
            atomic_store(&a->wh_ok, true);
            set_paused(a, false);
            for (size_t i = 0; i < n; i++) {
                slots[i]->outcome = items[i].outcome;
                slots[i]->state = items[i].outcome.status ? S_WRITTEN : S_OLDER;
            }
            metric_add(a->m.inserted, (double)counts.inserted);
            metric_add(a->m.updated, (double)counts.updated);
            metric_add(a->m.unchanged, (double)counts.unchanged);
            a->t_inserted += counts.inserted;
            a->t_updated += counts.updated;
            a->t_unchanged += counts.unchanged;
            break;
        }
        if (cls == ERR_TRANSIENT) {
            atomic_store(&a->wh_ok, false);
            metric_add(a->m.retries, 1);
            long wait = backoff_next_ms(&retry, -1);
            log_emit_limited(LOG_WARN, "warehouse.retry", 10, "error=%s records=%zu backoff_ms=%ld",
                             LQ(errstr), n, wait);
            set_paused(a, true);
            wait_polling(a, wait);
            if (stop_requested) {
                log_info("consumer.batch_abandoned", "records=%zu", n);
                break;
            }
            continue;
        }
        if (cls == ERR_PERMANENT) {
            if (n == 1) {
                slots[0]->state = S_DEAD;
                snprintf(slots[0]->reason, sizeof(slots[0]->reason), "warehouse: %.240s", errstr);
                cls = ERR_OK;
                break;
            }
            log_warn("warehouse.split", "error=%s records=%zu", LQ(errstr), n);
            size_t half = n / 2;
            cls = write_slots(a, slots, half);
            if (cls == ERR_OK) {
                cls = write_slots(a, slots + half, n - half);
            }
            break;
        }
        log_error("warehouse.fatal", "error=%s", LQ(errstr));
        break;
    }
done:
    free(items);
    return cls;
}

/* The newest version per key of the records still undecided goes to the warehouse. */
static enum err_class write_batch(struct app *a, struct batch *b)
{
    struct warehouse_item *items = malloc((b->n + 1) * sizeof(*items));
    size_t *idx = malloc((b->n + 1) * sizeof(*idx));
    size_t *keep = malloc((b->n + 1) * sizeof(*keep));
    struct slot **slots = malloc((b->n + 1) * sizeof(*slots));
    enum err_class cls = ERR_FATAL;
    size_t n = 0;

    if (!items || !idx || !keep || !slots) {
        log_error("consumer.oom", "what=batch");
        goto done;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->slots[i].state == S_NEW) {
            items[n] = (struct warehouse_item){.inc = &b->slots[i].inc, .hash = b->slots[i].hash};
            idx[n++] = i;
        }
    }
    size_t kept = warehouse_newest(items, n, keep);
    for (size_t i = 0; i < n; i++) {
        b->slots[idx[i]].state = S_OLDER;
    }
    for (size_t k = 0; k < kept; k++) {
        slots[k] = &b->slots[idx[keep[k]]];
        slots[k]->state = S_NEW;
    }
    cls = kept ? write_slots(a, slots, kept) : ERR_OK;
done:
    free(items);
    free(idx);
    free(keep);
    free(slots);
    return cls;
}

static void add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    rd_kafka_header_add(h, name, -1, value, -1);
}

/* Dead letters of the batch, acknowledged by Kafka before the batch's offsets are stored.
 * ERR_OK, or ERR_TRANSIENT when a stop was requested before they were delivered. */
static enum err_class send_dead_letters(struct app *a, struct batch *b)
{
    struct backoff retry;
    backoff_init(&retry, a->backoff_ms, a->backoff_max_ms);
    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < b->n; i++) {
            struct slot *s = &b->slots[i];
            if (s->state != S_DEAD || s->dlq_state == 2) {
                continue;
            }
            if (s->dlq_state == 0 || s->dlq_state == 3) {
                char part[16], off[32];
                const char *topic = rd_kafka_topic_name(s->rkm->rkt);
                snprintf(part, sizeof(part), "%d", s->rkm->partition);
                snprintf(off, sizeof(off), "%lld", (long long)s->rkm->offset);
                rd_kafka_headers_t *h = rd_kafka_headers_new(4);
                add_header(h, "source_topic", topic);
                add_header(h, "source_partition", part);
                add_header(h, "source_offset", off);
                add_header(h, "reason", s->reason);
                if (s->dlq_state == 0) {
                    log_emit_limited(LOG_WARN, "consumer.dead_letter", 10,
                                     "topic=%s partition=%d offset=%lld reason=%s", LQ(topic),
                                     s->rkm->partition, (long long)s->rkm->offset, LQ(s->reason));
                    metric_add(a->m.dead_letters, 1);
                    a->t_dead++;
                }
                rd_kafka_resp_err_t err =
                    rd_kafka_producev(a->dlq, RD_KAFKA_V_TOPIC(a->dlq_topic),
                                      RD_KAFKA_V_KEY(s->rkm->key, s->rkm->key_len),
                                      RD_KAFKA_V_VALUE(s->rkm->payload, s->rkm->len),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
                if (err) {
                    rd_kafka_headers_destroy(h); /* not taken on failure */
                    s->dlq_state = 3;
                } else {
                    s->dlq_state = 1;
                }
            }
            pending++;
        }
        if (!pending) {
            return ERR_OK;
        }
        rd_kafka_flush(a->dlq, 10000);
        bool all = true;
        for (size_t i = 0; i < b->n; i++) {
            if (b->slots[i].state == S_DEAD && b->slots[i].dlq_state != 2) {
                all = false;
            }
        }
        if (all) {
            return ERR_OK;
        }
        long wait = backoff_next_ms(&retry, -1);
        log_emit_limited(LOG_WARN, "dlq.retry", 10, "backoff_ms=%ld", wait);
        wait_polling(a, wait);
        if (stop_requested) {
            return ERR_TRANSIENT;
        }
    }
}

/* After the commit: the seen-set learns the version each written key now holds. */
static void mark_seen(struct app *a, struct batch *b)
{
    if (!a->seen) {
        return;
    }
    struct seen_item *items = malloc((b->n + 1) * sizeof(*items));
    size_t n = 0;
    if (!items) {
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        struct slot *s = &b->slots[i];
        if (s->state == S_WRITTEN) {
            items[n++] =
                (struct seen_item){s->inc.city, s->inc.incident_id, s->outcome.stored_hash};
        }
    }
    seen_mark_batch(a->seen, items, n);
    metric_set(a->m.redis_up, seen_up(a->seen));
    free(items);
}

/* Offsets of everything in the batch (written, dropped or dead-lettered) + 1, per partition. */
static void store_offsets(struct app *a, struct batch *b)
{
    if (a->replay) {
        for (size_t i = 0; i < b->n; i++) {
            replay_advance(a->replay, rd_kafka_topic_name(b->slots[i].rkm->rkt),
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
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(a->rk, offs);
    if (err) {
        /* Partitions revoked meanwhile: their new owner re-reads them (writes are idempotent). */
        log_emit_limited(LOG_INFO, "consumer.offsets_store", 10, "error=%s",
                         rd_kafka_err2name(err));
    }
    rd_kafka_topic_partition_list_destroy(offs);
}

/* consume -> decode -> seen? -> upsert+aggregate -> mark seen -> store offsets.
 * ERR_OK: done; ERR_TRANSIENT: abandoned on a stop request (nothing stored); ERR_FATAL. */
static enum err_class process_batch(struct app *a, struct batch *b)
{
    int64_t start = mono_ms();
    enum err_class cls;

    decode_all(a, b);
    int64_t t_decoded = mono_ms();
    seen_filter(a, b);
    int64_t t_seen = mono_ms();
    if ((cls = write_batch(a, b)) != ERR_OK || (cls = send_dead_letters(a, b)) != ERR_OK) {
        return cls;
    }
    int64_t t_written = mono_ms();
    /* Freshness: from each record's Kafka timestamp to the commit that made it visible. */
    int64_t committed_ms = now_us() / 1000;
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(b->slots[i].rkm, &tstype);
        if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts > 0 && !a->replay) {
            metric_observe(a->m.end_to_end, (double)(committed_ms - ts) / 1000.0);
        }
    }
    mark_seen(a, b);
    store_offsets(a, b);
    log_debug("consumer.stages", "decode_ms=%lld seen_ms=%lld write_ms=%lld mark_ms=%lld",
              (long long)(t_decoded - start), (long long)(t_seen - t_decoded),
              (long long)(t_written - t_seen), (long long)(mono_ms() - t_written));

    metric_add(a->m.messages, (double)b->n);
    metric_add(a->m.batches, 1);
    metric_observe(a->m.batch_size, (double)b->n);
    metric_observe(a->m.batch_seconds, (double)(mono_ms() - start) / 1000.0);
    a->t_messages += b->n;
    log_debug("consumer.batch", "messages=%zu ms=%lld", b->n, (long long)(mono_ms() - start));
    return ERR_OK;
}

static void check_default_partition(struct app *a)
{
    long long rows = 0;
    char errstr[512];
    if (warehouse_drain_default(a->wh, &rows, errstr, sizeof(errstr)) != ERR_OK) {
        log_emit_limited(LOG_WARN, "warehouse.default_check_failed", 60, "error=%s", LQ(errstr));
        return;
    }
    metric_set(a->m.default_rows, (double)rows);
    if (rows) {
        log_warn("warehouse.default_partition", "rows=%lld action=drained", rows);
    }
}

/* ---- Setup ---- */

/* Checks across options, before any I/O. */
static int validate(const struct config *cfg)
{
    int problems = 0;
    bool replay = config_bool(cfg, OPT_REPLAY);
    int64_t from = config_time_us(cfg, OPT_FROM), to = config_time_us(cfg, OPT_TO);
    if (replay && from == TS_NULL) {
        fprintf(stderr, "blotter-consumer: --replay needs --from ISO8601\n");
        problems++;
    }
    if (!replay && (from != TS_NULL || to != TS_NULL)) {
        fprintf(stderr, "blotter-consumer: --from/--to only go with --replay\n");
        problems++;
    }
    if (from != TS_NULL && to != TS_NULL && to <= from) {
        fprintf(stderr, "blotter-consumer: --to must be after --from\n");
        problems++;
    }
    if (!*config_str(cfg, OPT_PG_DSN)) {
        fprintf(stderr, "blotter-consumer: pg_dsn is empty\n");
        problems++;
    }
    const char *url = config_str(cfg, OPT_REDIS_URL);
    struct redis_url u;
    if (*url) {
        if (redis_url_parse(url, &u) != 0) {
            fprintf(stderr, "blotter-consumer: redis_url is not redis://[[user]:password@]host"
                            "[:port][/db]\n");
            problems++;
        } else {
            redis_url_clear(&u);
        }
    }
    return problems;
}

static int setup_kafka(struct app *a, char *errstr, size_t n)
{
    const char *brokers = config_str(a->cfg, OPT_KAFKA_BROKERS);
    rd_kafka_conf_t *conf = kafka_conf_new(KAFKA_PRODUCER, brokers, environ, errstr, n);
    if (!conf) {
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dlq_dr_cb);
    a->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, n);
    if (!a->dlq) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only on success */
        return -1;
    }
    struct kafka_topic_spec spec = {a->dlq_topic, (int)config_int(a->cfg, OPT_TOPIC_PARTITIONS),
                                    (int)config_int(a->cfg, OPT_TOPIC_REPLICATION), 0};
    char why[512];
    if (kafka_ensure_topics(a->dlq, &spec, 1, 10000, why, sizeof(why)) != ERR_OK) {
        log_warn("dlq.ensure_topic", "topic=%s error=%s", LQ(a->dlq_topic), LQ(why));
    }

    conf = kafka_conf_new(KAFKA_CONSUMER, brokers, environ, errstr, n);
    if (!conf) {
        return -1;
    }
    if (rd_kafka_conf_set(conf, "group.id", a->group, errstr, n) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, n) !=
            RD_KAFKA_CONF_OK ||
        (a->replay &&
         rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, n) != RD_KAFKA_CONF_OK)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, a);
    a->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, n);
    if (!a->rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_poll_set_consumer(a->rk);
    return 0;
}

/* Subscribe (live) or assign the planned ranges (replay). */
static enum err_class start_consuming(struct app *a, char *errstr, size_t n)
{
    size_t n_cities = config_list_len(a->cfg, OPT_CITY);
    rd_kafka_resp_err_t err;
    if (a->replay || config_bool(a->cfg, OPT_REPLAY)) {
        const char **cities = calloc(n_cities + 1, sizeof(*cities));
        char(*names)[256] = calloc(n_cities + 1, sizeof(*names));
        enum err_class cls = ERR_FATAL;
        if (cities && names) {
            for (size_t i = 0; i < n_cities; i++) {
                snprintf(names[i], sizeof(names[i]), "%s", config_list_item(a->cfg, OPT_CITY, i));
                cities[i] = names[i];
            }
            cls = replay_plan(a->rk, a->prefix, cities, n_cities, config_time_us(a->cfg, OPT_FROM),
                              config_time_us(a->cfg, OPT_TO), 15000, &a->replay, errstr, n);
        }
        free(cities);
        free(names);
        if (cls) {
            return cls;
        }
        const rd_kafka_topic_partition_list_t *parts = replay_assignment(a->replay);
        log_info("replay.plan", "partitions=%d messages=%lld", parts->cnt,
                 (long long)replay_total(a->replay));
        err = rd_kafka_assign(a->rk, parts);
        if (err) {
            err_set(errstr, n, "assign: %s", rd_kafka_err2str(err));
            return ERR_FATAL;
        }
        atomic_store(&a->assigned, true);
        return ERR_OK;
    }
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
    if (n_cities == 0) {
        /* ^<prefix>\.incidents\..* with the prefix's regex characters escaped. */
        char re[600];
        size_t o = 0;
        re[o++] = '^';
        for (const char *p = a->prefix; *p && o < sizeof(re) - 32; p++) {
            if (strchr(".^$*+?()[]{}|\\", *p)) {
                re[o++] = '\\';
            }
            re[o++] = *p;
        }
        snprintf(re + o, sizeof(re) - o, "\\.incidents\\..*");
        rd_kafka_topic_partition_list_add(subs, re, RD_KAFKA_PARTITION_UA);
    } else {
        for (size_t i = 0; i < n_cities; i++) {
            char topic[512];
            kafka_topic_incidents(topic, sizeof(topic), a->prefix,
                                  config_list_item(a->cfg, OPT_CITY, i));
            rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
        }
    }
    for (int i = 0; i < subs->cnt; i++) {
        log_info("consumer.subscribe", "topic=%s group=%s", LQ(subs->elems[i].topic), LQ(a->group));
    }
    err = rd_kafka_subscribe(a->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        err_set(errstr, n, "subscribe: %s", rd_kafka_err2str(err));
        return ERR_FATAL;
    }
    return ERR_OK;
}

/* Connect to the warehouse (applying migrations), retrying transient failures with backoff. */
static enum err_class connect_warehouse(struct app *a)
{
    struct backoff retry;
    char errstr[1024];
    backoff_init(&retry, a->backoff_ms, a->backoff_max_ms);
    for (;;) {
        enum err_class cls = warehouse_connect(a->wh, errstr, sizeof(errstr));
        if (cls == ERR_OK) {
            atomic_store(&a->wh_ok, true);
            return ERR_OK;
        }
        if (cls != ERR_TRANSIENT) {
            log_error("warehouse.fatal", "error=%s", LQ(errstr));
            return cls;
        }
        long wait = backoff_next_ms(&retry, -1);
        log_emit_limited(LOG_WARN, "warehouse.unreachable", 10, "error=%s backoff_ms=%ld",
                         LQ(errstr), wait);
        for (long waited = 0; waited < wait && !stop_requested; waited += 100) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (stop_requested) {
            return ERR_TRANSIENT;
        }
    }
}

/* ---- Main loop ---- */

static int run(struct app *a)
{
    struct batch b = {0};
    int rc = 0;
    int64_t last_default_check = 0;

    a->last_activity_ms = mono_ms();
    while (!stop_requested) {
        collect(a, &b);
        if (b.n) {
            enum err_class cls = process_batch(a, &b);
            a->last_activity_ms = mono_ms();
            if (cls == ERR_FATAL) {
                rc = 1;
                break;
            }
            if (cls == ERR_TRANSIENT) {
                break; /* stop requested while the warehouse was down: nothing stored */
            }
            batch_clear(&b);
        }
        int64_t now = mono_ms();
        if (now - a->last_lag_ms >= 2000) {
            update_lag(a);
            a->last_lag_ms = now;
        }
        if (now - last_default_check >= 30000 && warehouse_connected(a->wh)) {
            check_default_partition(a);
            last_default_check = now;
        }
        if (a->replay && replay_finished(a->replay) && a->n_carry == 0) {
            log_info("replay.done", "messages=%llu", a->t_messages);
            break;
        }
        if (!atomic_load(&a->assigned)) {
            a->last_activity_ms = now; /* idle counts only once partitions are ours */
        }
        if (a->until_idle_s && a->n_carry == 0 &&
            now - a->last_activity_ms >= a->until_idle_s * 1000) {
            log_info("consumer.idle", "seconds=%ld", a->until_idle_s);
            break;
        }
    }
    if (stop_requested == STOP_FATAL) {
        rc = 1; /* fatal Kafka error */
    }
    if (b.n) {
        log_info("consumer.abandoned", "messages=%zu note=\"not stored; re-read after restart\"",
                 b.n);
    }
    batch_clear(&b);
    free(b.slots);
    return rc;
}

int main(int argc, char **argv)
{
    struct app app = {0};
    struct app *a = &app;
    char errstr[1024];
    int rc = 1;

    a->cfg = config_new(P_CONSUMER, "blotter-consumer",
                        "Consume city incident topics into the PostgreSQL warehouse, exactly.");
    if (!a->cfg) {
        return 1;
    }
    enum config_result cr = config_load(a->cfg, argc, argv, environ, stdout, stderr);
    if (cr != CONFIG_OK) {
        config_destroy(a->cfg);
        return cr == CONFIG_EXIT_OK ? 0 : 2;
    }
    if (validate(a->cfg)) {
        fprintf(stderr, "blotter-consumer: configuration problems; see --help\n");
        config_destroy(a->cfg);
        return 2;
    }
    config_setup_log(a->cfg, "blotter-consumer");
    config_log(a->cfg);

    stop_setup();

    snprintf(a->prefix, sizeof(a->prefix), "%s", config_str(a->cfg, OPT_TOPIC_PREFIX));
    kafka_topic_dlq(a->dlq_topic, sizeof(a->dlq_topic), a->prefix);
    if (*config_str(a->cfg, OPT_GROUP_ID)) {
        snprintf(a->group, sizeof(a->group), "%s", config_str(a->cfg, OPT_GROUP_ID));
    } else {
        snprintf(a->group, sizeof(a->group), "%.200s.warehouse", a->prefix);
    }
    if (config_bool(a->cfg, OPT_REPLAY)) {
        size_t len = strlen(a->group);
        snprintf(a->group + len, sizeof(a->group) - len, ".replay.%lld", (long long)time(NULL));
    }
    a->batch_size = config_int(a->cfg, OPT_BATCH_SIZE);
    a->batch_timeout_ms = config_int(a->cfg, OPT_BATCH_TIMEOUT_MS);
    a->backoff_ms = config_int(a->cfg, OPT_BACKOFF_MS);
    a->backoff_max_ms = config_int(a->cfg, OPT_BACKOFF_MAX_MS);
    a->until_idle_s = config_int(a->cfg, OPT_UNTIL_IDLE_S);
    metrics_init(&a->m);

    if (*config_str(a->cfg, OPT_HTTP_LISTEN)) {
        a->httpd =
            httpd_start(config_str(a->cfg, OPT_HTTP_LISTEN), ready_cb, a, errstr, sizeof(errstr));
        if (!a->httpd) {
            log_error("httpd.failed", "error=%s", LQ(errstr));
            goto out;
        }
        log_info("httpd.listening", "port=%d", httpd_port(a->httpd));
    }
    a->codec =
        codec_new((int32_t)config_int(a->cfg, OPT_SCHEMA_REGISTRY_ID), errstr, sizeof(errstr));
    if (!a->codec) {
        log_error("codec.failed", "error=%s", LQ(errstr));
        goto out;
    }
    a->wh = warehouse_new(config_str(a->cfg, OPT_PG_DSN));
    if (!a->wh) {
        goto out;
    }
    enum err_class cls = connect_warehouse(a);
    if (cls != ERR_OK) {
        rc = cls == ERR_TRANSIENT ? 0 : 1; /* transient: a stop was requested while waiting */
        goto out;
    }
    log_info("warehouse.ready", "warehouse_id=%s", warehouse_id(a->wh));
    if (*config_str(a->cfg, OPT_REDIS_URL)) {
        a->seen = seen_new(config_str(a->cfg, OPT_REDIS_URL),
                           (uint32_t)config_int(a->cfg, OPT_SEEN_BUCKETS), 2000, (int)a->backoff_ms,
                           (int)a->backoff_max_ms, errstr, sizeof(errstr));
        if (!a->seen) {
            log_error("seen.failed", "error=%s", LQ(errstr));
            goto out;
        }
        seen_set_namespace(a->seen, warehouse_id(a->wh));
    }
    if (setup_kafka(a, errstr, sizeof(errstr)) != 0) {
        log_error("kafka.failed", "error=%s", LQ(errstr));
        goto out;
    }
    if ((cls = start_consuming(a, errstr, sizeof(errstr))) != ERR_OK) {
        log_error("kafka.failed", "error=%s", LQ(errstr));
        goto out;
    }
    rc = run(a);

out:
    for (size_t i = 0; i < a->n_carry; i++) {
        rd_kafka_message_destroy(a->carry[i]); /* never stored: re-read after a restart */
    }
    if (a->rk) {
        /* Commits what was stored (only committed batches), leaves the group. */
        rd_kafka_consumer_close(a->rk);
        rd_kafka_destroy(a->rk);
    }
    free(a->carry);
    if (a->dlq) {
        if (rd_kafka_flush(a->dlq, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("dlq.flush_timeout", "outq=%d", rd_kafka_outq_len(a->dlq));
        }
        rd_kafka_destroy(a->dlq);
    }
    log_info("consumer.done",
             "messages=%llu inserted=%llu updated=%llu unchanged=%llu seen_hits=%llu "
             "dead_letters=%llu exit=%d",
             a->t_messages, a->t_inserted, a->t_updated, a->t_unchanged, a->t_seen, a->t_dead, rc);
    replay_destroy(a->replay);
    httpd_stop(a->httpd);
    seen_destroy(a->seen);
    warehouse_destroy(a->wh);
    codec_destroy(a->codec);
    config_destroy(a->cfg);
    return rc;
}
