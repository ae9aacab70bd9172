/* A batch and its stages. See batch.h. */
#define _GNU_SOURCE
#include "consumers/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "consumers/dlq.h"
#include "consumers/intake.h"

/* ---- The batch ---- */

int batch_push(struct batch *b, rd_kafka_message_t *rkm)
{
    struct slot *grown = array_grow(b->slots, &b->cap, b->n, sizeof(*b->slots), 1024);
    if (!grown) {
        return -1;
    }
    b->slots = grown;
    struct slot *s = &b->slots[b->n++];
    memset(s, 0, sizeof(*s));
    s->rkm = rkm;
    incident_init(&s->inc);
    return 0;
}

void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        incident_clear(&b->slots[i].inc);
        rd_kafka_message_destroy(b->slots[i].rkm);
    }
    b->n = 0;
}

void batch_free(struct batch *b)
{
    batch_clear(b);
    free(b->slots);
    memset(b, 0, sizeof(*b));
}

/* ---- Stages ---- */

static void decode_all(struct consumer *c, struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct slot *s = &b->slots[i];
        /* codec_decode also applies incident_check: what it returns can be written. */
        enum err_class cls = codec_decode(c->codec, s->rkm->payload, s->rkm->len, &s->inc,
                                          s->reason, sizeof(s->reason));
        if (cls != ERR_OK) {
            s->state = S_DEAD;
            continue;
        }
        s->hash = incident_content_hash(&s->inc);
        s->state = S_NEW;
    }
}

static void seen_filter(struct consumer *c, struct batch *b)
{
    if (!c->seen) {
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
        size_t hits = seen_check_batch(c->seen, items, n, hit);
        for (size_t k = 0; k < n && hits; k++) {
            if (hit[k]) {
                b->slots[idx[k]].state = S_SEEN;
            }
        }
        metric_add(c->stats->seen_hits, (double)hits);
        c->stats->t_seen += hits;
    }
    metric_set(c->stats->redis_up, seen_up(c->seen));
    free(items);
    free(idx);
    free(hit);
}

/* Write slots[0..n) (pointers into the batch) with retries: transient errors pause the
 * partitions and retry the same records with backoff; a permanent error splits the records in
 * halves until the one that cannot be stored is found and dead-lettered.
 * ERR_OK, ERR_TRANSIENT (given up: a stop was requested) or ERR_FATAL. */
static enum err_class write_slots(struct consumer *c, struct slot **slots, size_t n)
{
    struct warehouse_item *items = malloc((n + 1) * sizeof(*items));
    enum err_class cls = ERR_FATAL;
    struct backoff retry;
    char errstr[1024];

