/* The ArcGIS query API's URLs and responses. See arcgis.h. */
#define _GNU_SOURCE
#include "producers/arcgis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producers/query.h"
#include "producers/rowsplit.h"

/* ---- URLs ---- */

static int put(char *buf, size_t n, size_t *used, const char *fmt, const char *a, const char *b)
{
    int w = snprintf(buf + *used, n - *used, fmt, a, b);
    if (w < 0 || (size_t)w >= n - *used) {
        return -1;
    }
    *used += (size_t)w;
    return 0;
}

static int param(char *buf, size_t n, size_t *used, const char *name, const char *value)
{
    char esc[4096];
    if (query_escape(esc, sizeof(esc), value) != 0) {
        return -1;
    }
    return put(buf, n, used, strchr(buf, '?') ? "&%s=%s" : "?%s=%s", name, esc);
}

static int layer(char *buf, size_t n, size_t *used, const char *base, const struct city *city,
                 const char *tail)
{
    buf[0] = 0;
    *used = 0;
    return put(buf, n, used, "%s%s", base, city->source.path) ||
           put(buf, n, used, "%s%s", tail, "");
}

static const char *where_of(const struct city *city)
{
    return city->source.where ? city->source.where : "1=1";
}

int arcgis_layer_url(char *buf, size_t n, const char *base, const struct city *city)
{
    size_t used;
    return layer(buf, n, &used, base, city, "") || param(buf, n, &used, "f", "json");
}

int arcgis_count_url(char *buf, size_t n, const char *base, const struct city *city)
{
    size_t used;
    return layer(buf, n, &used, base, city, "/query") ||
                   param(buf, n, &used, "where", where_of(city)) ||
                   param(buf, n, &used, "returnCountOnly", "true") ||
                   param(buf, n, &used, "f", "json")
               ? -1
               : 0;
}

int arcgis_page_url(char *buf, size_t n, const char *base, const struct city *city, int64_t offset,
                    int count)
{
    size_t used;
    char off[32], cnt[32];
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    snprintf(cnt, sizeof(cnt), "%d", count);
    return layer(buf, n, &used, base, city, "/query") ||
                   param(buf, n, &used, "where", where_of(city)) ||
                   param(buf, n, &used, "outFields", "*") ||
                   param(buf, n, &used, "outSR", "4326") ||
                   param(buf, n, &used, "orderByFields", city->source.order_by) ||
                   param(buf, n, &used, "resultOffset", off) ||
                   param(buf, n, &used, "resultRecordCount", cnt) ||
                   param(buf, n, &used, "f", "json")
               ? -1
               : 0;
}

/* ---- Responses ---- */

