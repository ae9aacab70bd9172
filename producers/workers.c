/* Row worker threads. See workers.h. */
#include "producers/workers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "producers/city_map.h"
#include "producers/jarena.h"
#include "producers/limits.h"

#define QUEUE_ROWS 1024

struct work {
    struct page *pg;
    char *raw; /* the row's text, or NULL when row is set */
    size_t len;
    json_t *row; /* the row the kind read already (a reference of our own), or NULL */
};

struct worker {
    struct workers *pool;
    struct codec *codec;
    struct map_stats stats;
    pthread_t thread;
    bool started;
};

struct workers {
    struct workers_setup s;
    pthread_mutex_t lock;
    pthread_cond_t nonempty; /* the main thread waits for room or idleness by polling Kafka */
    struct work ring[QUEUE_ROWS];
    size_t head, len;
    int busy;
    bool quit;
    struct worker *threads;
    int n_threads;
};

static void reject(struct workers *pool, struct page *pg, const char *raw, size_t len,
                   const char *reason)
{
    const struct city *city = pool->s.city;
    struct deadletter dl = {.reason = reason,
                            .rejected_by = "blotter-producer",
                            .city = city->name,
                            .source = pool->s.kind->name,
                            .dataset = city->dataset};
    log_emit_limited(LOG_WARN, "row.rejected", 10, "city=%s error=%s", city->name, LQ(reason));
    publish_dead_letter(pool->s.pub, pg, &dl, raw, len);
}

/* Whether a mapped row is to be left out: it occurred outside the backfill range, or (a
 * snapshot kind) its content is what was published last. Fills the content fingerprint of a
 * snapshot kind's row (hex) for the message's headers. */
static bool leave_out(struct workers *pool, const json_t *row, const struct incident *inc,
                      char fp_hex[17])
{
    const struct workers_setup *s = &pool->s;
    fp_hex[0] = 0;
    if ((s->range_lo != TS_NULL && inc->occurred_at < s->range_lo) ||
        (s->range_hi != TS_NULL && inc->occurred_at >= s->range_hi)) {
        atomic_fetch_add(&s->stats->filtered, 1);
        return true;
    }
    if (!s->snap) {
        return false;
    }
    /* The content without the walk stamp (when it stands in for an update time): a walk over
     * an unchanged unit finds every row the same. */
    struct incident bare = *inc;
    const char *upd = s->city->updated_at.field;
    if (!upd || !json_is_string(json_object_get(row, upd))) {
        bare.source_updated_at = 0;
    }
    uint64_t fp = incident_content_hash(&bare);
    snapshot_fp_hex(fp, fp_hex);
    const char *unit = json_string_value(json_object_get(row, "::unit"));
    const char *stamp = json_string_value(json_object_get(row, "::stamp"));
    if (snapshot_offer(s->snap, unit, stamp, inc->incident_id, strlen(inc->incident_id), fp) ==
        SNAP_SAME) {
        producer_count(&s->stats->unchanged, s->stats->m_unchanged);
        return true;
    }
    return false;
}

/* reject() for a row given as text (raw) or read already (raw NULL: its compact text, the rare
 * path). */
static void reject_row(struct workers *pool, struct page *pg, const char *raw, size_t len,
                       const json_t *row, const char *reason)
{
    char *text = raw ? NULL : json_dumps(row, JSON_COMPACT);
    if (!raw) {
        raw = text ? text : "";
        len = strlen(raw);
    }
    reject(pool, pg, raw, len, reason);
    free(text);
}

/* A worker's share: read, map, encode and publish one row: its text (raw, len), or the row the
 * kind read already (given, raw NULL; its reference is taken over). */
