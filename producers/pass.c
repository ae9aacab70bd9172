/* The pass loop. See pass.h. */
#define _GNU_SOURCE
#include "producers/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "producers/city_map.h"

/* ---- The checkpoint's cadence ---- */

static void save_checkpoint(struct producer *p, bool force)
{
    int64_t now = mono_ms();
    if (!ledger_dirty(p->ledger) || (!force && now - p->last_save_ms < 1000)) {
        return;
    }
    char err[256];
    struct checkpoint_value v = *ledger_acked(p->ledger);
    v.saved_at = now_us();
    if (checkpoint_save(publisher_rk(p->pub), p->state_topic, p->key, &v, err, sizeof(err)) ==
        ERR_OK) {
        ledger_saved(p->ledger, v.saved_at);
        p->last_save_ms = now;
        metric_set(p->stats->m_ck_age, 0);
        log_debug("checkpoint.saved", "key=%s updated_at=%s id=%s rows=%llu", LQ(p->key),
                  v.ks.set ? v.ks.updated_at : "-", LQ(v.ks.id), (unsigned long long)v.rows);
    } else {
        log_emit_limited(LOG_WARN, "checkpoint.failed", 10, "error=%s", LQ(err));
    }
}

/* Serve delivery reports, advance the ledger, save the checkpoint when due. */
static void pass_service(struct producer *p, int timeout_ms)
{
    publisher_poll(p->pub, timeout_ms);
    ledger_advance(p->ledger);
    save_checkpoint(p, false);
    if (p->last_save_ms) {
        metric_set(p->stats->m_ck_age, (double)(mono_ms() - p->last_save_ms) / 1000.0);
    }
}

static void sleep_serving(struct producer *p, long ms)
{
    int64_t until = mono_ms() + ms;
    while (!stop_requested && mono_ms() < until) {
        long left = (long)(until - mono_ms());
        pass_service(p, left < 200 ? (int)left : 200);
    }
}

/* Serve reports until nothing is in flight (bounded). */
static void drain_serving(struct producer *p, int64_t max_ms, bool stoppable)
{
    int64_t deadline = mono_ms() + max_ms;
    while (ledger_busy(p->ledger) && mono_ms() < deadline && !(stoppable && stop_requested)) {
        pass_service(p, 100);
    }
}

/* ---- Schema drift and progress ---- */

static void join_names(char *buf, size_t n, const char **names)
{
    buf[0] = 0;
    for (size_t i = 0; names[i]; i++) {
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "," : "", names[i]);
    }
}

static void report_drift(struct producer *p, json_t *fields)
{
    if (p->drift_reported || !json_is_array(fields)) {
        return;
    }
    p->drift_reported = true;
    const char **missing, **unknown;
    size_t n = city_drift(p->city, fields, &missing, &unknown);
    metric_set(p->stats->m_drift, (double)n);
    if (n) {
        char m[1024], u[1024];
        join_names(m, sizeof(m), missing);
        join_names(u, sizeof(u), unknown);
        log_warn("schema.drift", "city=%s dataset=%s missing=%s unknown=%s hint=%s", p->city->name,
                 p->city->dataset, LQ(*m ? m : "-"), LQ(*u ? u : "-"),
                 LQ("update the city file's fields and mapping"));
    }
    free(missing);
    free(unknown);
}

/* A snapshot kind's unit walked whole: the rows it no longer holds (they stay in the
 * warehouse; the source "may change or delete" records). */
static void report_vanished(struct producer *p, const struct source_page *page)
{
    long gone = snapshot_walk_end(p->snap, page->unit, page->stamp);
    if (gone < 0) {
        log_info("walk.done", "city=%s unit=%s stamp=%s vanished=%s", p->city->name, LQ(page->unit),
                 LQ(page->stamp), LQ("unknown (walk resumed after a restart)"));
        return;
    }
    metric_add(p->stats->m_vanished, (double)gone);
    if (gone > 0) {
        log_warn("rows.vanished", "city=%s unit=%s stamp=%s vanished=%ld note=%s", p->city->name,
                 LQ(page->unit), LQ(page->stamp), gone,
                 LQ("rows left the source; the warehouse keeps their last version"));
    } else {
        log_info("walk.done", "city=%s unit=%s stamp=%s vanished=0", p->city->name, LQ(page->unit),
                 LQ(page->stamp));
    }
}

/* A backfill's progress line on stderr, every 2 s and at the end. */
struct progress {
    int64_t total; /* -1 unknown */
    int64_t start_ms, last_ms;
    uint64_t start_rows;
};

