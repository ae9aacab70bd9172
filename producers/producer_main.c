/* blotter-producer: follow one city's Socrata dataset and publish every new or changed incident
 * to Kafka.
 *
 *   poll page (keyset on :updated_at, :id) → map row → Avro → produce (key = incident_id)
 *                                          ↘ unmappable → <prefix>.dlq
 *   all messages of a page acknowledged (and of every page before it) → checkpoint
 *
 * The checkpoint never passes a row Kafka has not acknowledged, so the process can be killed at
 * any instant: a restart re-reads at most the pages in flight (duplicates, never gaps).
 *
 * Threads: the main thread fetches and splits pages, serves delivery reports and owns the page
 * list and the checkpoint; `workers` threads parse, map, encode and produce rows. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "producers/checkpoint.h"
#include "producers/city.h"
#include "common/codec.h"
#include "common/config.h"
#include "common/httpd.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "producers/query.h"
#include "producers/socrata.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "common/backoff.h"

extern char **environ;

/* ---- Pages in flight ---- */

/* One fetched page (or one attempt at it). Its messages carry it as their opaque; it is freed
 * when every one of them has a delivery report. */
struct page {
    struct page *next;
    struct keyset end;         /* the last row's position (workers advance it under klock) */
    atomic_size_t outstanding; /* rows handed to workers without a delivery report yet */
    size_t rows;
    bool complete;      /* the whole page arrived and may advance the checkpoint */
    atomic_bool failed; /* a message of it could not be produced or delivered */
};

/* A row waiting for a worker. */
struct work {
    struct page *pg;
    char *raw;
    size_t len;
};

struct producer;

struct worker {
    struct producer *p;
    struct codec *codec;
    struct map_stats stats;
    pthread_t thread;
    bool started;
};

struct producer {
    struct config *cfg;
    struct city *city;
    rd_kafka_t *rk;
    struct socrata *socrata;
    char topic[256], state_topic[256], dlq_topic[256];
    char key[512]; /* checkpoint key */
    const char *base;
    char range_where[512];
    struct page *head, *tail;      /* pages in fetch order (main thread only) */
    struct page *current;          /* the page being fetched */
    struct checkpoint_value acked; /* newest position whose rows are all acknowledged */
    bool acked_dirty;
    int64_t last_save_ms;
    atomic_bool rewind; /* a message failed: re-read from the acknowledged position */
    atomic_ullong published, rejected, unmapped;
    uint64_t fetched;
    bool drift_reported;
    volatile int ready;
    /* the work queue, between the main thread and the workers */
    pthread_mutex_t qlock;
    pthread_cond_t q_nonempty; /* the main thread waits for room or idleness by polling Kafka */
    struct work *ring;
    size_t qcap, qhead, qlen;
    int busy;
    bool quit;
    pthread_mutex_t klock; /* pages' end positions */
    struct worker *workers;
    int n_workers;
    /* metrics */
    struct metric *m_fetched, *m_published, *m_rejected, *m_pages, *m_http, *m_ck_age, *m_unmapped,
        *m_drift, *m_undelivered;
};

static struct metric *retry_metric(const struct producer *p, const char *cause)
{
    char labels[256];
    snprintf(labels, sizeof(labels), "city=\"%s\",cause=\"%s\"", p->city->name, cause);
    return metric_counter("blotter_producer_retries_total", "Page retries by cause", labels);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct producer *p = opaque;
    struct page *pg = rkm->_private;
    if (!pg) {
        if (rkm->err) {
            log_emit_limited(LOG_WARN, "checkpoint.undelivered", 10, "error=%s",
                             LQ(rd_kafka_err2str(rkm->err)));
        }
        return; /* a checkpoint */
    }
    if (rkm->err) {
        pg->failed = true;
        p->rewind = true;
        metric_add(p->m_undelivered, 1);
        log_emit_limited(LOG_ERROR, "publish.undelivered", 10, "topic=%s error=%s",
                         rd_kafka_topic_name(rkm->rkt), LQ(rd_kafka_err2str(rkm->err)));
    }
    atomic_fetch_sub(&pg->outstanding, 1);
}

