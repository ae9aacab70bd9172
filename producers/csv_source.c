/* The CSV kind. See csv_source.h. */
#define _GNU_SOURCE
#include "producers/csv_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "producers/csv.h"
#include "producers/http.h"
#include "producers/rowsplit.h"

struct source {
    struct http *http;
    const struct city *city;
    char base[512];
    int first_year, last_year; /* the years walked (a backfill's range narrows them) */
    char state[4096];
    char unit[16], stamp[40];
};

/* One file's transfer. */
struct fetch {
    struct source *s;
    struct source_page *page;
    struct csv_rows *csv;
    source_row_fn on_row;
    void *ctx;
    char etag[256], modified[64], prev_stamp[40];
    bool stopped;
    bool html; /* the answer is an HTML page (a portal's error page with status 200) */
};

static int year_of(int64_t us)
{
    struct civil_time ct;
    us_to_civil(us, &ct);
    return ct.year;
}

static struct source *csv_open(const struct city *city, const struct source_options *opt,
                               char *errstr, size_t errstr_size)
{
    struct source *s = calloc(1, sizeof(*s));
    const char *headers[] = {"Accept: text/csv", NULL};
    /* A request is a whole file: allow it much longer than a page (stalls still end it). */
    if (!s || !(s->http = source_http_new(headers, opt->timeout_s * 30, opt))) {
        free(s);
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->city = city;
    snprintf(s->base, sizeof(s->base), "%s", opt->base_url && *opt->base_url ? opt->base_url : "");
    if (!*s->base) {
        snprintf(s->base, sizeof(s->base), "https://%s", city->domain);
    }
    size_t bl = strlen(s->base);
    while (bl && s->base[bl - 1] == '/') {
        s->base[--bl] = 0;
    }
    s->first_year = city->source.first_year;
    s->last_year = year_of(now_us());
    if (opt->since_us != TS_NULL && year_of(opt->since_us) > s->first_year) {
        s->first_year = year_of(opt->since_us);
    }
    if (opt->until_us != TS_NULL && year_of(opt->until_us - 1) < s->last_year) {
        s->last_year = year_of(opt->until_us - 1);
    }
    return s;
}

static void csv_close(struct source *s)
{
    if (s) {
        http_destroy(s->http);
        free(s);
    }
}

/* The file's URL: the path with {year} replaced. */
static int file_url(const struct source *s, int year, char *buf, size_t n)
{
    const char *path = s->city->source.path, *at = strstr(path, "{year}");
    int w = snprintf(buf, n, "%s%.*s%d%s", s->base, (int)(at - path), path, year, at + 6);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

static void on_header(void *ctx, const char *name, const char *value)
{
    struct fetch *f = ctx;
    if (!name) {
        f->etag[0] = f->modified[0] = 0;
        f->html = false;
    } else if (strcasecmp(name, "Content-Type") == 0) {
        f->html = strncasecmp(value, "text/html", 9) == 0;
    } else if (strcasecmp(name, "ETag") == 0) {
        snprintf(f->etag, sizeof(f->etag), "%s", value);
    } else if (strcasecmp(name, "Last-Modified") == 0) {
        snprintf(f->modified, sizeof(f->modified), "%s", value);
    }
}

static int on_csv_row(void *ctx, const char *json, size_t len, size_t record)
{
    (void)record;
    struct fetch *f = ctx;
    f->page->rows++;
    if (f->on_row(f->ctx, json, len, NULL) != 0) {
        f->stopped = true;
        return 1;
    }
    return 0;
}

/* The stamp of a file's rows: its Last-Modified, else now; after the previous stamp. */
static void file_stamp(const char *modified, const char *prev, char *out, size_t n)
{
    int64_t us = TS_NULL;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = *modified ? strptime(modified, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
    if (end) {
        us = (int64_t)timegm(&tm) * 1000000;
    }
    if (us == TS_NULL) {
        us = now_us() / 1000 * 1000;
    }
    int64_t p = prev && *prev ? iso8601_to_us(prev) : TS_NULL;
    if (p != TS_NULL && us <= p) {
        us = p + 1000;
    }
    us_format(us, true, out, n);
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct fetch *f = ctx;
    if (f->html) {
        return -1; /* a failed page, retried: never rows made of markup */
    }
    if (!f->csv) {
        /* The first bytes: the headers are in, so the rows' stamp is known. */
        char extra[256];
        file_stamp(f->modified, f->prev_stamp, f->s->stamp, sizeof(f->s->stamp));
        snprintf(extra, sizeof(extra), "\"::unit\":\"%s\",\"::stamp\":\"%s\"", f->s->unit,
                 f->s->stamp);
        f->csv = csv_rows_new(f->s->city->fields, f->s->city->n_fields, extra, on_csv_row, f);
        if (!f->csv) {
            return -1;
        }
    }
    return csv_rows_feed(f->csv, data, len);
}

static json_t *state_load(const char *state)
{
    json_t *o = *state ? json_loads(state, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    if (!json_is_object(json_object_get(o, "files"))) {
        json_object_set_new(o, "files", json_object());
    }
    return o;
}

/* The state after this file: its validators (when it was read whole) and the next year. */
static void state_save(struct source *s, json_t *st, int year, const struct fetch *f, bool read)
{
    json_t *files = json_object_get(st, "files");
    if (read) {
        json_object_set_new(files, s->unit,
                            json_pack("{s:s, s:s, s:I, s:s}", "etag", f->etag, "modified",
                                      f->modified, "rows", (json_int_t)f->page->rows, "stamp",
                                      s->stamp));
    }
    json_object_set_new(st, "next", year < s->last_year ? json_integer(year + 1) : json_null());
    char *text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    if (text && strlen(text) < sizeof(s->state)) {
        strcpy(s->state, text);
    }
    free(text);
}

static enum err_class csv_fetch(struct source *s, const struct keyset *after, int limit,
                                source_row_fn on_row, void *ctx, struct source_page *page,
                                char *errstr, size_t errstr_size)
{
    (void)limit; /* a page is a file */
    char url[4096], inm[320], ims[96];
    struct http_response res;
    memset(page, 0, sizeof(*page));
    page->retry_after_s = -1;
    json_t *st = state_load(after->state);
    const json_t *next = json_object_get(st, "next");
    int year = json_is_integer(next) ? (int)json_integer_value(next) : s->first_year;
    if (year < s->first_year || year > s->last_year) {
        year = s->first_year;
    }
    snprintf(s->unit, sizeof(s->unit), "%d", year);
    const json_t *known = json_object_get(json_object_get(st, "files"), s->unit);
    const char *etag = json_string_value(json_object_get(known, "etag"));
    const char *modified = json_string_value(json_object_get(known, "modified"));
    const char *stamp = json_string_value(json_object_get(known, "stamp"));
    const char *extra[3] = {NULL, NULL, NULL};
    size_t ne = 0;
    if (etag && *etag) {
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
        extra[ne++] = inm;
    }
    if (modified && *modified) {
        snprintf(ims, sizeof(ims), "If-Modified-Since: %s", modified);
        extra[ne++] = ims;
    }
    struct fetch f = {.s = s, .page = page, .on_row = on_row, .ctx = ctx};
    snprintf(f.prev_stamp, sizeof(f.prev_stamp), "%s", stamp ? stamp : "");
    s->stamp[0] = 0;
    enum err_class cls = ERR_FATAL;
    if (file_url(s, year, url, sizeof(url)) != 0) {
        err_set(errstr, errstr_size, "URL too long");
        goto out;
    }
    cls = http_get_conditional(s->http, url, extra, on_header, on_body, &f, &res, errstr,
                               errstr_size);
    page->status = res.status;
    page->timed_out = res.timed_out;
    page->retry_after_s = res.retry_after_s;
    page->seconds = res.seconds;
    bool read = false;
    if (cls == ERR_OK && res.status == 200) {
        if (!f.csv) { /* an empty body: no header, no rows */
            on_body(&f, "", 0);
        }
        if (!f.csv || csv_rows_finish(f.csv) != 0) {
            err_set(errstr, errstr_size, "%s: %s", url,
                    f.csv    ? csv_rows_error(f.csv)
                    : f.html ? "an HTML page, not CSV"
                             : "out of memory");
            cls = ERR_TRANSIENT; /* a cut body ends inside a field: fetch the file again */
        } else {
            read = true;
            page->fields = csv_rows_header(f.csv);
        }
    } else if (res.body_refused && f.html) {
        err_set(errstr, errstr_size, "%s: an HTML page, not CSV", url);
    } else if (res.body_refused && f.csv && !f.stopped) {
        size_t n = strlen(errstr);
        snprintf(errstr + n, errstr_size - n, " (%s: %s)", url, csv_rows_error(f.csv));
    } else if (cls == ERR_FATAL && res.status == 404 && year == year_of(now_us())) {
        cls = ERR_OK; /* this year's file is not published yet */
        page->status = 404;
    }
    if (cls == ERR_OK) {
        state_save(s, st, year, &f, read);
        page->state = s->state;
        page->last = year >= s->last_year;
        if (read) {
            page->unit = s->unit;
            page->stamp = s->stamp;
            page->walk_begin = page->walk_end = true;
        }
    }
out:
    csv_rows_destroy(f.csv);
    json_decref(st);
    return cls;
}

static json_t *csv_read_row(const char *raw, size_t len, char **clean, size_t *clean_len)
{
    return row_parse(raw, len, clean, clean_len); /* \\u0000 in a text: a dead letter */
}

static void csv_advance(struct keyset *pos, const json_t *row)
{
    (void)pos, (void)row; /* the position is the page's state */
}

const struct source_kind csv_kind = {
    .name = "csv",
    .snapshot = true,
    .range_in_query = false,
    .open = csv_open,
    .close = csv_close,
    .fetch = csv_fetch,
    .read_row = csv_read_row,
    .advance = csv_advance,
    .count = NULL,
};