static void process_row(struct workers *pool, struct worker *w, struct page *pg, const char *raw,
                        size_t len, json_t *given)
{
    char err[512], *clean = NULL, fp[17];
    size_t clean_len = 0;
    const struct source_limits *lim = limits_or_default(pool->s.limits);
    json_t *row = given;
    const char *past = row ? limits_check_tree(lim, row, err, sizeof(err))
                           : limits_check_raw(lim, raw, len, err, sizeof(err));
    if (past) {
        reject_row(pool, pg, raw, len, row, past);
        json_decref(row);
        return;
    }
    if (!row) {
        /* Read into an arena of the row's own: its values go back together, when it does. */
        struct jarena *arena = jarena_new();
        jarena_enter(arena);
        row = pool->s.kind->read_row(raw, len, &clean, &clean_len);
        jarena_leave();
        jarena_release(arena);
        if (clean) {
            raw = clean;
            len = clean_len;
        }
    }
    /* The position moves over every row, mapped or not: a rejected row is in the dead-letter
     * topic, which is as far as it will ever get. Done first: after publishing, pg may be gone. */
    if (row) {
        ledger_page_advance(pool->s.ledger, pg, pool->s.kind->advance, row);
    }
    struct incident inc;
    incident_init(&inc);
    uint64_t unmapped = w->stats.unmapped_offense;
    void *value = NULL;
    size_t value_len = 0;
    if (!row) {
        /* Why, in jansson's words (a lone surrogate escape, a syntax error): the rare path. */
        json_error_t jerr;
        json_t *again = json_loadb(raw, len, JSON_ALLOW_NUL, &jerr);
        json_decref(again);
        err_set(err, sizeof(err), "row is not valid JSON: %.200s (byte %d)", jerr.text,
                jerr.position);
        reject(pool, pg, raw, len, err);
    } else if ((past = limits_check_row(lim, row, err, sizeof(err)))) {
        reject_row(pool, pg, raw, len, row, past);
    } else if (city_map_row(pool->s.city, row, now_us(), &inc, &w->stats, err, sizeof(err)) !=
               ERR_OK) {
        reject_row(pool, pg, raw, len, row, err);
    } else if (leave_out(pool, row, &inc, fp)) {
        ledger_row_done(pool->s.ledger, pg, true); /* taken, nothing to send; the last touch */
    } else if (codec_encode(w->codec, &inc, &value, &value_len, err, sizeof(err)) != ERR_OK) {
        reject_row(pool, pg, raw, len, row, err);
    } else {
        if (w->stats.unmapped_offense != unmapped) {
            producer_count(&pool->s.stats->unmapped, pool->s.stats->m_unmapped);
        }
        publish_incident(pool->s.pub, pg, inc.incident_id, value, value_len, fp[0] ? fp : NULL,
                         json_string_value(json_object_get(row, "::unit")));
    }
    incident_clear(&inc);
    json_decref(row);
    free(clean);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct workers *pool = w->pool;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->len == 0 && !pool->quit) {
            pthread_cond_wait(&pool->nonempty, &pool->lock);
        }
        if (pool->len == 0) {
            break;
        }
        struct work item = pool->ring[pool->head];
        pool->head = (pool->head + 1) % QUEUE_ROWS;
        pool->len--;
        pool->busy++;
        pthread_mutex_unlock(&pool->lock);
        process_row(pool, w, item.pg, item.raw, item.len, item.row);
        free(item.raw);
        pthread_mutex_lock(&pool->lock);
        pool->busy--;
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

void workers_submit(struct workers *pool, struct page *pg, const char *raw, size_t len, json_t *row)
{
    struct work item = {pg, row ? NULL : malloc(len + 1), len, json_incref(row)};
    if (!row && !item.raw) {
        log_emit_limited(LOG_ERROR, "producer.oom", 10, "what=row");
        ledger_row_out(pg);
        ledger_row_done(pool->s.ledger, pg, false); /* the page cannot complete: re-read */
        return;
    }
    if (item.raw) {
        memcpy(item.raw, raw, len);
        item.raw[len] = 0;
    }
    ledger_row_out(pg);
    pthread_mutex_lock(&pool->lock);
    while (pool->len == QUEUE_ROWS) {
        pthread_mutex_unlock(&pool->lock);
        publisher_poll(pool->s.pub, 1); /* serve delivery reports while the workers catch up */
        pthread_mutex_lock(&pool->lock);
    }
    pool->ring[(pool->head + pool->len) % QUEUE_ROWS] = item;
    pool->len++;
    pthread_cond_signal(&pool->nonempty);
    pthread_mutex_unlock(&pool->lock);
}

void workers_drain(struct workers *pool)
{
    pthread_mutex_lock(&pool->lock);
    while (pool->len > 0 || pool->busy > 0) {
        pthread_mutex_unlock(&pool->lock);
        publisher_poll(pool->s.pub, 1);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
}

struct workers *workers_start(const struct workers_setup *setup, char *errstr, size_t errstr_size)
{
    struct workers *pool = calloc(1, sizeof(*pool));
    if (!pool || !(pool->threads = calloc((size_t)setup->threads, sizeof(*pool->threads)))) {
        free(pool);
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pool->s = *setup;
    pool->n_threads = setup->threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->nonempty, NULL);
    for (int i = 0; i < pool->n_threads; i++) {
        struct worker *w = &pool->threads[i];
        w->pool = pool;
        w->codec = codec_new(setup->schema_registry_id, errstr, errstr_size);
        if (!w->codec) {
            workers_stop(pool);
            return NULL;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            err_set(errstr, errstr_size, "cannot start a worker thread");
            workers_stop(pool);
            return NULL;
        }
        w->started = true;
    }
    return pool;
}

void workers_stop(struct workers *pool)
{
    if (!pool) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->quit = true;
    pthread_cond_broadcast(&pool->nonempty);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_threads; i++) {
        if (pool->threads[i].started) {
            pthread_join(pool->threads[i].thread, NULL);
        }
        codec_destroy(pool->threads[i].codec);
    }
    for (size_t i = 0; i < pool->len; i++) { /* none after a join; kept for a failed start */
        free(pool->ring[(pool->head + i) % QUEUE_ROWS].raw);
        json_decref(pool->ring[(pool->head + i) % QUEUE_ROWS].row);
    }
    pthread_cond_destroy(&pool->nonempty);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}