/* Move the acknowledged position over every leading complete page whose messages are all
 * delivered. An abandoned attempt (a page whose transfer failed and was fetched again) advances
 * nothing and blocks nothing: its rows are covered by the later attempt, whose messages follow
 * its own on the same partitions. */
static void advance_acked(struct producer *p)
{
    struct page **link = &p->head;
    while (*link) {
        struct page *pg = *link;
        if (pg == p->current) {
            break;
        }
        if (!pg->complete) {
            if (pg->outstanding == 0) {
                *link = pg->next;
                free(pg);
            } else {
                link = &pg->next;
            }
            continue;
        }
        if (pg->outstanding > 0 || pg->failed) {
            break;
        }
        if (pg->rows > 0) {
            if (pg->end.set) {
                p->acked.ks = pg->end;
            }
            p->acked.rows += pg->rows;
            p->acked_dirty = true;
        }
        *link = pg->next;
        free(pg);
    }
    p->tail = NULL;
    for (struct page *pg = p->head; pg; pg = pg->next) {
        p->tail = pg;
    }
}

static void save_checkpoint(struct producer *p, bool force)
{
    int64_t now = mono_ms();
    if (!p->acked_dirty || (!force && now - p->last_save_ms < 1000)) {
        return;
    }
    char err[256];
    p->acked.saved_at = now_us();
    if (checkpoint_save(p->rk, p->state_topic, p->key, &p->acked, err, sizeof(err)) == ERR_OK) {
        p->acked_dirty = false;
        p->last_save_ms = now;
        metric_set(p->m_ck_age, 0);
        log_at(LOG_DEBUG, "checkpoint.saved", "key=%s updated_at=%s id=%s rows=%llu", LQ(p->key),
               p->acked.ks.set ? p->acked.ks.updated_at : "-", LQ(p->acked.ks.id),
               (unsigned long long)p->acked.rows);
    } else {
        log_emit_limited(LOG_WARN, "checkpoint.failed", 10, "reason=%s", LQ(err));
    }
}

/* Serve delivery reports and advance the checkpoint. */
static void service(struct producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
    advance_acked(p);
    save_checkpoint(p, false);
    if (p->last_save_ms) {
        metric_set(p->m_ck_age, (double)(mono_ms() - p->last_save_ms) / 1000.0);
    }
}

/* ---- Rows ---- */

/* Produce one message of page pg (whose outstanding count already includes it). */
static void produce(struct producer *p, struct page *pg, const char *topic, const void *key,
                    size_t key_len, void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    for (;;) {
        rd_kafka_resp_err_t err;
        if (hdrs) {
            err = rd_kafka_producev(
                p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(pg), RD_KAFKA_V_END);
        } else {
            err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                    RD_KAFKA_V_VALUE(value, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(pg),
                                    RD_KAFKA_V_END);
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return; /* value, headers and the page's count now belong to librdkafka */
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_requested) {
            /* Not taken: the page cannot complete, so the checkpoint will not pass it. */
            free(value);
            if (hdrs) {
                rd_kafka_headers_destroy(hdrs);
            }
            p->rewind = true;
            pg->failed = true;
            atomic_fetch_sub(&pg->outstanding, 1); /* the last touch of pg */
            log_emit_limited(LOG_ERROR, "publish.failed", 10, "topic=%s error=%s", topic,
                             LQ(rd_kafka_err2str(err)));
            return;
        }
        usleep(2000); /* queue full: the main thread is serving delivery reports */
    }
}

static void dead_letter(struct producer *p, struct page *pg, const char *raw, size_t raw_len,
                        const char *reason)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, "blotter.source", -1, "socrata", -1);
    rd_kafka_header_add(h, "blotter.city", -1, p->city->name, -1);
    rd_kafka_header_add(h, "blotter.dataset", -1, p->city->dataset, -1);
    rd_kafka_header_add(h, "blotter.reason", -1, reason, -1);
    char now[40];
    us_format(now_us(), false, now, sizeof(now));
    rd_kafka_header_add(h, "blotter.rejected_at", -1, now, -1);
    void *copy = malloc(raw_len ? raw_len : 1);
    memcpy(copy, raw, raw_len);
    p->rejected++;
    metric_add(p->m_rejected, 1);
    log_emit_limited(LOG_WARN, "row.rejected", 10, "city=%s reason=%s", p->city->name, LQ(reason));
    produce(p, pg, p->dlq_topic, p->city->name, strlen(p->city->name), copy, raw_len, h);
}

