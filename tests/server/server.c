/* The local Socrata-compatible server.
 *
 * ---- Data ----
 *   GET /resource/<dataset>.json?$select=&$where=&$order=&$limit=&$offset=&$$app_token=
 *     (soql.h for the subset; column=value is the equality shortcut; X-App-Token is ignored).
 *     $order: none or :id walks by :id; :updated_at[,:id] by (:updated_at, :id); other orders
 *     and DESC get 400. $limit above 50000 gets 400 "length must be <= 50000" (SODA 2.0's
 *     limit; this server keeps a page in memory).
 *   Unknown dataset: 404 {"code":"dataset.missing",...}. Bad SoQL or an unknown $parameter:
 *     400 {"code":"query.compiler.malformed"|"query.soql.no-such-column"|...,"error":true,...}.
 *
 * ---- Admin (same listener) ----
 *   POST /_admin/fault?kind=K[&city=NAME][&count=N][&retry_after=S][&ms=MS][&seconds=S][&k=K]
 *       Applies to the next N (default 1) data requests of the city (or of any city when city is
 *       absent or "*"); pending faults are used first come, first served, one per request.
 *       kind=429            429 without Retry-After (with retry_after=S: Retry-After: S)
 *       kind=500 | 503      that status with a Socrata-shaped error body
 *       kind=202            202 {"message":"Request Processing"}
 *       kind=slow           delay the response by ms (default 1000)
 *       kind=stall          send the headers and part of the body, then hang for seconds
 *                           (default 10) without closing, then send the rest
 *       kind=truncate       declare Content-Length, send about half of the body, close
 *       kind=out_of_date    X-SODA2-Data-Out-Of-Date: true, and changes made after the fault
 *                           was set are invisible (a lagging replica)
 *       kind=html|object|gzip_bomb|endless|redirect   a 200 HTML page, a JSON object, gzip
 *                           inflating to 512 MiB, a body that never ends, a 302 to another host
 *     Immediate and lasting (count is ignored):
 *       kind=malformed      from now on about 1 in k rows (default 100; k=0 turns it off) is
 *                           malformed, the same rows on every request: id missing, "not a date",
 *                           an object for a string, invalid UTF-8, a 100 KB string
 *       kind=hostile        the same, hostile rows (tests/server/gen.h): 3 MB, invalid UTF-8,
 *                           deep, 2,000 fields, a long id, a lone surrogate, NUL, one exact text
 *       kind=replace        a publisher's full replace: every row's :updated_at becomes now
 *   POST /_admin/append?city=NAME&n=N   N new rows (:updated_at now, at the end of the order)
 *   POST /_admin/update?city=NAME&n=N   N updates of existing rows (version + 1, moved to the end)
 *   POST /_admin/replace?city=NAME      same as kind=replace
 *   POST /_admin/reset[?city=NAME]      drop pending faults and turn malformed rows off
 *   GET  /_admin/status                 JSON: per city rows, overlay, faults pending, requests
 *   city may be a city name or its dataset id; answers are JSON, 400 on bad parameters. */
#define _GNU_SOURCE
#include "tests/server/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/err.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/timeutil.h"
#include "tests/server/layers.h"

enum fault_kind {
    F_429 = 0,
    F_500,
    F_503,
    F_202,
    F_SLOW,
    F_STALL,
    F_TRUNCATE,
    F_OUT_OF_DATE,
    F_MALFORMED,
    F_REPLACE,
    F_ENVELOPE,
    F_HOSTILE,
    F_HTML,
    F_OBJECT,
    F_GZIP_BOMB,
    F_ENDLESS,
    F_REDIRECT,
    F__COUNT
};
static const char *const fault_names[F__COUNT] = {
    "429",      "500",         "503",       "202",     "slow",     "stall",
    "truncate", "out_of_date", "malformed", "replace", "envelope", "hostile",
    "html",     "object",      "gzip_bomb", "endless", "redirect"};

struct fault {
    enum fault_kind kind;
    int city; /* -1: any */
    long remaining;
    long retry_after_s, ms, seconds, code;
    int64_t start_ms;
};

/* A city served as an ArcGIS layer or as yearly CSV files: what the admin endpoints set, and
 * the files last rendered (a file keeps its ETag and Last-Modified while its bytes stay the
 * same; a rewrite gives it new ones with the same bytes). */
struct file_cache {
    int year;
    uint64_t version, hash;
    unsigned rewrites;
    int64_t modified_s;
    struct buf body;
};
struct layer_state {
    pthread_mutex_t lock;
    long max_records;
    uint64_t objectid_base;
    int64_t republished_ms;
    unsigned rewrites;
    bool header_upper;
    struct file_cache files[64];
    size_t n_files;
};

struct sserver {
    struct MHD_Daemon *mhd;
    int port;
    struct store_city **cities;
    size_t n_cities;
    _Atomic uint64_t *city_requests;
    struct layer_state *layers; /* per city */
    _Atomic uint64_t requests, admin_requests;
    pthread_mutex_t fault_lock;
    struct fault *faults;
    size_t n_faults, cap_faults;
    unsigned live_rate;
    pthread_t live;
    bool live_started;
    atomic_bool stop;
    int64_t started_ms;
};

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

