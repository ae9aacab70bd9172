/* The ArcGIS kind. See arcgis_source.h. */
#define _GNU_SOURCE
#include "producers/arcgis_source.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "producers/arcgis.h"
#include "producers/http.h"
#include "producers/jarena.h"
#include "producers/rowsplit.h"

#define MAX_BODY_BYTES (256u << 20) /* a page of 50,000 wide features stays well below */

/* The next page of a walk, asked for and read while the rows of this one are processed (its
 * own handle, one thread at a time): the server's time and the parse overlap the producer's. */
struct prefetch {
    struct http *http;
    const struct city *city;
    pthread_t thread;
    bool running;
    char url[8192];
    int64_t offset;
    char stamp[40];
    struct buf body;
    struct http_response res;
    struct arcgis_page ap; /* the page read (owned until taken) */
    enum err_class cls;
    char err[512];
};

struct source {
    struct http *http;
    struct prefetch next;
    const struct city *city;
    char base[512];
    char state[1024]; /* the position returned with the last page */
    /* The walk this process is on (so that a continued walk needs no layer check). */
    char walk_stamp[40];
    int64_t walk_next;
    long max_records;
};

struct walk {
    char stamp[40];
    int64_t edit_ms, count, offset;
    bool done;
};

static struct source *arcgis_open(const struct city *city, const struct source_options *opt,
                                  char *errstr, size_t errstr_size)
{
    struct source *s = calloc(1, sizeof(*s));
    const char *headers[] = {"Accept: application/json", NULL};
    if (!s || !(s->http = source_http_new(headers, opt->timeout_s, opt)) ||
        !(s->next.http = source_http_new(headers, opt->timeout_s, opt))) {
        if (s) {
            http_destroy(s->http);
        }
        free(s);
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->city = city;
    s->next.city = city;
    snprintf(s->base, sizeof(s->base), "%s", opt->base_url && *opt->base_url ? opt->base_url : "");
    if (!*s->base) {
        snprintf(s->base, sizeof(s->base), "https://%s", city->domain);
    }
    size_t bl = strlen(s->base);
    while (bl && s->base[bl - 1] == '/') {
        s->base[--bl] = 0;
    }
    s->walk_next = -1;
    return s;
}

/* Wait for the prefetch (if any). */
static void prefetch_join(struct prefetch *pf)
{
    if (pf->running) {
        pthread_join(pf->thread, NULL);
        pf->running = false;
    }
}

static void arcgis_close(struct source *s)
{
    if (s) {
        prefetch_join(&s->next);
        arcgis_page_clear(&s->next.ap);
        http_destroy(s->next.http);
        buf_free(&s->next.body);
        http_destroy(s->http);
        free(s);
    }
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct buf *b = ctx;
    if (b->len + len > MAX_BODY_BYTES) {
        return -1;
    }
    return buf_put(b, data, len);
}

/* GET url into body. The page's status fields are filled from the response. */
static enum err_class get(struct source *s, const char *url, struct buf *body,
                          struct source_page *page, char *errstr, size_t errstr_size)
{
    struct http_response res;
    buf_reset(body);
    enum err_class cls = http_get(s->http, url, NULL, on_body, body, &res, errstr, errstr_size);
    page->status = res.status;
    page->timed_out = res.timed_out;
    page->retry_after_s = res.retry_after_s;
    page->seconds += res.seconds;
    if (cls == ERR_OK && body->oom) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_TRANSIENT;
    }
    return cls;
}

/* Read a page body into ap in an arena of the page's own (jarena.h: the rows are released in
 * other threads), each row tagged with the dataset and the walk's stamp. */
static enum err_class page_read(const struct city *city, const char *stamp, const struct buf *body,
                                struct arcgis_page *ap, char *errstr, size_t errstr_size)
{
    struct jarena *arena = jarena_new();
    jarena_enter(arena);
    enum err_class cls = arcgis_page_parse(body->p, body->len, ap, errstr, errstr_size);
    if (cls == ERR_OK) {
        json_t *unit = json_string(city->dataset), *st = json_string(stamp), *row;
        size_t i;
        json_array_foreach(ap->rows, i, row)
        {
            json_object_set(row, "::unit", unit);
            json_object_set(row, "::stamp", st);
        }
        json_decref(unit);
        json_decref(st);
    }
    jarena_leave();
    jarena_release(arena);
    return cls;
}

static void *prefetch_main(void *arg)
{
    struct prefetch *pf = arg;
    buf_reset(&pf->body);
    pf->cls =
        http_get(pf->http, pf->url, NULL, on_body, &pf->body, &pf->res, pf->err, sizeof(pf->err));
    if (pf->cls == ERR_OK && pf->body.oom) {
        pf->cls = ERR_TRANSIENT;
    }
    if (pf->cls == ERR_OK) {
        pf->cls = page_read(pf->city, pf->stamp, &pf->body, &pf->ap, pf->err, sizeof(pf->err));
    }
    buf_reset(&pf->body);
    return NULL;
}