/* A worker's share: parse, map, encode and produce one row. */
static void process_row(struct producer *p, struct worker *w, struct page *pg, const char *raw,
                        size_t raw_len)
{
    char err[512], *scrubbed;
    size_t scrubbed_len;
    json_t *row = row_parse(raw, raw_len, &scrubbed, &scrubbed_len);
    if (scrubbed) {
        raw = scrubbed;
        raw_len = scrubbed_len;
    }
    /* The position moves over every row, mapped or not: a rejected row is in the dead-letter
     * topic, which is as far as it will ever get. Done first: after produce, pg may be gone. */
    pthread_mutex_lock(&p->klock);
    keyset_advance(&pg->end, json_string_value(json_object_get(row, ":updated_at")),
                   json_string_value(json_object_get(row, ":id")));
    pthread_mutex_unlock(&p->klock);
    struct incident inc;
    incident_init(&inc);
    uint64_t unmapped = w->stats.unmapped_offense;
    if (!row) {
        dead_letter(p, pg, raw, raw_len, "row is not valid JSON");
    } else if (city_map_row(p->city, row, now_us(), &inc, &w->stats, err, sizeof(err)) != ERR_OK) {
        dead_letter(p, pg, raw, raw_len, err);
    } else {
        if (w->stats.unmapped_offense != unmapped) {
            p->unmapped++;
            metric_add(p->m_unmapped, 1);
        }
        void *value = NULL;
        size_t len = 0;
        if (codec_encode(w->codec, &inc, &value, &len, err, sizeof(err)) != ERR_OK) {
            dead_letter(p, pg, raw, raw_len, err);
        } else {
            p->published++;
            metric_add(p->m_published, 1);
            produce(p, pg, p->topic, inc.incident_id, strlen(inc.incident_id), value, len, NULL);
        }
    }
    incident_clear(&inc);
    json_decref(row);
    free(scrubbed);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct producer *p = w->p;
    pthread_mutex_lock(&p->qlock);
    for (;;) {
        while (p->qlen == 0 && !p->quit) {
            pthread_cond_wait(&p->q_nonempty, &p->qlock);
        }
        if (p->qlen == 0) {
            break;
        }
        struct work item = p->ring[p->qhead];
        p->qhead = (p->qhead + 1) % p->qcap;
        p->qlen--;
        p->busy++;
        pthread_mutex_unlock(&p->qlock);
        process_row(p, w, item.pg, item.raw, item.len);
        free(item.raw);
        pthread_mutex_lock(&p->qlock);
        p->busy--;
    }
    pthread_mutex_unlock(&p->qlock);
    return NULL;
}

/* Main thread: hand a row of the page being fetched to the workers. */
static int on_row(void *ctx, json_t *row, const char *raw, size_t raw_len)
{
    (void)row;
    struct producer *p = ctx;
    struct page *pg = p->current;
    struct work item = {pg, malloc(raw_len + 1), raw_len};
    memcpy(item.raw, raw, raw_len);
    item.raw[raw_len] = 0;
    p->fetched++;
    pg->rows++;
    metric_add(p->m_fetched, 1);
    atomic_fetch_add(&pg->outstanding, 1);
    pthread_mutex_lock(&p->qlock);
    while (p->qlen == p->qcap) {
        pthread_mutex_unlock(&p->qlock);
        rd_kafka_poll(p->rk, 1); /* serve delivery reports while the workers catch up */
        pthread_mutex_lock(&p->qlock);
    }
    p->ring[(p->qhead + p->qlen) % p->qcap] = item;
    p->qlen++;
    pthread_cond_signal(&p->q_nonempty);
    pthread_mutex_unlock(&p->qlock);
    return stop_requested ? 1 : 0;
}

/* Wait until the workers have taken and finished every queued row. */
static void workers_drain(struct producer *p)
{
    pthread_mutex_lock(&p->qlock);
    while (p->qlen > 0 || p->busy > 0) {
        pthread_mutex_unlock(&p->qlock);
        rd_kafka_poll(p->rk, 1);
        pthread_mutex_lock(&p->qlock);
    }
    pthread_mutex_unlock(&p->qlock);
}