/* Sleep ms, in short steps, returning early when the server stops. */
static void nap_ms(struct sserver *srv, long ms)
{
    while (ms > 0 && !atomic_load(&srv->stop)) {
        long step = ms < 50 ? ms : 50;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static int city_by_name(const struct sserver *srv, const char *name)
{
    for (size_t c = 0; name && c < srv->n_cities; c++) {
        const struct city *city = gen_city_file(store_gen(srv->cities[c]));
        if (strcmp(city->name, name) == 0 || strcmp(city->dataset, name) == 0) {
            return (int)c;
        }
    }
    return -1;
}

/* ---- Responses ---- */

static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned status, const char *body,
                                 const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json;charset=utf-8");
    if (retry_after) {
        MHD_add_response_header(r, "Retry-After", retry_after);
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *obj)
{
    char *text = json_dumps(obj, JSON_INDENT(2));
    json_decref(obj);
    if (!text) {
        return MHD_NO;
    }
    enum MHD_Result ret = send_body(conn, status, text, NULL);
    free(text);
    return ret;
}

/* {"code":..,"error":true,"message":..,"data":{key: value}} */
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                  const char *message, const char *data_key, const char *data_value)
{
    /* A message quoting the request may hold bytes that are not UTF-8: each becomes U+FFFD, so
     * the reply is still JSON (jansson refuses such text, and there would be no reply). */
    char *msg = utf8_repair(message), *val = data_value ? utf8_repair(data_value) : NULL;
    json_t *data = json_object();
    if (data_key && val) {
        json_object_set_new(data, data_key, json_string(val));
    }
    enum MHD_Result ret = send_json(conn, status,
                                    json_pack("{s:s, s:b, s:s, s:o}", "code", code, "error", 1,
                                              "message", msg ? msg : "", "data", data));
    free(msg);
    free(val);
    return ret;
}

/* ---- Data requests ---- */

struct args {
    struct soql_params p;
    const char *bad;     /* first unknown $parameter */
    struct buf shortcut; /* " AND col = 'v'" pieces */
    bool bad_shortcut;
    const char *bad_name;
    bool exclude_system_false;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct args *a = cls;
    if (!value) {
        value = "";
    }
    if (strcmp(key, "$select") == 0) {
        a->p.select = value;
    } else if (strcmp(key, "$where") == 0) {
        a->p.where = value;
    } else if (strcmp(key, "$order") == 0) {
        a->p.order = value;
    } else if (strcmp(key, "$limit") == 0) {
        a->p.limit = value;
    } else if (strcmp(key, "$offset") == 0) {
        a->p.offset = value;
    } else if (strcmp(key, "$$app_token") == 0) {
        /* accepted and ignored */
    } else if (strcmp(key, "$$exclude_system_fields") == 0) {
        a->exclude_system_false = strcmp(value, "false") == 0;
    } else if (key[0] == '$') {
        if (!a->bad) {
            a->bad = key;
        }
    } else {
        /* column=value: the equality shortcut */
        for (const char *k = key; *k; k++) {
            if (!(isalnum((unsigned char)*k) || *k == '_' || *k == ':' || *k == '@')) {
                a->bad_shortcut = true;
                a->bad_name = key;
            }
        }
        buf_puts(&a->shortcut, a->shortcut.len ? " AND " : "");
        buf_puts(&a->shortcut, key);
        buf_puts(&a->shortcut, " = '");
        for (const char *v = value; *v; v++) {
            buf_put(&a->shortcut, v, *v == '\'' ? 0 : 1);
            if (*v == '\'') {
                buf_puts(&a->shortcut, "''");
            }
        }
        buf_puts(&a->shortcut, "'");
    }
    return MHD_YES;
}

/* The response body under construction: raw JSON, or gzip as it is produced. */
struct body {
    bool gzip;
    z_stream z;
    struct buf out; /* the final body */
};

static void gzip_feed(struct body *b, struct buf *raw, int flush)
{
    b->z.next_in = (unsigned char *)raw->p;
    b->z.avail_in = (unsigned)raw->len;
    do {
        buf_reserve(&b->out, 65536);
        if (b->out.oom) {
            return;
        }
        b->z.next_out = (unsigned char *)b->out.p + b->out.len;
        b->z.avail_out = (unsigned)(b->out.cap - b->out.len - 1);
        size_t before = b->z.avail_out;
        deflate(&b->z, flush);
        b->out.len += before - b->z.avail_out;
    } while (b->z.avail_out == 0 || (flush == Z_FINISH && b->z.avail_in > 0));
    raw->len = 0;
}

static void body_flush(void *ctx, struct buf *raw)
{
    gzip_feed(ctx, raw, Z_NO_FLUSH);
}

/* Sending a response with a fault: stop after cut bytes (truncate), or hang there (stall). */
struct partial {
    struct sserver *srv;
    char *data;
    size_t len, cut;
    bool truncate;
    long stall_s;
    bool stalled;
};

static ssize_t partial_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct partial *p = cls;
    if (pos >= p->cut && p->truncate) {
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (pos >= p->cut && !p->stalled) {
        p->stalled = true;
        nap_ms(p->srv, p->stall_s * 1000);
    }
    size_t end = pos < p->cut ? p->cut : p->len;
    if (pos >= end) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = end - pos < max ? end - (size_t)pos : max;
    memcpy(buf, p->data + pos, n);
    return (ssize_t)n;
}

static void partial_free(void *cls)
{
    struct partial *p = cls;
    free(p->data);
    free(p);
}

static void http_date(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* X-SODA2-Fields / X-SODA2-Types of the selected columns. */
static void field_headers(const struct gen_city *g, const struct soql_query *q, char **fields,
                          char **types)
{
    json_t *f = json_array(), *t = json_array();
    if (q->select == SOQL_SELECT_COUNT) {
        json_array_append_new(f, json_string("count"));
        json_array_append_new(t, json_string("number"));
    } else if (q->select == SOQL_SELECT_LIST) {
        for (size_t j = 0; j < q->n_columns; j++) {
            json_array_append_new(f, json_string(gen_col_name(g, q->columns[j])));
            json_array_append_new(t, json_string(gen_col_type(g, q->columns[j])));
        }
    } else {
        if (q->select_system) {
            for (int col = GEN_COL_ID; col >= GEN_COL_UPDATED; col--) {
                json_array_append_new(f, json_string(gen_col_name(g, col)));
                json_array_append_new(t, json_string(gen_col_type(g, col)));
            }
        }
        for (size_t k = 0; k < gen_n_cols(g); k++) {
            json_array_append_new(f, json_string(gen_col_name(g, (int)k)));
            json_array_append_new(t, json_string(gen_col_type(g, (int)k)));
        }
    }
    *fields = json_dumps(f, JSON_COMPACT);
    *types = json_dumps(t, JSON_COMPACT);
    json_decref(f);
    json_decref(t);
}

static bool take_fault(struct sserver *srv, int city, struct fault *out)
{
    bool found = false;
    pthread_mutex_lock(&srv->fault_lock);
    for (size_t j = 0; j < srv->n_faults; j++) {
        struct fault *f = &srv->faults[j];
        if (f->remaining > 0 && (f->city < 0 || f->city == city)) {
            *out = *f;
            f->remaining--;
            found = true;
            break;
        }
    }
    /* drop used-up faults */
    size_t w = 0;
    for (size_t j = 0; j < srv->n_faults; j++) {
        if (srv->faults[j].remaining > 0) {
            srv->faults[w++] = srv->faults[j];
        }
    }
    srv->n_faults = w;
    pthread_mutex_unlock(&srv->fault_lock);
    return found;
}

/* The city serving dataset (the name in /resource/<dataset>.json), or -1. */
static int city_of(const struct sserver *srv, const char *url, char *dataset, size_t n,
                   const char **dot)
{
    const char *name = url + strlen("/resource/");
    *dot = strrchr(name, '.');
    size_t len = *dot ? (size_t)(*dot - name) : strlen(name);
    snprintf(dataset, n, "%.*s", (int)(len < n - 1 ? len : n - 1), name);
    int c = -1;
    for (size_t j = 0; j < srv->n_cities; j++) {
        if (strcmp(gen_city_file(store_gen(srv->cities[j]))->dataset, dataset) == 0) {
            c = (int)j;
        }
    }
    return c;
}

/* ---- Hostile answers ---- */

#define BOMB_INFLATED (512u << 20) /* bytes a gzip bomb inflates to */

static unsigned char *bomb;
static size_t bomb_len;
static pthread_once_t bomb_once = PTHREAD_ONCE_INIT;

/* "[" and 512 MiB of spaces, gzipped (about 500 KB): made once, at run time. */
static void bomb_make(void)
{
    static char chunk[1 << 16];
    z_stream z = {0};
    struct buf out = {0};
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        return;
    }
    memset(chunk, ' ', sizeof(chunk));
    chunk[0] = '[';
    unsigned char zbuf[1 << 16];
    for (size_t done = 0; done < BOMB_INFLATED; done += sizeof(chunk)) {
        z.next_in = (unsigned char *)chunk;
        z.avail_in = sizeof(chunk);
        int flush = done + sizeof(chunk) >= BOMB_INFLATED ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = zbuf;
            z.avail_out = sizeof(zbuf);
            deflate(&z, flush);
            buf_put(&out, (char *)zbuf, sizeof(zbuf) - z.avail_out);
        } while (z.avail_out == 0);
        chunk[0] = ' ';
    }
    deflateEnd(&z);
    bomb = (unsigned char *)out.p;
    bomb_len = out.len;
}