enum err_class arcgis_error(const json_t *body, char *errstr, size_t errstr_size)
{
    const json_t *e = json_object_get(body, "error");
    if (!json_is_object(e)) {
        return ERR_OK;
    }
    json_int_t code = json_integer_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    /* Into a buffer of this frame, not json_dumps' malloc'ed text: a page is read in an arena
     * (jarena.h), where jansson's allocations are not free()'s to release. */
    char details[512];
    const json_t *d = json_object_get(e, "details");
    size_t n = d ? json_dumpb(d, details, sizeof(details) - 4, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    if (n >= sizeof(details) - 4) {
        memcpy(details + sizeof(details) - 4, "...", 4); /* cut */
    } else {
        snprintf(details + n, sizeof(details) - n, "%s", n ? "" : "-");
    }
    err_set(errstr, errstr_size, "ArcGIS error %lld: %s (details %s)", (long long)code,
            msg ? msg : "-", details);
    return code == 202 || code == 408 || code == 429 || code >= 500 ? ERR_TRANSIENT : ERR_FATAL;
}

/* The response as a JSON object. Bytes that are not UTF-8 (a bad row in a good page) are
 * read as \u0000, as the Socrata kind does (producers/rowsplit.h), so that row becomes a dead
 * letter with its reason instead of failing the page. */
static json_t *load(const char *body, size_t len, char *errstr, size_t errstr_size)
{
    char *scrubbed = NULL;
    size_t scrubbed_len = 0;
    json_t *o = row_parse(body, len, &scrubbed, &scrubbed_len);
    free(scrubbed);
    if (!json_is_object(o)) {
        json_error_t jerr;
        json_t *again = o ? NULL : json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
        err_set(errstr, errstr_size, "response is not a JSON object: %s (byte %d)",
                o ? "another value" : jerr.text, o ? 0 : jerr.position);
        json_decref(again);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The names of a response's "fields" array, or NULL. */
static json_t *field_names(const json_t *o)
{
    const json_t *fields = json_object_get(o, "fields");
    if (!json_is_array(fields)) {
        return NULL;
    }
    json_t *names = json_array();
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (name) {
            json_array_append_new(names, json_string(name));
        }
    }
    return names;
}

enum err_class arcgis_layer_parse(const char *body, size_t len, struct arcgis_layer *layer_out,
                                  char *errstr, size_t errstr_size)
{
    memset(layer_out, 0, sizeof(*layer_out));
    layer_out->last_edit_ms = -1;
    json_t *o = load(body, len, errstr, errstr_size);
    if (!o) {
        return ERR_TRANSIENT;
    }
    enum err_class cls = arcgis_error(o, errstr, errstr_size);
    if (cls == ERR_OK) {
        const json_t *m = json_object_get(o, "maxRecordCount");
        layer_out->max_record_count = json_is_integer(m) ? (long)json_integer_value(m) : 0;
        const json_t *ed = json_object_get(o, "editingInfo");
        const json_t *t = json_object_get(ed, "lastEditDate");
        if (!json_is_integer(t)) {
            t = json_object_get(ed, "dataLastEditDate");
        }
        layer_out->last_edit_ms = json_is_integer(t) ? (int64_t)json_integer_value(t) : -1;
        layer_out->fields = field_names(o);
    }
    json_decref(o);
    return cls;
}

void arcgis_layer_clear(struct arcgis_layer *l)
{
    json_decref(l->fields);
    memset(l, 0, sizeof(*l));
}

int64_t arcgis_count_parse(const char *body, size_t len)
{
    char err[64];
    json_t *o = load(body, len, err, sizeof(err));
    const json_t *c = json_object_get(o, "count");
    int64_t n = json_is_integer(c) && json_integer_value(c) >= 0 ? json_integer_value(c) : -1;
    json_decref(o);
    return n;
}

/* A feature as one flat row: its attributes (taken, not copied: the page is ours), and a
 * point geometry as ::x, ::y. */
static json_t *flatten(const json_t *feature)
{
    json_t *attrs = json_object_get(feature, "attributes");
    if (!json_is_object(attrs)) {
        attrs = json_object_get(feature, "properties"); /* GeoJSON-style */
    }
    json_t *row = json_is_object(attrs) ? json_incref(attrs) : json_object();
    const json_t *g = json_object_get(feature, "geometry");
    const json_t *x = json_object_get(g, "x"), *y = json_object_get(g, "y");
    if (row && json_is_number(x) && json_is_number(y)) {
        json_object_set(row, "::x", (json_t *)x);
        json_object_set(row, "::y", (json_t *)y);
    }
    return row;
}

enum err_class arcgis_page_parse(const char *body, size_t len, struct arcgis_page *page,
                                 char *errstr, size_t errstr_size)
{
    memset(page, 0, sizeof(*page));
    json_t *o = load(body, len, errstr, errstr_size);
    if (!o) {
        return ERR_TRANSIENT;
    }
    enum err_class cls = arcgis_error(o, errstr, errstr_size);
    const json_t *features = json_object_get(o, "features");
    if (cls == ERR_OK && !json_is_array(features)) {
        err_set(errstr, errstr_size, "response has no features array");
        cls = ERR_TRANSIENT;
    }
    if (cls == ERR_OK) {
        page->rows = json_array();
        size_t i;
        const json_t *f;
        json_array_foreach(features, i, f)
        {
            json_t *row = flatten(f);
            if (row) {
                json_array_append_new(page->rows, row);
            }
        }
        const json_t *ex = json_object_get(o, "exceededTransferLimit");
        if (!ex) { /* f=geojson keeps it under properties */
            ex = json_object_get(json_object_get(o, "properties"), "exceededTransferLimit");
        }
        page->exceeded = json_is_true(ex);
        page->fields = field_names(o);
    }
    json_decref(o);
    return cls;
}

void arcgis_page_clear(struct arcgis_page *page)
{
    json_decref(page->rows);
    json_decref(page->fields);
    memset(page, 0, sizeof(*page));
}

/* ---- Repeated ids ---- */

static bool same_value(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

static bool same_ids(const json_t *a, const json_t *b, char *const *id_fields, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (!same_value(json_object_get(a, id_fields[k]), json_object_get(b, id_fields[k]))) {
            return false;
        }
    }
    return true;
}

size_t arcgis_number_repeats(json_t *rows, const char *group_field, char *const *id_fields,
                             size_t n_id_fields)
{
    size_t n = json_array_size(rows), run = 0;
    if (!group_field) {
        return n;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i);
        if (i > 0 && !same_value(json_object_get(row, group_field),
                                 json_object_get(json_array_get(rows, i - 1), group_field))) {
            run = i;
        }
        json_int_t k = 1;
        for (size_t j = run; j < i; j++) {
            k += same_ids(json_array_get(rows, j), row, id_fields, n_id_fields);
        }
        if (k > 1) {
            json_object_set_new(row, "::repeat", json_integer(k));
        }
    }
    return run;
}