static int workers_start(struct producer *p, int n, char *err, size_t n_err)
{
    pthread_mutex_init(&p->qlock, NULL);
    pthread_mutex_init(&p->klock, NULL);
    pthread_cond_init(&p->q_nonempty, NULL);
    p->qcap = 1024;
    p->ring = calloc(p->qcap, sizeof(*p->ring));
    p->workers = calloc((size_t)n, sizeof(*p->workers));
    p->n_workers = n;
    for (int i = 0; i < n; i++) {
        struct worker *w = &p->workers[i];
        w->p = p;
        w->codec = codec_new((int32_t)config_int(p->cfg, OPT_SCHEMA_REGISTRY_ID), err, n_err);
        if (!w->codec) {
            return -1;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            err_set(err, n_err, "cannot start a worker thread");
            return -1;
        }
        w->started = true;
    }
    return 0;
}

static void workers_stop(struct producer *p)
{
    if (!p->workers) {
        return;
    }
    pthread_mutex_lock(&p->qlock);
    p->quit = true;
    pthread_cond_broadcast(&p->q_nonempty);
    pthread_mutex_unlock(&p->qlock);
    for (int i = 0; i < p->n_workers; i++) {
        if (p->workers[i].started) {
            pthread_join(p->workers[i].thread, NULL);
        }
        codec_destroy(p->workers[i].codec);
    }
    free(p->workers);
    free(p->ring);
    p->workers = NULL;
}

/* ---- Drift ---- */

static void report_drift(struct producer *p, json_t *fields)
{
    if (p->drift_reported || !json_is_array(fields)) {
        return;
    }
    p->drift_reported = true;
    const char **missing, **unknown;
    size_t n = city_drift(p->city, fields, &missing, &unknown);
    metric_set(p->m_drift, (double)n);
    if (n) {
        char m[1024] = "", u[1024] = "";
        for (size_t i = 0; missing[i]; i++) {
            snprintf(m + strlen(m), sizeof(m) - strlen(m), "%s%s", i ? "," : "", missing[i]);
        }
        for (size_t i = 0; unknown[i]; i++) {
            snprintf(u + strlen(u), sizeof(u) - strlen(u), "%s%s", i ? "," : "", unknown[i]);
        }
        log_warn("schema.drift", "city=%s dataset=%s missing=%s unknown=%s hint=%s", p->city->name,
                 p->city->dataset, LQ(*m ? m : "-"), LQ(*u ? u : "-"),
                 LQ("update the city file's fields and mapping"));
    }
    free(missing);
    free(unknown);
}

/* ---- Passes ---- */

static void sleep_serving(struct producer *p, long ms)
{
    int64_t until = mono_ms() + ms;
    while (!stop_requested && mono_ms() < until) {
        long left = (long)(until - mono_ms());
        service(p, left < 200 ? (int)left : 200);
    }
}

struct progress {
    int64_t total; /* -1 unknown */
    int64_t start_ms, last_ms;
    uint64_t start_rows;
};

static void print_progress(struct producer *p, struct progress *pr, bool final)
{
    int64_t now = mono_ms();
    if (!final && now - pr->last_ms < 2000) {
        return;
    }
    pr->last_ms = now;
    double secs = (double)(now - pr->start_ms) / 1000.0;
    uint64_t rows = p->fetched - pr->start_rows;
    double rate = secs > 0 ? (double)rows / secs : 0;
    if (pr->total > 0) {
        double left = rate > 0 ? ((double)pr->total - (double)rows) / rate : 0;
        if (left < 0) {
            left = 0;
        }
        fprintf(stderr, "backfill %s: %llu/%lld rows (%.1f%%), %.0f rows/s, %s%d:%02d\n",
                p->city->name, (unsigned long long)rows, (long long)pr->total,
                100.0 * (double)rows / (double)pr->total, rate, final ? "took " : "ETA ",
                (int)((final ? secs : left) / 60), (int)(final ? secs : left) % 60);
    } else {
        fprintf(stderr, "backfill %s: %llu rows, %.0f rows/s, %.0f s\n", p->city->name,
                (unsigned long long)rows, rate, secs);
    }
}