static void print_progress(const struct producer *p, struct progress *pr, bool final)
{
    int64_t now = mono_ms();
    if (!final && now - pr->last_ms < 2000) {
        return;
    }
    pr->last_ms = now;
    double secs = (double)(now - pr->start_ms) / 1000.0;
    uint64_t rows = p->stats->fetched - pr->start_rows;
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

/* ---- One pass ---- */

/* Main thread: hand a row of the page being fetched to the workers. */
struct fetching {
    struct producer *p;
    struct page *pg;
};

static int on_row(void *ctx, const char *raw, size_t len, json_t *row)
{
    struct fetching *f = ctx;
    producer_count(&f->p->stats->fetched, f->p->stats->m_fetched);
    workers_submit(f->p->workers, f->pg, raw, len, row);
    return stop_requested ? 1 : 0;
}

/* Why a page is to be fetched again, or NULL when it is not. */
static const char *retry_cause(enum err_class cls, const struct source_page *page)
{
    if (cls == ERR_OK) {
        return page->hold ? "out_of_date" : NULL;
    }
    if (cls != ERR_TRANSIENT) {
        return NULL;
    }
    return page->timed_out       ? "timeout"
           : page->status == 429 ? "throttled"
           : page->status == 202 ? "processing"
           : page->status >= 500 ? "server_error"
           : page->status == 200 ? "truncated"
                                 : "network";
}

/* Fetch the page after `after` until it arrives whole (or retries run out). ERR_OK with *pg
 * the complete page; on ERR_TRANSIENT/ERR_FATAL the pass fails; ERR_OK with *pg NULL: stop. */
static enum err_class fetch_page(struct producer *p, const struct keyset *after,
                                 struct source_page *page, struct page **out)
{
    char err[512];
    struct backoff retry;
    backoff_init(&retry, p->set->svc.backoff_ms, p->set->svc.backoff_max_ms);
    *out = NULL;
    for (int attempt = 0;;) {
        struct fetching f = {p, ledger_page_begin(p->ledger, after)};
        if (!f.pg) {
            log_error("pass.failed", "city=%s error=%s", p->city->name, LQ("out of memory"));
            return ERR_FATAL;
        }
        enum err_class cls =
            p->kind->fetch(p->src, after, p->set->page_size, on_row, &f, page, err, sizeof(err));
        workers_drain(p->workers); /* the page's end position is final once its rows are taken */
        metric_observe(p->stats->m_http, page->seconds);
        report_drift(p, page->fields);
        json_decref(page->fields);
        page->fields = NULL;
        const char *cause = retry_cause(cls, page);
        if (cause && page->hold) {
            snprintf(err, sizeof(err), "%s", page->hold);
        }
        bool complete = !cause && cls == ERR_OK && !stop_requested;
        if (complete && page->state) {
            ledger_page_state(p->ledger, f.pg, page->state);
        }
        if (complete && p->snap && page->walk_begin) {
            snapshot_walk_begin(p->snap, page->unit, page->stamp);
        }
        ledger_page_end(p->ledger, f.pg, complete);
        if (complete && p->snap && page->walk_end) {
            report_vanished(p, page);
        }
        if (stop_requested) {
            return ERR_OK;
        }
        if (!cause) {
            if (cls != ERR_OK) {
                log_error("page.failed", "city=%s error=%s", p->city->name, LQ(err));
                return cls;
            }
            *out = f.pg;
            return ERR_OK;
        }
        /* Abandon this attempt: what it published stays, but it advances nothing. */
        if (++attempt > p->set->retry_max) {
            log_error("page.failed", "city=%s attempts=%d error=%s", p->city->name, attempt,
                      LQ(err));
            return ERR_TRANSIENT;
        }
        metric_add(producer_retry_metric(p->stats, cause), 1);
        long hint = -1;
        if (page->retry_after_s >= 0) {
            /* The server's wish, but never longer than our own longest wait (a Retry-After of
             * years, or one whose milliseconds would overflow). */
            long max_ms = p->set->svc.backoff_max_ms;
            bool capped = page->retry_after_s > max_ms / 1000;
            hint = capped ? max_ms : page->retry_after_s * 1000;
            if (capped) {
                metric_add(p->stats->m_retry_after_capped, 1);
            }
        }
        long wait = backoff_next_ms(&retry, hint);
        /* One line per attempt (bounded by retry_max and the backoff): each says its cause. */
        log_warn("page.retry", "city=%s cause=%s attempt=%d backoff_ms=%ld error=%s", p->city->name,
                 cause, attempt, wait, LQ(err));
        sleep_serving(p, wait);
        if (stop_requested) {
            return ERR_OK;
        }
    }
}

/* One complete pass: pages from the acknowledged position until the last. ERR_OK when it
 * reached the end (or a stop was requested). */
static enum err_class run_pass(struct producer *p, struct progress *pr)
{
    struct keyset after = ledger_acked(p->ledger)->ks;
    ledger_new_pass(p->ledger); /* pages still in flight from an earlier pass only drain now */
    while (!stop_requested) {
        struct source_page page;
        struct page *pg;
        enum err_class cls = fetch_page(p, &after, &page, &pg);
        if (cls != ERR_OK || !pg) {
            return cls;
        }
        metric_add(p->stats->m_pages, 1);
        after = ledger_page_position(p->ledger, pg);
        pass_service(p, 0);
        if (pr) {
            print_progress(p, pr, false);
        }
        if (ledger_rewound(p->ledger)) {
            log_warn("pass.rewind", "city=%s error=%s", p->city->name,
                     LQ("a message was not delivered; re-reading from the checkpoint"));
            if (p->snap) {
                snapshot_forget(p->snap); /* what it recorded may not be in Kafka */
            }
            return ERR_TRANSIENT;
        }
        if (page.last) {
            return ERR_OK;
        }
    }
    return ERR_OK;
}

/* ---- Passes ---- */

/* Wait for every delivery report (bounded), then save the final checkpoint. 0 when nothing
 * stayed undelivered. */
static int finish(struct producer *p)
{
    /* On a stop, a few seconds: what is not acknowledged by then is re-read after a restart
     * (the checkpoint never passes it), and a SIGTERM must end the program promptly. */
    bool stopping = stop_requested != 0;
    drain_serving(p, stopping ? 3000 : 60000, false);
    save_checkpoint(p, true);
    int left = publisher_flush(p->pub, stopping ? 2000 : 30000);
    if (left > 0 || ledger_busy(p->ledger)) {
        if (stopping) { /* not a failure: the checkpoint stayed before them */
            log_warn("producer.undelivered", "city=%s messages=%d note=\"re-read after a restart\"",
                     p->city->name, left);
            return 0;
        }
        log_error("producer.undelivered", "city=%s messages=%d", p->city->name, left);
        return -1;
    }
    return 0;
}

static void log_pass_done(const struct producer *p)
{
    const struct checkpoint_value *acked = ledger_acked(p->ledger);
    log_info("pass.done",
             "city=%s fetched=%llu published=%llu unchanged=%llu rejected=%llu "
             "unmapped_offense=%llu updated_at=%s",
             p->city->name, (unsigned long long)p->stats->fetched,
             (unsigned long long)p->stats->published, (unsigned long long)p->stats->unchanged,
             (unsigned long long)p->stats->rejected, (unsigned long long)p->stats->unmapped,
             acked->ks.set ? acked->ks.updated_at : "-");
}

int pass_loop(struct producer *p)
{
    const struct producer_settings *set = p->set;
    struct progress pr = {.total = -1, .start_ms = mono_ms()};
    if (set->backfill && p->kind->count) {
        /* Count the range's rows for an estimate of the time left (best effort). */
        pr.total = p->kind->count(p->src);
        if (pr.total >= 0) {
            log_info("backfill.start", "city=%s rows=%lld", p->city->name, (long long)pr.total);
        }
        pr.start_ms = mono_ms();
    }
    bool once = set->once || set->backfill;
    int failures = 0, rc = 0;
    struct backoff retry;
    backoff_init(&retry, set->svc.backoff_ms, set->svc.backoff_max_ms);
    while (!stop_requested) {
        enum err_class cls = run_pass(p, set->backfill ? &pr : NULL);
        if (cls == ERR_FATAL) {
            rc = 1;
            break;
        }
        if (cls == ERR_OK && !stop_requested) {
            failures = 0;
            backoff_reset(&retry);
            drain_serving(p, 30000, true); /* let the last pages' reports land */
            save_checkpoint(p, true);
            log_pass_done(p);
            if (set->backfill) {
                print_progress(p, &pr, true);
            }
            if (once) {
                break;
            }
            sleep_serving(p, set->poll_interval_s * 1000);
        } else if (cls != ERR_OK) {
            if (once && ++failures > 3) {
                rc = 1;
                break;
            }
            /* Wait until the pages in flight have reports, then restart from the checkpoint. */
            sleep_serving(p, backoff_next_ms(&retry, -1));
            drain_serving(p, 30000, true);
        }
    }
    if (finish(p) != 0) {
        rc = 1;
    }
    if (stop_requested == STOP_FATAL) {
        rc = 1;
    }
    return rc;
}