/* A body that never ends: "[" then spaces, as fast as the client reads. */
static ssize_t endless_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    memset(buf, ' ', max);
    if (pos == 0) {
        buf[0] = '[';
    }
    return (ssize_t)max;
}

static enum MHD_Result send_hostile(struct MHD_Connection *conn, const struct fault *f)
{
    struct MHD_Response *r = NULL;
    unsigned status = 200;
    const char *type = "application/json;charset=utf-8";
    switch (f->kind) {
    case F_HTML:
        type = "text/html";
        r = MHD_create_response_from_buffer(
            strlen("<html><body><h1>Down for maintenance</h1></body></html>"),
            (void *)"<html><body><h1>Down for maintenance</h1></body></html>",
            MHD_RESPMEM_PERSISTENT);
        break;
    case F_OBJECT:
        r = MHD_create_response_from_buffer(strlen("{\"rows\":[]}"), (void *)"{\"rows\":[]}",
                                            MHD_RESPMEM_PERSISTENT);
        break;
    case F_GZIP_BOMB:
        pthread_once(&bomb_once, bomb_make);
        r = MHD_create_response_from_buffer(bomb_len, bomb, MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, "Content-Encoding", "gzip");
        }
        break;
    case F_ENDLESS:
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1 << 16, endless_read, NULL, NULL);
        break;
    default: /* F_REDIRECT: to a host the client must never ask */
        status = 302;
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r) {
            MHD_add_response_header(r, "Location",
                                    "http://elsewhere.invalid/resource/moved.json?$limit=1");
        }
        break;
    }
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A fault that answers the request by itself (429, 500, 503, 202, the hostile answers), into
 * *ret; a slow one sleeps first. false: serve the data (the fault, if any, shapes the
 * response). */
static bool answer_fault(struct sserver *srv, struct MHD_Connection *conn, const struct fault *f,
                         enum MHD_Result *ret)
{
    char ra[32];
    switch (f->kind) {
    case F_429:
        snprintf(ra, sizeof(ra), "%ld", f->retry_after_s);
        *ret = send_body(conn, 429,
                         "{\"code\":\"throttled\",\"error\":true,\"message\":\"Too many "
                         "requests\"}",
                         f->retry_after_s > 0 ? ra : NULL);
        return true;
    case F_500:
        *ret = send_error(conn, 500, "internal.error", "Internal error", NULL, NULL);
        return true;
    case F_503:
        *ret = send_error(conn, 503, "service.unavailable", "Service unavailable", NULL, NULL);
        return true;
    case F_202:
        *ret = send_body(conn, 202, "{\"message\":\"Request Processing\"}", NULL);
        return true;
    case F_SLOW:
        nap_ms(srv, f->ms);
        return false;
    case F_HTML:
    case F_OBJECT:
    case F_GZIP_BOMB:
    case F_ENDLESS:
    case F_REDIRECT:
        *ret = send_hostile(conn, f);
        return true;
    default:
        return false;
    }
}

/* The response holding body (taken): whole, or cut short by a truncate or stall fault. */
static struct MHD_Response *data_response(struct sserver *srv, struct buf *body,
                                          const struct fault *f, bool faulted)
{
    if (faulted && (f->kind == F_TRUNCATE || f->kind == F_STALL)) {
        struct partial *p = calloc(1, sizeof(*p));
        if (!p) {
            return NULL;
        }
        p->srv = srv;
        p->data = body->p;
        p->len = body->len;
        p->cut = body->len / 2;
        p->truncate = f->kind == F_TRUNCATE;
        p->stall_s = f->seconds;
        body->p = NULL;
        return MHD_create_response_from_callback(p->len, 4096, partial_read, p, partial_free);
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body->len, body->p, MHD_RESPMEM_MUST_FREE);
    if (r) {
        body->p = NULL;
    }
    return r;
}