/* One complete pass: pages from the acknowledged position until a short page. ERR_OK when the
 * pass reached the end. */
static enum err_class run_pass(struct producer *p, struct progress *pr)
{
    struct keyset after = p->acked.ks;
    int limit = (int)config_int(p->cfg, OPT_PAGE_SIZE);
    int retry_max = (int)config_int(p->cfg, OPT_RETRY_MAX);
    char url[8192], err[512];
    /* Pages still in flight from an earlier pass only drain now. */
    for (struct page *pg = p->head; pg; pg = pg->next) {
        pg->complete = false;
    }
    p->rewind = false;
    while (!stop_requested) {
        if (query_page_url(url, sizeof(url), p->base, p->city, &after, p->range_where, limit)) {
            log_error("pass.failed", "city=%s reason=%s", p->city->name, LQ("URL too long"));
            return ERR_FATAL;
        }
        int attempt = 0;
        struct backoff retry;
        backoff_init(&retry, config_int(p->cfg, OPT_BACKOFF_MS),
                     config_int(p->cfg, OPT_BACKOFF_MAX_MS));
        struct socrata_page page;
        enum err_class cls;
        struct page *pg;
        for (;;) {
            pg = calloc(1, sizeof(*pg));
            pg->end = after;
            if (p->tail) {
                p->tail->next = pg;
            } else {
                p->head = pg;
            }
            p->tail = pg;
            p->current = pg;
            cls = socrata_get(p->socrata, url, on_row, p, false, &page, err, sizeof(err));
            workers_drain(p); /* the page's end position is final once its rows are taken */
            p->current = NULL;
            metric_observe(p->m_http, page.seconds);
            report_drift(p, page.fields);
            json_decref(page.fields);
            const char *cause = NULL;
            if (cls == ERR_OK && page.out_of_date) {
                cause = "out_of_date";
                snprintf(err, sizeof(err), "X-SODA2-Data-Out-Of-Date: true");
            } else if (cls == ERR_TRANSIENT) {
                cause = page.timed_out       ? "timeout"
                        : page.status == 429 ? "throttled"
                        : page.status == 202 ? "processing"
                        : page.status >= 500 ? "server_error"
                        : page.status == 200 ? "truncated"
                                             : "network";
            }
            if (!cause || stop_requested) {
                break;
            }
            /* Abandon this attempt: what it published stays, but it advances nothing. */
            if (++attempt > retry_max) {
                log_error("page.failed", "city=%s attempts=%d reason=%s", p->city->name, attempt,
                          LQ(err));
                return ERR_TRANSIENT;
            }
            metric_add(retry_metric(p, cause), 1);
            long wait =
                backoff_next_ms(&retry, page.retry_after_s >= 0 ? page.retry_after_s * 1000 : -1);
            log_emit_limited(LOG_WARN, "page.retry", 5,
                             "city=%s cause=%s attempt=%d wait_ms=%ld reason=%s", p->city->name,
                             cause, attempt, wait, LQ(err));
            sleep_serving(p, wait);
            if (stop_requested) {
                return ERR_OK;
            }
        }
        if (stop_requested) {
            return ERR_OK;
        }
        if (cls != ERR_OK) {
            log_error("page.failed", "city=%s reason=%s", p->city->name, LQ(err));
            return cls;
        }
        pg->complete = true;
        metric_add(p->m_pages, 1);
        after = pg->end;
        service(p, 0);
        if (pr) {
            print_progress(p, pr, false);
        }
        if (p->rewind) {
            log_warn("pass.rewind", "city=%s reason=%s", p->city->name,
                     LQ("a message was not delivered; re-reading from the checkpoint"));
            return ERR_TRANSIENT;
        }
        if (page.rows < (size_t)limit) {
            return ERR_OK; /* a short page: the end */
        }
    }
    return ERR_OK;
}

/* Wait for every delivery report (bounded), then save the final checkpoint. 0 when nothing
 * stayed undelivered. */