/* Ask for the page at offset of walk stamp in the background. */
static void prefetch_start(struct source *s, const char *stamp, int64_t offset, int count)
{
    struct prefetch *pf = &s->next;
    prefetch_join(pf);
    if (arcgis_page_url(pf->url, sizeof(pf->url), s->base, s->city, offset, count) != 0) {
        return;
    }
    pf->offset = offset;
    snprintf(pf->stamp, sizeof(pf->stamp), "%s", stamp);
    pf->running = pthread_create(&pf->thread, NULL, prefetch_main, pf) == 0;
}

/* The prefetched page at offset of walk stamp, read, into ap, when there is one that arrived
 * whole and reads as a page (else the caller asks again: an error is met again there). */
static bool prefetch_take(struct source *s, const char *stamp, int64_t offset,
                          struct arcgis_page *ap, struct source_page *page)
{
    struct prefetch *pf = &s->next;
    if (!pf->running) {
        return false;
    }
    prefetch_join(pf);
    if (pf->cls != ERR_OK || pf->offset != offset || strcmp(pf->stamp, stamp) != 0) {
        arcgis_page_clear(&pf->ap);
        return false;
    }
    *ap = pf->ap;
    memset(&pf->ap, 0, sizeof(pf->ap));
    page->status = pf->res.status;
    page->seconds += pf->res.seconds;
    return true;
}

static void walk_read(const char *state, struct walk *w)
{
    memset(w, 0, sizeof(*w));
    w->edit_ms = w->count = -1;
    w->done = true; /* no walk yet: the next pass begins one */
    json_t *o = *state ? json_loads(state, 0, NULL) : NULL;
    if (!o) {
        return;
    }
    const char *stamp = json_string_value(json_object_get(o, "stamp"));
    snprintf(w->stamp, sizeof(w->stamp), "%s", stamp ? stamp : "");
    const json_t *e = json_object_get(o, "edit"), *c = json_object_get(o, "count");
    w->edit_ms = json_is_integer(e) ? json_integer_value(e) : -1;
    w->count = json_is_integer(c) ? json_integer_value(c) : -1;
    w->offset = json_integer_value(json_object_get(o, "offset"));
    w->done = !*w->stamp || json_is_true(json_object_get(o, "done"));
    json_decref(o);
}

static void walk_write(struct source *s, const struct walk *w)
{
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:I, s:b}", "stamp", w->stamp, "edit", (json_int_t)w->edit_ms,
                  "count", (json_int_t)w->count, "offset", (json_int_t)w->offset, "done", w->done);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    snprintf(s->state, sizeof(s->state), "%s", text ? text : "");
    free(text);
    json_decref(o);
}

/* Ask the layer whether it changed since the walk in w; begin a new walk when it did (or
 * when w's walk cannot be continued). *idle: nothing changed, nothing to walk. */
static enum err_class check_layer(struct source *s, struct walk *w, bool *idle, struct buf *body,
                                  struct source_page *page, char *errstr, size_t errstr_size)
{
    char url[8192];
    struct arcgis_layer layer;
    *idle = false;
    if (arcgis_layer_url(url, sizeof(url), s->base, s->city) != 0 ||
        arcgis_count_url(url + 4096, 4096, s->base, s->city) != 0) {
        err_set(errstr, errstr_size, "URL too long");
        return ERR_FATAL;
    }
    enum err_class cls = get(s, url, body, page, errstr, errstr_size);
    if (cls == ERR_OK) {
        cls = arcgis_layer_parse(body->p, body->len, &layer, errstr, errstr_size);
    }
    if (cls != ERR_OK) {
        return cls;
    }
    s->max_records = layer.max_record_count;
    page->fields = layer.fields; /* the caller's now */
    layer.fields = NULL;
    if ((cls = get(s, url + 4096, body, page, errstr, errstr_size)) != ERR_OK) {
        return cls;
    }
    enum err_class ecls;
    json_t *o = json_loadb(body->p, body->len, 0, NULL);
    if ((ecls = arcgis_error(o, errstr, errstr_size)) != ERR_OK) {
        json_decref(o);
        return ecls;
    }
    json_decref(o);
    int64_t count = arcgis_count_parse(body->p, body->len);
    if (count < 0) {
        err_set(errstr, errstr_size, "the count response holds no count");
        return ERR_TRANSIENT;
    }
    bool same = layer.last_edit_ms >= 0 && layer.last_edit_ms == w->edit_ms && count == w->count;
    if (same && w->done) {
        *idle = true;
        return ERR_OK;
    }
    if (same) {
        return ERR_OK; /* continue the walk the checkpoint holds */
    }
    /* A new walk. Its stamp is the layer's edit time, or now, and always after the last one. */
    int64_t stamp_us = (layer.last_edit_ms >= 0 ? layer.last_edit_ms * 1000 : now_us());
    int64_t prev = *w->stamp ? iso8601_to_us(w->stamp) : TS_NULL;
    if (prev != TS_NULL && stamp_us <= prev) {
        stamp_us = prev + 1000;
    }
    stamp_us -= stamp_us % 1000;
    us_format(stamp_us, true, w->stamp, sizeof(w->stamp));
    w->edit_ms = layer.last_edit_ms;
    w->count = count;
    w->offset = 0;
    w->done = false;
    return ERR_OK;
}