    backoff_init(&retry, c->set->svc.backoff_ms, c->set->svc.backoff_max_ms);
    if (!items) {
        log_error("consumer.oom", "what=write");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        items[i] = (struct warehouse_item){.inc = &slots[i]->inc, .hash = slots[i]->hash};
    }
    for (;;) {
        struct warehouse_counts counts;
        cls = warehouse_upsert_batch(c->wh, items, n, &counts, errstr, sizeof(errstr));
        if (cls == ERR_OK) {
            atomic_store(&c->wh_ok, true);
            intake_pause(c->intake, false);
            for (size_t i = 0; i < n; i++) {
                slots[i]->outcome = items[i].outcome;
                slots[i]->state = items[i].outcome.status ? S_WRITTEN : S_OLDER;
            }
            metric_add(c->stats->inserted, (double)counts.inserted);
            metric_add(c->stats->updated, (double)counts.updated);
            metric_add(c->stats->unchanged, (double)counts.unchanged);
            c->stats->t_inserted += counts.inserted;
            c->stats->t_updated += counts.updated;
            c->stats->t_unchanged += counts.unchanged;
            break;
        }
        if (cls == ERR_TRANSIENT && c->fenced) {
            break; /* rolled back: see batch_process */
        }
        if (cls == ERR_TRANSIENT) {
            atomic_store(&c->wh_ok, false);
            metric_add(c->stats->retries, 1);
            long wait = backoff_next_ms(&retry, -1);
            log_emit_limited(LOG_WARN, "warehouse.retry", 10, "error=%s records=%zu backoff_ms=%ld",
                             LQ(errstr), n, wait);
            intake_pause(c->intake, true);
            intake_wait(c->intake, wait);
            if (stop_requested) {
                log_info("consumer.batch_abandoned", "records=%zu", n);
                break;
            }
            if (!intake_batch_owned(c->intake, c->batch_gen)) {
                c->fenced = true; /* revoked while we waited */
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
            cls = write_slots(c, slots, half);
            if (cls == ERR_OK) {
                cls = write_slots(c, slots + half, n - half);
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
static enum err_class write_batch(struct consumer *c, struct batch *b)
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
    cls = kept ? write_slots(c, slots, kept) : ERR_OK;
done:
    free(items);
    free(idx);
    free(keep);
    free(slots);
    return cls;
}

/* After the commit: the seen-set learns the version each written key now holds. */
static void mark_seen(struct consumer *c, struct batch *b)
{
    if (!c->seen) {
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
    seen_mark_batch(c->seen, items, n);
    metric_set(c->stats->redis_up, seen_up(c->seen));
    free(items);
}

/* Freshness: from each record's Kafka timestamp to the commit that made it visible. */
static void observe_freshness(struct consumer *c, const struct batch *b)
{
    if (intake_is_replay(c->intake)) {
        return;
    }
    int64_t committed_ms = now_us() / 1000;
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(b->slots[i].rkm, &tstype);
        if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ts > 0) {
            metric_observe(c->stats->end_to_end, (double)(committed_ms - ts) / 1000.0);
        }
    }
}

/* The warehouse's last question before COMMIT. */
static bool still_ours(void *arg)
{
    struct consumer *c = arg;
    if (!intake_batch_owned(c->intake, c->batch_gen)) {
        c->fenced = true;
    }
    return !c->fenced;
}

enum err_class batch_process(struct consumer *c, struct batch *b)
{
    int64_t start = mono_ms();
    enum err_class cls;
    size_t dead = 0;

    c->batch_gen = b->gen;
    c->fenced = !intake_batch_owned(c->intake, b->gen);
    warehouse_set_fence(c->wh, still_ours, c);
    if (c->fenced) {
        goto fenced;
    }
    decode_all(c, b);
    int64_t t_decoded = mono_ms();
    seen_filter(c, b);
    int64_t t_seen = mono_ms();
    cls = write_batch(c, b);
    if (c->fenced) {
        goto fenced;
    }
    if (cls == ERR_OK) {
        cls = dlq_send_batch(c->dlq, b, c->intake, &dead);
        metric_add(c->stats->dead_letters, (double)dead);
        c->stats->t_dead += dead;
    }
    if (cls != ERR_OK) {
        return cls;
    }
    int64_t t_written = mono_ms();
    observe_freshness(c, b);
    mark_seen(c, b);
    intake_store(c->intake, b);
    log_debug("consumer.stages", "decode_ms=%lld seen_ms=%lld write_ms=%lld mark_ms=%lld",
              (long long)(t_decoded - start), (long long)(t_seen - t_decoded),
              (long long)(t_written - t_seen), (long long)(mono_ms() - t_written));
    metric_add(c->stats->messages, (double)b->n);
    metric_add(c->stats->batches, 1);
    metric_observe(c->stats->batch_size, (double)b->n);
    metric_observe(c->stats->batch_seconds, (double)(mono_ms() - start) / 1000.0);
    c->stats->t_messages += b->n;
    log_debug("consumer.batch", "messages=%zu ms=%lld", b->n, (long long)(mono_ms() - start));
    return ERR_OK;
fenced:
    /* Nothing of b was committed after its partitions changed hands (a half split before
     * that is re-applied unchanged): read again whatever is still ours. */
    metric_add(c->stats->fenced, 1);
    intake_rewind(c->intake, b);
    /* Paused while the warehouse was away, the batch that would have resumed them is gone:
     * resume now (the next batch pauses again if the warehouse is still away). */
    intake_pause(c->intake, false);
    c->fenced = false;
    return stop_requested ? ERR_TRANSIENT : ERR_OK;
}