/* Socrata's headers of a data response. hide_ms: a lagging replica's horizon (INT64_MAX: none). */
static void data_headers(struct sserver *srv, struct MHD_Response *r, struct store_city *s,
                         const struct soql_query *q, int64_t hide_ms, bool gzip)
{
    char date[64], truth[64], etag[64], reqid[40], *fields = NULL, *types = NULL;
    struct store_stats st;
    store_stats(s, &st);
    field_headers(store_gen(s), q, &fields, &types);
    http_date(hide_ms != INT64_MAX ? hide_ms : st.last_modified_ms, date, sizeof(date));
    http_date(st.last_modified_ms, truth, sizeof(truth));
    uint64_t n = atomic_load(&srv->requests);
    snprintf(etag, sizeof(etag), "\"%016" PRIx64 "%s\"",
             (uint64_t)(((uint64_t)st.last_modified_ms * 1000003u) ^ (uint64_t)st.overlay),
             gzip ? "--gzip" : "");
    snprintf(reqid, sizeof(reqid), "%016" PRIx64 "%016" PRIx64, (uint64_t)now_us(), n);
    MHD_add_response_header(r, "Content-Type", "application/json;charset=utf-8");
    MHD_add_response_header(r, "X-SODA2-Fields", fields ? fields : "[]");
    MHD_add_response_header(r, "X-SODA2-Types", types ? types : "[]");
    MHD_add_response_header(r, "X-SODA2-Data-Out-Of-Date", hide_ms != INT64_MAX ? "true" : "false");
    MHD_add_response_header(r, "X-SODA2-Truth-Last-Modified", truth);
    MHD_add_response_header(r, "X-SODA2-Secondary-Last-Modified", date);
    MHD_add_response_header(r, "Last-Modified", date);
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "X-Socrata-RequestId", reqid);
    MHD_add_response_header(r, "Vary", "Accept-Encoding");
    if (gzip) {
        MHD_add_response_header(r, "Content-Encoding", "gzip");
    }
    free(fields);
    free(types);
}

/* The request's SoQL, parsed into q with its walk order; false after answering a bad request
 * (into *ret). *where may hold a copy of the $where (with the column=value shortcuts). */
static bool parse_request(struct MHD_Connection *conn, const struct gen_city *g, struct args *a,
                          char **where, struct soql_query *q, enum store_order *order,
                          enum MHD_Result *ret)
{
    char msg[300];
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, a);
    if (a->bad) {
        snprintf(msg, sizeof(msg), "Unrecognized parameter %s", a->bad);
        *ret = send_error(conn, 400, "query.compiler.malformed", msg, "parameter", a->bad);
        return false;
    }
    if (a->bad_shortcut) {
        snprintf(msg, sizeof(msg), "No such column: %s", a->bad_name);
        *ret = send_error(conn, 400, "query.soql.no-such-column", msg, "column", a->bad_name);
        return false;
    }
    if (a->shortcut.len) {
        if (asprintf(where, "%s%s%s%s", a->p.where ? "(" : "", a->p.where ? a->p.where : "",
                     a->p.where ? ") AND " : "", a->shortcut.p) < 0) {
            *where = NULL;
            *ret = MHD_NO;
            return false;
        }
        a->p.where = *where;
    }
    struct soql_error err = {0};
    if (soql_query_parse(&a->p, gen_resolve, (void *)g, q, &err) != 0) {
        *ret = send_error(conn, 400, err.code, err.message, "query",
                          a->p.where    ? a->p.where
                          : a->p.select ? a->p.select
                                        : "");
        return false;
    }
    if (a->exclude_system_false && q->select == SOQL_SELECT_STAR) {
        q->select_system = true;
    }
    if (!store_order_of(q, order)) {
        *ret = send_error(conn, 400, "query.compiler.malformed",
                          "This server supports only $order=:updated_at,:id (or :updated_at, or "
                          ":id), ascending",
                          "order", a->p.order);
        return false;
    }
    return true;
}

static enum MHD_Result serve_data(struct sserver *srv, struct MHD_Connection *conn, const char *url)
{
    char dataset[128];
    const char *dot;
    int c = city_of(srv, url, dataset, sizeof(dataset), &dot);
    if (c < 0) {
        return send_error(conn, MHD_HTTP_NOT_FOUND, "dataset.missing", "Not found", "id", dataset);
    }
    if (!dot || strcmp(dot, ".json") != 0) {
        return send_error(conn, MHD_HTTP_BAD_REQUEST, "query.compiler.malformed",
                          "This server serves only .json", "id", dataset);
    }
    struct store_city *s = srv->cities[c];
    const struct gen_city *g = store_gen(s);
    atomic_fetch_add(&srv->requests, 1);
    atomic_fetch_add(&srv->city_requests[c], 1);
    int64_t t0 = mono_ms();

    struct fault f = {0};
    bool faulted = take_fault(srv, c, &f);
    enum MHD_Result ret;
    if (faulted) {
        log_info("fault.applied", "city=%s kind=%s", gen_city_file(g)->name, fault_names[f.kind]);
        if (answer_fault(srv, conn, &f, &ret)) {
            return ret;
        }
    }

    struct args a = {0};
    char *where = NULL;
    struct soql_query q = {0};
    struct body b = {0};
    struct buf raw = {0};
    enum store_order order;
    if (!parse_request(conn, g, &a, &where, &q, &order, &ret)) {
        goto out;
    }

