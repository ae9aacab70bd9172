/* The Socrata source kind. See socrata.h. */
#define _GNU_SOURCE
#include "producers/socrata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "producers/http.h"
#include "producers/query.h"
#include "producers/rowsplit.h"

struct source {
    struct http *http;
    const struct city *city;
    char base[512];        /* scheme and host, no trailing slash */
    char range_where[512]; /* the backfill's occurred-time filter, or "" */
    size_t max_row_bytes;
};

/* One page's transfer. */
struct fetch {
    struct source_page *page;
    struct rowsplit *rs;
    source_row_fn on_row;
    void *ctx;
    bool out_of_date;
};

static struct source *socrata_open(const struct city *city, const struct source_options *opt,
                                   char *errstr, size_t errstr_size)
{
    struct source *s = calloc(1, sizeof(*s));
    char token[512];
    const char *headers[3] = {"Accept: application/json", NULL, NULL};
    if (!s) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (opt->app_token && *opt->app_token) {
        snprintf(token, sizeof(token), "X-App-Token: %s", opt->app_token);
        headers[1] = token;
    }
    s->http = source_http_new(headers, opt->timeout_s, opt);
    s->max_row_bytes = source_limits_of(opt)->max_row_bytes;
    if (!s->http) {
        free(s);
        err_set(errstr, errstr_size, "cannot set up libcurl");
        return NULL;
    }
    s->city = city;
    if (opt->base_url && *opt->base_url) {
        snprintf(s->base, sizeof(s->base), "%s", opt->base_url);
    } else {
        snprintf(s->base, sizeof(s->base), "https://%s", city->domain);
    }
    size_t bl = strlen(s->base);
    while (bl && s->base[bl - 1] == '/') {
        s->base[--bl] = 0;
    }
    query_range_where(city, opt->since_us, opt->until_us, s->range_where, sizeof(s->range_where));
    return s;
}

static void socrata_close(struct source *s)
{
    if (s) {
        http_destroy(s->http);
        free(s);
    }
}

static void on_header(void *ctx, const char *name, const char *value)
{
    struct fetch *f = ctx;
    if (!name) { /* a new response: forget what the previous one said */
        f->out_of_date = false;
        json_decref(f->page->fields);
        f->page->fields = NULL;
    } else if (strcasecmp(name, "X-SODA2-Data-Out-Of-Date") == 0) {
        f->out_of_date = strcasecmp(value, "true") == 0;
    } else if (strcasecmp(name, "X-SODA2-Fields") == 0) {
        json_decref(f->page->fields);
        f->page->fields = json_loads(value, 0, NULL);
    }
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct fetch *f = ctx;
    return rowsplit_feed(f->rs, data, len);
}

static int on_element(void *ctx, json_t *row, const char *raw, size_t len)
{
    (void)row; /* parse = false: the workers parse */
    struct fetch *f = ctx;
    return f->on_row(f->ctx, raw, len, NULL);
}

static enum err_class socrata_fetch(struct source *s, const struct keyset *after, int limit,
                                    source_row_fn on_row, void *ctx, struct source_page *page,
                                    char *errstr, size_t errstr_size)
{
    char url[8192];
    struct http_response res;
    memset(page, 0, sizeof(*page));
    page->retry_after_s = -1;
    if (query_page_url(url, sizeof(url), s->base, s->city, after, s->range_where, limit) != 0) {
        err_set(errstr, errstr_size, "URL too long");
        return ERR_FATAL;
    }
    struct fetch f = {.page = page, .on_row = on_row, .ctx = ctx};
    f.rs = rowsplit_new(on_element, &f, false);
    if (!f.rs) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    rowsplit_set_max_row(f.rs, s->max_row_bytes);
    enum err_class cls = http_get(s->http, url, on_header, on_body, &f, &res, errstr, errstr_size);
    page->status = res.status;
    page->timed_out = res.timed_out;
    page->retry_after_s = res.retry_after_s;
    page->seconds = res.seconds;
    page->rows = rowsplit_rows(f.rs);
    bool done = rowsplit_done(f.rs);
    rowsplit_destroy(f.rs);
    if (res.too_large) {
        /* errstr says it */
    } else if (res.body_refused) {
        err_set(errstr, errstr_size, "response body is not a JSON array of rows (after %zu rows)",
                page->rows);
    } else if (cls == ERR_TRANSIENT && res.status == 0) {
        size_t n = strlen(errstr);
        snprintf(errstr + n, errstr_size - n, " (after %zu rows)", page->rows);
    } else if (cls == ERR_OK && !done) {
        err_set(errstr, errstr_size, "response body ended before the array did (%zu rows)",
                page->rows);
        cls = ERR_TRANSIENT;
    }
    if (cls == ERR_OK && f.out_of_date) {
        page->hold = "X-SODA2-Data-Out-Of-Date: true";
    }
    page->last = cls == ERR_OK && page->rows < (size_t)limit;
    return cls;
}

static json_t *socrata_read_row(const char *raw, size_t len, char **clean, size_t *clean_len)
{
    return row_parse(raw, len, clean, clean_len);
}

static void socrata_advance(struct keyset *pos, const json_t *row)
{
    keyset_advance(pos, json_string_value(json_object_get(row, ":updated_at")),
                   json_string_value(json_object_get(row, ":id")));
}

static int on_count(void *ctx, json_t *row, const char *raw, size_t len)
{
    (void)raw, (void)len;
    int64_t *total = ctx;
    const json_t *v = json_object_get(row, "count");
    if (json_is_string(v)) {
        *total = atoll(json_string_value(v));
    } else if (json_is_integer(v)) {
        *total = json_integer_value(v);
    }
    return 0;
}

static int on_count_body(void *ctx, const char *data, size_t len)
{
    return rowsplit_feed(ctx, data, len);
}

static int64_t socrata_count(struct source *s)
{
    char url[4096], err[256];
    struct http_response res;
    int64_t total = -1;
    if (query_count_url(url, sizeof(url), s->base, s->city, s->range_where) != 0) {
        return -1;
    }
    struct rowsplit *rs = rowsplit_new(on_count, &total, true);
    if (!rs) {
        return -1;
    }
    if (http_get(s->http, url, NULL, on_count_body, rs, &res, err, sizeof(err)) != ERR_OK ||
        !rowsplit_done(rs)) {
        total = -1;
    }
    rowsplit_destroy(rs);
    return total;
}

const struct source_kind socrata_kind = {
    .name = "socrata",
    .range_in_query = true,
    .open = socrata_open,
    .close = socrata_close,
    .fetch = socrata_fetch,
    .read_row = socrata_read_row,
    .advance = socrata_advance,
    .count = socrata_count,
};