static int finish(struct producer *p)
{
    int64_t deadline = mono_ms() + 60000;
    while (p->head && mono_ms() < deadline) {
        service(p, 100);
    }
    save_checkpoint(p, true);
    rd_kafka_flush(p->rk, 30000);
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0 || p->head) {
        log_error("producer.undelivered", "city=%s messages=%d", p->city->name, left);
        return -1;
    }
    return 0;
}

static int on_count(void *ctx, json_t *row, const char *raw, size_t raw_len)
{
    (void)raw, (void)raw_len;
    int64_t *total = ctx;
    const json_t *v = json_object_get(row, "count");
    if (json_is_string(v)) {
        *total = atoll(json_string_value(v));
    } else if (json_is_integer(v)) {
        *total = json_integer_value(v);
    }
    return 0;
}

static bool is_ready(void *arg)
{
    return ((struct producer *)arg)->ready;
}

/* ---- Setup ---- */

static struct metric *city_metric(const struct producer *p, int kind, const char *name,
                                  const char *help)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "city=\"%s\"", p->city->name);
    return kind ? metric_gauge(name, help, labels) : metric_counter(name, help, labels);
}

int main(int argc, char **argv)
{
    struct producer prod = {0}, *p = &prod;
    int rc = 1;
    char err[1024];
    struct httpd *httpd = NULL;

    p->cfg = config_new(P_PRODUCER, "blotter-producer",
                        "Follow one city's Socrata dataset and publish every new or changed "
                        "incident to Kafka.\n  blotter-producer --city NAME [--once]\n  "
                        "blotter-producer --city NAME --since DATE [--until DATE]   backfill");
    switch (config_load(p->cfg, argc, argv, environ, stdout, stderr)) {
    case CONFIG_EXIT_OK:
        config_destroy(p->cfg);
        return 0;
    case CONFIG_EXIT_USAGE:
        config_destroy(p->cfg);
        return 2;
    default:
        break;
    }
    config_setup_log(p->cfg, "blotter-producer");
    if (config_list_len(p->cfg, OPT_CITY) != 1) {
        fprintf(stderr, "blotter-producer: give exactly one --city (one producer per city); "
                        "see --help\n");
        config_destroy(p->cfg);
        return 2;
    }
    p->city = city_load(config_str(p->cfg, OPT_CITIES_DIR), config_list_item(p->cfg, OPT_CITY, 0),
                        err, sizeof(err));
    if (!p->city) {
        fprintf(stderr, "blotter-producer: %s\n", err);
        config_destroy(p->cfg);
        return 2;
    }
    int64_t since = config_time_us(p->cfg, OPT_SINCE), until = config_time_us(p->cfg, OPT_UNTIL);
    bool backfill = since != INT64_MIN || until != INT64_MIN;
    if (since != INT64_MIN && until != INT64_MIN && until <= since) {
        fprintf(stderr, "blotter-producer: --until must be after --since\n");
        goto out_early;
    }
    config_log(p->cfg);
    if (p->city->frozen && !backfill) {
        log_warn("city.frozen", "city=%s dataset=%s note=%s", p->city->name, p->city->dataset,
                 LQ("the source is no longer updated; polling will find nothing new"));
    }
    stop_setup();

    char base[512];
    if (*config_str(p->cfg, OPT_SOCRATA_BASE_URL)) {
        snprintf(base, sizeof(base), "%s", config_str(p->cfg, OPT_SOCRATA_BASE_URL));
    } else {
        snprintf(base, sizeof(base), "https://%s", p->city->domain);
    }
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/') {
        base[--bl] = 0;
    }
    p->base = base;
    const char *prefix = config_str(p->cfg, OPT_TOPIC_PREFIX);
    kafka_topic_incidents(p->topic, sizeof(p->topic), prefix, p->city->name);
    kafka_topic_state(p->state_topic, sizeof(p->state_topic), prefix);
    kafka_topic_dlq(p->dlq_topic, sizeof(p->dlq_topic), prefix);
    query_range_where(p->city, since, until, p->range_where, sizeof(p->range_where));
    if (backfill) {
        char s[40] = "-", u[40] = "-";
        if (since != INT64_MIN) {
            us_format(since, false, s, sizeof(s));
        }
        if (until != INT64_MIN) {
            us_format(until, false, u, sizeof(u));
        }
        snprintf(p->key, sizeof(p->key), "%s|backfill|%s|%s", p->city->name, s, u);
    } else {
        snprintf(p->key, sizeof(p->key), "%s", p->city->name);
    }

    p->m_fetched = city_metric(p, 0, "blotter_producer_rows_fetched_total", "Rows fetched");
    p->m_published =
        city_metric(p, 0, "blotter_producer_rows_published_total", "Incidents produced to Kafka");
    p->m_rejected = city_metric(p, 0, "blotter_producer_rows_rejected_total",
                                "Rows sent to the dead-letter topic");
    p->m_pages = city_metric(p, 0, "blotter_producer_pages_total", "Complete pages");
    p->m_unmapped = city_metric(p, 0, "blotter_producer_unmapped_offense_total",
                                "Rows whose offense is not in the city file (category other)");
    p->m_undelivered = city_metric(p, 0, "blotter_producer_undelivered_total",
                                   "Messages Kafka did not acknowledge");
    p->m_drift = city_metric(p, 1, "blotter_producer_schema_drift_fields",
                             "Expected fields missing plus unknown fields present");
    p->m_ck_age = city_metric(p, 1, "blotter_producer_checkpoint_age_seconds",
                              "Seconds since the checkpoint was last saved");
    char labels[160];
    snprintf(labels, sizeof(labels), "city=\"%s\"", p->city->name);
    p->m_http = metric_histogram("blotter_producer_http_seconds", "Socrata request latency", labels,
                                 metric_latency_buckets, metric_latency_buckets_n);

    if (*config_str(p->cfg, OPT_HTTP_LISTEN)) {
        httpd = httpd_start(config_str(p->cfg, OPT_HTTP_LISTEN), is_ready, p, err, sizeof(err));
        if (!httpd) {
            log_error("http.failed", "reason=%s", LQ(err));
            goto out;
        }
    }

    rd_kafka_conf_t *conf = kafka_conf_new(KAFKA_PRODUCER, config_str(p->cfg, OPT_KAFKA_BROKERS),
                                           environ, err, sizeof(err));
    if (!conf) {
        log_error("kafka.config", "reason=%s", LQ(err));
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        log_error("kafka.failed", "reason=%s", LQ(err));
        goto out;
    }
    int partitions = (int)config_int(p->cfg, OPT_TOPIC_PARTITIONS);
    int replication = (int)config_int(p->cfg, OPT_TOPIC_REPLICATION);
    struct kafka_topic_spec specs[] = {
        {p->topic, partitions, replication, 1},
        {p->state_topic, 1, replication, 1},
        {p->dlq_topic, partitions, replication, 0},
    };
    for (int attempt = 0;; attempt++) {
        enum err_class cls = kafka_ensure_topics(p->rk, specs, 3, 30000, err, sizeof(err));
        if (cls == ERR_OK) {
            break;
        }
        if (cls == ERR_FATAL || attempt >= 10 || stop_requested) {
            log_error("kafka.topics", "reason=%s", LQ(err));
            goto out;
        }
        log_warn("kafka.topics", "attempt=%d reason=%s", attempt + 1, LQ(err));
        sleep(2);
    }
    if (workers_start(p, (int)config_int(p->cfg, OPT_WORKERS), err, sizeof(err)) != 0) {
        log_error("workers.failed", "reason=%s", LQ(err));
        goto out;
    }
    int found = 0;
    for (int attempt = 0;; attempt++) {
        rd_kafka_conf_t *cconf = kafka_conf_new(
            KAFKA_CONSUMER, config_str(p->cfg, OPT_KAFKA_BROKERS), environ, err, sizeof(err));
        enum err_class cls = cconf ? checkpoint_load(cconf, p->state_topic, p->key, &p->acked,
                                                     &found, err, sizeof(err))
                                   : ERR_FATAL;
        if (cls == ERR_OK) {
            break;
        }
        if (cls == ERR_FATAL || attempt >= 60 || stop_requested) {
            log_error("checkpoint.load", "reason=%s", LQ(err));
            goto out;
        }
        /* A topic created a moment ago has no leader yet: wait a little. */
        if (attempt >= 3) {
            log_warn("checkpoint.load", "attempt=%d reason=%s", attempt + 1, LQ(err));
        }
        usleep(250 * 1000);
    }
    log_info("producer.start",
             "city=%s dataset=%s base=%s key=%s resume_updated_at=%s "
             "resume_id=%s rows_so_far=%llu",
             p->city->name, p->city->dataset, LQ(p->base), LQ(p->key),
             found && p->acked.ks.set ? p->acked.ks.updated_at : "-",
             found && p->acked.ks.set ? LQ(p->acked.ks.id) : "-",
             (unsigned long long)p->acked.rows);
    p->socrata = socrata_new(config_str(p->cfg, OPT_SOCRATA_APP_TOKEN),
                             config_int(p->cfg, OPT_HTTP_TIMEOUT_S), &stop_requested);
    p->ready = 1;

    struct progress pr = {.total = -1, .start_ms = mono_ms(), .start_rows = 0};
    if (backfill) {
        /* Count the range's rows for an estimate of the time left (best effort). */
        char url[4096];
        struct socrata_page page;
        if (!query_count_url(url, sizeof(url), p->base, p->city, p->range_where) &&
            socrata_get(p->socrata, url, on_count, &pr.total, true, &page, err, sizeof(err)) ==
                ERR_OK) {
            log_info("backfill.start", "city=%s rows=%lld where=%s", p->city->name,
                     (long long)pr.total, LQ(p->range_where));
        } else {
            pr.total = -1;
        }
        json_decref(page.fields);
        pr.start_ms = mono_ms();
    }

    bool once = config_bool(p->cfg, OPT_ONCE) || backfill;
    int failures = 0;
    struct backoff pass_retry;
    backoff_init(&pass_retry, config_int(p->cfg, OPT_BACKOFF_MS),
                 config_int(p->cfg, OPT_BACKOFF_MAX_MS));
    rc = 0;
    while (!stop_requested) {
        enum err_class cls = run_pass(p, backfill ? &pr : NULL);
        if (cls == ERR_FATAL) {
            rc = 1;
            break;
        }
        if (cls == ERR_OK && !stop_requested) {
            failures = 0;
            backoff_reset(&pass_retry);
            /* Let the last pages' acknowledgements land before reporting the pass. */
            int64_t deadline = mono_ms() + 30000;
            while (p->head && mono_ms() < deadline && !stop_requested) {
                service(p, 100);
            }
            save_checkpoint(p, true);
            log_info("pass.done",
                     "city=%s fetched=%llu published=%llu rejected=%llu "
                     "unmapped_offense=%llu updated_at=%s",
                     p->city->name, (unsigned long long)p->fetched,
                     (unsigned long long)p->published, (unsigned long long)p->rejected,
                     (unsigned long long)p->unmapped,
                     p->acked.ks.set ? p->acked.ks.updated_at : "-");
            if (backfill) {
                print_progress(p, &pr, true);
            }
            if (once) {
                break;
            }
            sleep_serving(p, config_int(p->cfg, OPT_POLL_INTERVAL_S) * 1000);
        } else if (cls != ERR_OK) {
            failures++;
            if (once && failures > 3) {
                rc = 1;
                break;
            }
            /* Wait until the pages in flight have reports, then restart from the checkpoint. */
            sleep_serving(p, backoff_next_ms(&pass_retry, -1));
            int64_t deadline = mono_ms() + 30000;
            while (p->head && mono_ms() < deadline && !stop_requested) {
                service(p, 100);
            }
        }
    }
    if (finish(p) != 0) {
        rc = 1;
    }
    log_info("producer.stop", "city=%s fetched=%llu published=%llu rejected=%llu exit=%d",
             p->city->name, (unsigned long long)p->fetched, (unsigned long long)p->published,
             (unsigned long long)p->rejected, rc);
out:
    httpd_stop(httpd);
    socrata_destroy(p->socrata);
    workers_stop(p);
    if (p->rk) {
        rd_kafka_destroy(p->rk);
    }
    while (p->head) {
        struct page *next = p->head->next;
        free(p->head);
        p->head = next;
    }
out_early:
    city_destroy(p->city);
    config_destroy(p->cfg);
    return rc;
}