    const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    b.gzip = ae && strstr(ae, "gzip");
    if (b.gzip && deflateInit2(&b.z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        b.gzip = false;
    }
    int64_t hide = faulted && f.kind == F_OUT_OF_DATE ? f.start_ms : INT64_MAX;
    struct store_result res;
    if (b.gzip) {
        store_query(s, &q, order, hide, &raw, 256 * 1024, body_flush, &b, &res);
        gzip_feed(&b, &raw, Z_FINISH);
        deflateEnd(&b.z);
    } else {
        store_query(s, &q, order, hide, &b.out, 0, NULL, NULL, &res);
    }
    if (b.out.oom || raw.oom) {
        ret = send_error(conn, 500, "internal.error", "Out of memory", NULL, NULL);
        goto out;
    }

    struct MHD_Response *r = data_response(srv, &b.out, &f, faulted);
    if (!r) {
        ret = MHD_NO;
        goto out;
    }
    data_headers(srv, r, s, &q, hide, b.gzip);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    log_debug("request.served",
              "city=%s rows=%" PRIu64 " considered=%" PRIu64 " ms=%" PRId64 " gzip=%d",
              gen_city_file(g)->name, res.rows, res.considered, mono_ms() - t0, b.gzip);
out:
    buf_free(&raw);
    buf_free(&b.out);
    soql_query_clear(&q);
    free(where);
    buf_free(&a.shortcut);
    return ret;
}

/* ---- Admin ---- */

static long arg_long(struct MHD_Connection *conn, const char *key, long def, bool *bad)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
    if (!v) {
        return def;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0) {
        *bad = true;
    }
    return n;
}

static enum MHD_Result admin_error(struct MHD_Connection *conn, const char *msg)
{
    return send_json(conn, 400, json_pack("{s:b, s:s}", "error", 1, "message", msg));
}

static json_t *status_json(struct sserver *srv)
{
    json_t *cities = json_array();
    pthread_mutex_lock(&srv->fault_lock);
    json_t *faults = json_array();
    for (size_t j = 0; j < srv->n_faults; j++) {
        const struct fault *f = &srv->faults[j];
        json_array_append_new(
            faults,
            json_pack("{s:s, s:s, s:I}", "kind", fault_names[f->kind], "city",
                      f->city < 0 ? "*" : gen_city_file(store_gen(srv->cities[f->city]))->name,
                      "remaining", (json_int_t)f->remaining));
    }
    pthread_mutex_unlock(&srv->fault_lock);
    for (size_t c = 0; c < srv->n_cities; c++) {
        struct store_stats st;
        store_stats(srv->cities[c], &st);
        const struct city *city = gen_city_file(store_gen(srv->cities[c]));
        char last[40] = "", repl[40] = "";
        if (st.last_change_ms) {
            gen_format_fixed(st.last_change_ms, last, sizeof(last));
        }
        if (st.replace_ms) {
            gen_format_fixed(st.replace_ms, repl, sizeof(repl));
        }
        json_array_append_new(
            cities, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s?, s:s?, s:i, s:I}", "name",
                              city->name, "dataset", city->dataset, "rows", (json_int_t)st.rows,
                              "new_rows", (json_int_t)st.new_rows, "overlay",
                              (json_int_t)st.overlay, "log_slots", (json_int_t)st.log_slots,
                              "last_change_at", st.last_change_ms ? last : NULL, "replaced_at",
                              st.replace_ms ? repl : NULL, "malformed_k", (int)st.malformed_k,
                              "requests", (json_int_t)atomic_load(&srv->city_requests[c])));
    }
    char started[40];
    gen_format_fixed(srv->started_ms, started, sizeof(started));
    return json_pack("{s:s, s:I, s:I, s:i, s:o, s:o}", "started_at", started, "requests_served",
                     (json_int_t)atomic_load(&srv->requests), "admin_requests",
                     (json_int_t)atomic_load(&srv->admin_requests), "live_rate",
                     (int)srv->live_rate, "faults_pending", faults, "cities", cities);
}