static enum err_class arcgis_fetch(struct source *s, const struct keyset *after, int limit,
                                   source_row_fn on_row, void *ctx, struct source_page *page,
                                   char *errstr, size_t errstr_size)
{
    struct walk w;
    struct buf body = {0};
    struct arcgis_page ap = {0};
    char url[8192];
    enum err_class cls = ERR_OK;
    memset(page, 0, sizeof(*page));
    page->retry_after_s = -1;
    page->unit = s->city->dataset;
    walk_read(after->state, &w);
    /* A walk this process is on continues without asking the layer again. */
    bool continuing = !w.done && w.offset == s->walk_next && strcmp(w.stamp, s->walk_stamp) == 0;
    if (!continuing) {
        bool idle;
        if ((cls = check_layer(s, &w, &idle, &body, page, errstr, errstr_size)) != ERR_OK) {
            goto out;
        }
        if (idle) {
            page->last = true; /* an idle pass: the layer did not change */
            goto out;
        }
    }
    page->walk_begin = w.offset == 0;
    int count = s->city->source.page_size > 0 ? s->city->source.page_size : limit;
    if (s->max_records > 0 && count > s->max_records) {
        count = (int)s->max_records;
    }
    if (arcgis_page_url(url, sizeof(url), s->base, s->city, w.offset, count) != 0) {
        err_set(errstr, errstr_size, "URL too long");
        cls = ERR_FATAL;
        goto out;
    }
    if (!prefetch_take(s, w.stamp, w.offset, &ap, page) &&
        ((cls = get(s, url, &body, page, errstr, errstr_size)) != ERR_OK ||
         (cls = page_read(s->city, w.stamp, &body, &ap, errstr, errstr_size)) != ERR_OK)) {
        goto out;
    }
    if (!page->fields) {
        page->fields = ap.fields;
        ap.fields = NULL;
    }
    size_t n = json_array_size(ap.rows);
    size_t take = arcgis_number_repeats(ap.rows, s->city->source.repeat_key, s->city->id_fields,
                                        s->city->n_id_fields);
    bool more = ap.exceeded && n > 0;
    if (!more || take == 0) {
        take = n; /* the last page, or one run fills the page */
    }
    if (more) {
        prefetch_start(s, w.stamp, w.offset + (int64_t)take, count);
    }
    for (size_t i = 0; i < take; i++) {
        json_t *row = json_array_get(ap.rows, i);
        page->rows++;
        if (on_row(ctx, NULL, 0, row) != 0) { /* the row as read: no text to write and read again */
            err_set(errstr, errstr_size, "stopped");
            cls = ERR_TRANSIENT;
            break;
        }
    }
    if (cls != ERR_OK) {
        goto out;
    }
    w.offset += (int64_t)take;
    w.done = !more;
    page->walk_end = w.done;
    page->last = w.done;
out:
    if (cls == ERR_OK) {
        walk_write(s, &w);
        page->state = s->state;
        snprintf(s->walk_stamp, sizeof(s->walk_stamp), "%s", w.stamp);
        s->walk_next = w.done ? -1 : w.offset;
        page->stamp = s->walk_stamp;
    }
    arcgis_page_clear(&ap);
    buf_free(&body);
    return cls;
}

static json_t *arcgis_read_row(const char *raw, size_t len, char **clean, size_t *clean_len)
{
    return row_parse(raw, len, clean, clean_len); /* \\u0000 in a text: a dead letter */
}

static void arcgis_advance(struct keyset *pos, const json_t *row)
{
    (void)pos, (void)row; /* the position is the page's state */
}

const struct source_kind arcgis_kind = {
    .name = "arcgis",
    .snapshot = true,
    .range_in_query = false,
    .open = arcgis_open,
    .close = arcgis_close,
    .fetch = arcgis_fetch,
    .read_row = arcgis_read_row,
    .advance = arcgis_advance,
    .count = NULL,
};