static enum MHD_Result serve_admin(struct sserver *srv, struct MHD_Connection *conn,
                                   const char *url, const char *method)
{
    atomic_fetch_add(&srv->admin_requests, 1);
    const char *what = url + strlen("/_admin/");
    if (strcmp(what, "status") == 0) {
        return send_json(conn, 200, status_json(srv));
    }
    if (strcmp(method, "POST") != 0) {
        return send_json(conn, 405, json_pack("{s:b, s:s}", "error", 1, "message", "use POST"));
    }
    const char *city_arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "city");
    bool all = !city_arg || strcmp(city_arg, "*") == 0;
    int c = all ? -1 : city_by_name(srv, city_arg);
    if (!all && c < 0) {
        return admin_error(conn, "unknown city");
    }
    bool bad = false;
    int64_t now = now_ms();
    if (strcmp(what, "append") == 0 || strcmp(what, "update") == 0) {
        long n = arg_long(conn, "n", 1, &bad);
        if (bad || all) {
            return admin_error(conn, "append/update need city=NAME and n=N");
        }
        if (what[0] == 'a') {
            store_append(srv->cities[c], (uint64_t)n, now);
        } else {
            store_update(srv->cities[c], (uint64_t)n, now);
        }
        log_info("admin.change", "city=%s op=%s n=%ld", city_arg, what, n);
        return send_json(conn, 200,
                         json_pack("{s:b, s:s, s:I}", "ok", 1, "op", what, "n", (json_int_t)n));
    }
    if (strcmp(what, "delete") == 0 || strcmp(what, "renumber") == 0 ||
        strcmp(what, "rewrite") == 0 || strcmp(what, "layer") == 0) {
        if (all) {
            return admin_error(conn, "delete/renumber/rewrite/layer need city=NAME");
        }
        struct layer_state *ls = &srv->layers[c];
        long n = arg_long(conn, "n", 1, &bad);
        long max = arg_long(conn, "max_records", ls->max_records, &bad);
        long upper = arg_long(conn, "header_upper", ls->header_upper, &bad);
        if (bad || max < 1) {
            return admin_error(conn,
                               "n, max_records and header_upper are integers (max_records >= 1)");
        }
        pthread_mutex_lock(&ls->lock);
        if (what[0] == 'd') {
            store_delete(srv->cities[c], (uint64_t)n, now);
        } else if (what[2] == 'n') { /* renumber: a republish that gives every row a new OBJECTID */
            ls->objectid_base += 100000;
            ls->republished_ms = now;
        } else if (what[0] == 'r') {
            ls->rewrites++;
        } else {
            ls->max_records = max;
            ls->header_upper = upper != 0;
        }
        pthread_mutex_unlock(&ls->lock);
        log_info("admin.change", "city=%s op=%s n=%ld", city_arg, what, n);
        return send_json(conn, 200, json_pack("{s:b, s:s}", "ok", 1, "op", what));
    }
    if (strcmp(what, "reset") == 0) {
        pthread_mutex_lock(&srv->fault_lock);
        size_t w = 0;
        for (size_t j = 0; j < srv->n_faults; j++) {
            if (!all && srv->faults[j].city != c) {
                srv->faults[w++] = srv->faults[j];
            }
        }
        srv->n_faults = w;
        pthread_mutex_unlock(&srv->fault_lock);
        for (size_t j = 0; j < srv->n_cities; j++) {
            if (all || (int)j == c) {
                store_set_malformed(srv->cities[j], 0);
            }
        }
        return send_json(conn, 200, json_pack("{s:b}", "ok", 1));
    }
    const char *kind = strcmp(what, "replace") == 0
                           ? "replace"
                           : MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "kind");
    if (strcmp(what, "fault") != 0 && strcmp(what, "replace") != 0) {
        return send_json(conn, 404,
                         json_pack("{s:b, s:s}", "error", 1, "message", "unknown admin endpoint"));
    }
    int k = -1;
    for (int j = 0; kind && j < F__COUNT; j++) {
        if (strcmp(kind, fault_names[j]) == 0) {
            k = j;
        }
    }
    if (k < 0) {
        return admin_error(conn, "kind: 429|500|503|202|slow|stall|truncate|out_of_date|"
                                 "malformed|replace|envelope|hostile|html|object|gzip_bomb|"
                                 "endless|redirect");
    }
    struct fault f = {.kind = (enum fault_kind)k,
                      .city = c,
                      .remaining = arg_long(conn, "count", 1, &bad),
                      .retry_after_s = arg_long(conn, "retry_after", 0, &bad),
                      .ms = arg_long(conn, "ms", 1000, &bad),
                      .seconds = arg_long(conn, "seconds", 10, &bad),
                      .code = arg_long(conn, "code", 500, &bad),
                      .start_ms = now};
    long mk = arg_long(conn, "k", 100, &bad);
    if (f.kind == F_GZIP_BOMB) {
        pthread_once(&bomb_once, bomb_make); /* now, not while a client waits for it */
    }
    if (bad) {
        return admin_error(conn, "count, retry_after, ms, seconds and k are integers >= 0");
    }
    if (f.kind == F_MALFORMED || f.kind == F_HOSTILE || f.kind == F_REPLACE) {
        for (size_t j = 0; j < srv->n_cities; j++) {
            if (all || (int)j == c) {
                if (f.kind != F_REPLACE) {
                    unsigned hk = mk > 0 && f.kind == F_HOSTILE ? GEN_HOSTILE : 0;
                    store_set_malformed(srv->cities[j], (unsigned)mk | hk);
                } else {
                    store_replace(srv->cities[j], now);
                }
            }
        }
    } else {
        pthread_mutex_lock(&srv->fault_lock);
        if (srv->n_faults == srv->cap_faults) {
            size_t cap = srv->cap_faults ? srv->cap_faults * 2 : 16;
            struct fault *grown = realloc(srv->faults, cap * sizeof(*grown));
            if (!grown) {
                pthread_mutex_unlock(&srv->fault_lock);
                return MHD_NO;
            }
            srv->faults = grown;
            srv->cap_faults = cap;
        }
        srv->faults[srv->n_faults++] = f;
        pthread_mutex_unlock(&srv->fault_lock);
    }
    log_info("admin.fault", "city=%s kind=%s count=%ld", all ? "*" : city_arg, fault_names[k],
             f.remaining);
    return send_json(conn, 200,
                     json_pack("{s:b, s:s, s:s}", "ok", 1, "kind", fault_names[k], "city",
                               all ? "*" : city_arg));
}

/* ---- ArcGIS layers and yearly CSV files ---- */

static uint64_t hash_buf(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    }
    return h;
}

/* A version of the city's content: changes with every change of the store or the admin's. */
static uint64_t content_version(struct sserver *srv, int c)
{
    struct store_stats st;
    store_stats(srv->cities[c], &st);
    const struct layer_state *ls = &srv->layers[c];
    return hash_buf((const char *)&st, sizeof(st)) ^ (ls->objectid_base * 0x9e3779b97f4a7c15ULL) ^
           ((uint64_t)ls->header_upper << 1) ^ ((uint64_t)ls->republished_ms << 8);
}

struct layer_walk {
    struct sserver *srv;
    int c;
    const struct gen_city *g;
    struct gen_row row;
    struct buf *out;
    int64_t offset, count, pos, taken;
    bool more, counting;
    int year; /* csv: the file's year */
};

static int on_layer_row(void *ctx, const struct gen_meta *m, unsigned malformed_k)
{
    struct layer_walk *w = ctx;
    int64_t pos = w->pos++;
    if (w->counting || pos < w->offset) {
        return 0;
    }
    if (w->taken >= w->count) {
        w->more = true;
        return 1;
    }
    gen_row_make(w->g, m, malformed_k, &w->row);
    buf_puts(w->out, w->taken ? "," : "");
    layers_arcgis_feature(w->g, &w->row, w->srv->layers[w->c].objectid_base + (uint64_t)pos,
                          w->out);
    w->taken++;
    return 0;
}

static int on_csv_row(void *ctx, const struct gen_meta *m, unsigned malformed_k)
{
    struct layer_walk *w = ctx;
    gen_row_make(w->g, m, malformed_k, &w->row);
    if (layers_row_year(w->g, &w->row) == w->year) {
        layers_csv_row(w->g, &w->row, w->srv->layers[w->c].objectid_base + (uint64_t)w->pos,
                       w->out);
        w->pos++;
    }
    return 0;
}

static enum MHD_Result send_buf(struct sserver *srv, struct MHD_Connection *conn, struct buf *body,
                                const struct fault *f, bool faulted, const char *type,
                                const char *etag, const char *modified)
{
    struct MHD_Response *r = data_response(srv, body, f, faulted);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (etag) {
        MHD_add_response_header(r, "ETag", etag);
        MHD_add_response_header(r, "Last-Modified", modified);
    }
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve_arcgis(struct sserver *srv, struct MHD_Connection *conn, int c,
                                    bool query, const struct fault *f, bool faulted)
{
    const struct gen_city *g = store_gen(srv->cities[c]);
    struct layer_state *ls = &srv->layers[c];
    struct buf body = {0};
    const char *fmt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "f");
    if (faulted && f->kind == F_ENVELOPE) {
        buf_printf(&body,
                   "{\"error\":{\"code\":%ld,\"message\":\"Unable to complete operation.\","
                   "\"details\":[]}}",
                   f->code);
    } else if (!fmt || strcmp(fmt, "json") != 0) {
        buf_puts(&body, "{\"error\":{\"code\":400,\"message\":\"Invalid or missing input "
                        "parameters.\",\"details\":[\"this server serves f=json only\"]}}");
    } else if (!query) {
        struct store_stats st;
        store_stats(srv->cities[c], &st);
        int64_t edit = st.last_change_ms ? st.last_change_ms : gen_anchor_ms(now_ms());
        if (ls->republished_ms > edit) {
            edit = ls->republished_ms;
        }
        layers_arcgis_info(g, ls->max_records, edit, &body);
    } else {
        const char *where = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "where");
        const char *only =
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "returnCountOnly");
        const char *off = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "resultOffset");
        const char *cnt =
            MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "resultRecordCount");
        struct layer_walk w = {.srv = srv, .c = c, .g = g, .out = &body};
        w.offset = off ? atoll(off) : 0;
        w.count = cnt ? atoll(cnt) : ls->max_records;
        if (w.count <= 0 || w.count > ls->max_records) {
            w.count = ls->max_records; /* silently capped, as ArcGIS does */
        }
        if (!where || strcmp(where, "1=1") != 0) {
            buf_puts(&body, "{\"error\":{\"code\":400,\"message\":\"Unable to complete "
                            "operation.\",\"details\":[\"this server knows where=1=1 only\"]}}");
        } else if (only && strcmp(only, "true") == 0) {
            w.counting = true;
            store_each(srv->cities[c], on_layer_row, &w);
            buf_printf(&body, "{\"count\":%lld}", (long long)w.pos);
        } else {
            buf_puts(&body, "{\"objectIdFieldName\":\"OBJECTID\",\"geometryType\":"
                            "\"esriGeometryPoint\",\"spatialReference\":{\"wkid\":4326},");
            layers_arcgis_fields(g, &body);
            buf_puts(&body, ",\"features\":[");
            store_each(srv->cities[c], on_layer_row, &w);
            buf_printf(&body, "],\"exceededTransferLimit\":%s}", w.more ? "true" : "false");
        }
        gen_row_free(&w.row);
    }
    enum MHD_Result ret = body.oom ? MHD_NO
                                   : send_buf(srv, conn, &body, f, faulted,
                                              "application/json; charset=utf-8", NULL, NULL);
    buf_free(&body);
    return ret;
}

/* The year file's cache entry, rendered again when the content changed. Under ls->lock. */
static struct file_cache *csv_file(struct sserver *srv, int c, int year)
{
    struct layer_state *ls = &srv->layers[c];
    struct file_cache *fc = NULL;
    for (size_t i = 0; i < ls->n_files; i++) {
        if (ls->files[i].year == year) {
            fc = &ls->files[i];
        }
    }
    if (!fc) {
        if (ls->n_files == sizeof(ls->files) / sizeof(ls->files[0])) {
            return NULL;
        }
        fc = &ls->files[ls->n_files++];
        memset(fc, 0, sizeof(*fc));
        fc->year = year;
    }
    uint64_t version = content_version(srv, c);
    if (fc->body.p && fc->version == version && fc->rewrites == ls->rewrites) {
        return fc;
    }
    const struct gen_city *g = store_gen(srv->cities[c]);
    buf_reset(&fc->body);
    layers_csv_header(g, ls->header_upper, &fc->body);
    struct layer_walk w = {.srv = srv, .c = c, .g = g, .out = &fc->body, .year = year};
    store_each(srv->cities[c], on_csv_row, &w);
    gen_row_free(&w.row);
    uint64_t h = hash_buf(fc->body.p, fc->body.len);
    int64_t now_s = now_ms() / 1000;
    if (h != fc->hash || fc->rewrites != ls->rewrites || !fc->modified_s) {
        /* new bytes, or the publisher rewrote the file: new validators */
        fc->modified_s = now_s > fc->modified_s ? now_s : fc->modified_s + 1;
        fc->hash = h;
        fc->rewrites = ls->rewrites;
    }
    fc->version = version;
    return fc;
}

static enum MHD_Result serve_csv(struct sserver *srv, struct MHD_Connection *conn, int c, int year,
                                 const struct fault *f, bool faulted)
{
    struct layer_state *ls = &srv->layers[c];
    char etag[64], modified[64];
    struct buf body = {0};
    pthread_mutex_lock(&ls->lock);
    struct file_cache *fc = csv_file(srv, c, year);
    if (!fc) {
        pthread_mutex_unlock(&ls->lock);
        return send_error(conn, 500, "internal.error", "too many files", NULL, NULL);
    }
    snprintf(etag, sizeof(etag), "\"%016llx-%u\"", (unsigned long long)fc->hash, fc->rewrites);
    http_date(fc->modified_s * 1000, modified, sizeof(modified));
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    const char *ims = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-Modified-Since");
    bool fresh = inm ? strcmp(inm, etag) == 0 : ims && strcmp(ims, modified) == 0;
    if (!fresh) {
        buf_put(&body, fc->body.p, fc->body.len);
    }
    pthread_mutex_unlock(&ls->lock);
    if (fresh) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "ETag", etag);
        MHD_add_response_header(r, "Last-Modified", modified);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NOT_MODIFIED, r);
        MHD_destroy_response(r);
        return ret;
    }
    enum MHD_Result ret = body.oom ? MHD_NO
                                   : send_buf(srv, conn, &body, f, faulted,
                                              "text/csv; charset=utf-8", etag, modified);
    buf_free(&body);
    return ret;
}

/* A URL of a city's layer or files: the city, and for a file its year (else 0; query says
 * whether it is the layer's /query). -1 when no city serves url. */
static int layer_of(const struct sserver *srv, const char *url, int *year, bool *query)
{
    for (size_t c = 0; c < srv->n_cities; c++) {
        const struct city *city = gen_city_file(store_gen(srv->cities[c]));
        const char *path = city->source.path;
        if (!path) {
            continue;
        }
        size_t pl = strlen(path);
        if (strcmp(city->source.kind, "arcgis") == 0 && strncmp(url, path, pl) == 0 &&
            (url[pl] == 0 || strcmp(url + pl, "/query") == 0)) {
            *query = url[pl] != 0;
            *year = 0;
            return (int)c;
        }
        const char *at = strstr(path, "{year}");
        if (strcmp(city->source.kind, "csv") == 0 && at &&
            strncmp(url, path, (size_t)(at - path)) == 0) {
            const char *y = url + (at - path);
            char *end;
            long v = strtol(y, &end, 10);
            if (end == y + 4 && strcmp(end, at + 6) == 0) {
                *year = (int)v;
                *query = false;
                return (int)c;
            }
        }
    }
    return -1;
}

static enum MHD_Result serve_layer(struct sserver *srv, struct MHD_Connection *conn, int c,
                                   int year, bool query)
{
    atomic_fetch_add(&srv->requests, 1);
    atomic_fetch_add(&srv->city_requests[c], 1);
    struct fault f = {0};
    bool faulted = take_fault(srv, c, &f);
    enum MHD_Result ret;
    if (faulted) {
        log_info("fault.applied", "city=%s kind=%s", gen_city_file(store_gen(srv->cities[c]))->name,
                 fault_names[f.kind]);
        if (answer_fault(srv, conn, &f, &ret)) {
            return ret;
        }
    }
    return year ? serve_csv(srv, conn, c, year, &f, faulted)
                : serve_arcgis(srv, conn, c, query, &f, faulted);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    struct sserver *srv = cls;
    static int marker;
    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* request bodies are ignored */
        return MHD_YES;
    }
    if (strncmp(url, "/_admin/", 8) == 0) {
        return serve_admin(srv, conn, url, method);
    }
    if (strncmp(url, "/resource/", 10) == 0) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            return send_error(conn, 405, "method.not-allowed", "Use GET", NULL, NULL);
        }
        return serve_data(srv, conn, url);
    }
    int year = 0;
    bool query = false;
    int c = layer_of(srv, url, &year, &query);
    if (c >= 0 && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
        return serve_layer(srv, conn, c, year, query);
    }
    return send_error(conn, 404, "not.found", "Not found", "path", url);
}

/* ---- Live changes ---- */

static void *live_main(void *arg)
{
    struct sserver *srv = arg;
    int64_t t0 = mono_ms();
    uint64_t done = 0, seq = 0;
    while (!atomic_load(&srv->stop)) {
        nap_ms(srv, 50);
        uint64_t due = (uint64_t)(mono_ms() - t0) * srv->live_rate / 1000;
        uint64_t n = due - done;
        done = due;
        for (size_t c = 0; c < srv->n_cities && n; c++) {
            if (gen_city_file(store_gen(srv->cities[c]))->frozen) {
                continue; /* a frozen dataset (Los Angeles) no longer changes */
            }
            uint64_t appends = 0, updates = 0;
            for (uint64_t j = 0; j < n; j++) {
                /* 70% new rows, 30% updates, in a fixed pattern */
                ((seq++ * 7919 + c) % 10 < 7) ? appends++ : updates++;
            }
            int64_t now = now_ms();
            store_append(srv->cities[c], appends, now);
            store_update(srv->cities[c], updates, now);
        }
    }
    return NULL;
}

/* ---- Start / stop ---- */

struct sserver *sserver_start(const char *listen, struct store_city **cities, size_t n,
                              unsigned live_rate, char *errstr, size_t errstr_size)
{
    struct sserver *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        for (size_t c = 0; c < n; c++) {
            store_city_destroy(cities[c]);
        }
        free(cities);
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    srv->cities = cities;
    srv->n_cities = n;
    srv->live_rate = live_rate;
    srv->started_ms = now_ms();
    pthread_mutex_init(&srv->fault_lock, NULL);
    srv->city_requests = calloc(n ? n : 1, sizeof(*srv->city_requests));
    srv->layers = calloc(n ? n : 1, sizeof(*srv->layers));
    for (size_t c = 0; srv->layers && c < n; c++) {
        pthread_mutex_init(&srv->layers[c].lock, NULL);
        srv->layers[c].max_records = 2000;
        srv->layers[c].objectid_base = 1;
    }
    if (!srv->city_requests || !srv->layers) {
        err_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    char host[256];
    int port;
    if (httpd_parse_listen(listen, host, sizeof(host), &port) != 0) {
        err_set(errstr, errstr_size, "listen: expected host:port, got %s", listen);
        goto fail;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    if (host[0] == '\0') {
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        err_set(errstr, errstr_size, "listen: %s is not an IPv4 address", host);
        goto fail;
    }
    srv->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!srv->mhd) {
        err_set(errstr, errstr_size, "cannot listen on %s", listen);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : port;
    if (live_rate > 0) {
        if (pthread_create(&srv->live, NULL, live_main, srv) != 0) {
            err_set(errstr, errstr_size, "cannot start the live thread");
            goto fail;
        }
        srv->live_started = true;
    }
    return srv;
fail:
    sserver_stop(srv);
    return NULL;
}

int sserver_port(const struct sserver *srv)
{
    return srv->port;
}

void sserver_stop(struct sserver *srv)
{
    if (!srv) {
        return;
    }
    atomic_store(&srv->stop, true);
    if (srv->live_started) {
        pthread_join(srv->live, NULL);
    }
    if (srv->mhd) {
        MHD_stop_daemon(srv->mhd);
    }
    for (size_t c = 0; c < srv->n_cities; c++) {
        store_city_destroy(srv->cities[c]);
    }
    free(srv->cities);
    free(srv->city_requests);
    for (size_t c = 0; srv->layers && c < srv->n_cities; c++) {
        for (size_t i = 0; i < srv->layers[c].n_files; i++) {
            buf_free(&srv->layers[c].files[i].body);
        }
        pthread_mutex_destroy(&srv->layers[c].lock);
    }
    free(srv->layers);
    free(srv->faults);
    pthread_mutex_destroy(&srv->fault_lock);
    free(srv);
}
