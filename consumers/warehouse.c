#define _GNU_SOURCE
#include "consumers/warehouse.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "consumers/migrate.h"
#include "common/timeutil.h"

/* ---- Version order and batch dedup ---- */

int warehouse_version_cmp(int64_t updated_a, uint64_t hash_a, int64_t updated_b, uint64_t hash_b)
{
    if (updated_a != updated_b) {
        return updated_a < updated_b ? -1 : 1;
    }
    /* PostgreSQL stores the hash as a signed bigint; order it the same way here. */
    int64_t a = (int64_t)hash_a, b = (int64_t)hash_b;
    return a < b ? -1 : a > b ? 1 : 0;
}

struct newest_ctx {
    const struct incident *const *incs;
    const uint64_t *hashes;
};

static int key_cmp(const struct incident *a, const struct incident *b)
{
    int c = strcmp(a->city, b->city);
    return c ? c : strcmp(a->incident_id, b->incident_id);
}

/* qsort has no context argument in C11; a batch is sorted by one thread at a time. */
static _Thread_local struct newest_ctx sort_ctx;

static int newest_order(const void *pa, const void *pb)
{
    size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
    const struct incident *a = sort_ctx.incs[ia], *b = sort_ctx.incs[ib];
    int c = key_cmp(a, b);
    if (c) {
        return c;
    }
    /* Newest first within a key; the input position keeps the sort deterministic. */
    c = -warehouse_version_cmp(a->source_updated_at, sort_ctx.hashes[ia], b->source_updated_at,
                               sort_ctx.hashes[ib]);
    return c ? c : (ia < ib ? -1 : ia > ib ? 1 : 0);
}

size_t warehouse_newest(const struct incident *const *incs, const uint64_t *hashes, size_t n,
                        size_t *keep)
{
    for (size_t i = 0; i < n; i++) {
        keep[i] = i;
    }
    sort_ctx.incs = incs;
    sort_ctx.hashes = hashes;
    qsort(keep, n, sizeof(*keep), newest_order);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && key_cmp(incs[keep[kept - 1]], incs[keep[i]]) == 0) {
            continue; /* an older (or equal) version of the key just kept */
        }
        keep[kept++] = keep[i];
    }
    return kept;
}

/* ---- Validation and COPY encoding ---- */

#define US_YEAR_1   (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define US_YEAR_10K (253402300800000000LL) /* 10000-01-01T00:00:00Z */

static bool ts_ok(int64_t us)
{
    return us != TS_NULL && us >= US_YEAR_1 && us < US_YEAR_10K;
}

enum err_class warehouse_check_incident(const struct incident *inc, char *errstr,
                                        size_t errstr_size)
{
    const struct {
        const char *name;
        const char *value;
        bool required;
    } strs[] = {
        {"city", inc->city, true},
        {"incident_id", inc->incident_id, true},
        {"report_id", inc->report_id, false},
        {"offense_code", inc->offense_code, false},
        {"offense", inc->offense, false},
        {"category", inc->category, true},
        {"crime_against", inc->crime_against, true},
        {"area", inc->area, false},
        {"beat", inc->beat, false},
        {"address", inc->address, false},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (!strs[i].value) {
            if (strs[i].required) {
                err_set(errstr, errstr_size, "%s is missing", strs[i].name);
                return ERR_PERMANENT;
            }
            continue;
        }
        if (strs[i].required && i < 2 && !*strs[i].value) {
            err_set(errstr, errstr_size, "%s is empty", strs[i].name);
            return ERR_PERMANENT;
        }
        if (!utf8_valid_str(strs[i].value)) {
            err_set(errstr, errstr_size, "%s is not valid UTF-8", strs[i].name);
            return ERR_PERMANENT;
        }
    }
    for (size_t i = 0; i < inc->n_attrs; i++) {
        if (!inc->attrs[i].key || !utf8_valid_str(inc->attrs[i].key) ||
            (inc->attrs[i].value && !utf8_valid_str(inc->attrs[i].value))) {
            err_set(errstr, errstr_size, "attribute %zu is not valid UTF-8", i);
            return ERR_PERMANENT;
        }
    }
    if (!ts_ok(inc->occurred_at)) {
        err_set(errstr, errstr_size, "occurred_at is missing or outside years 1..9999");
        return ERR_PERMANENT;
    }
    if (!ts_ok(inc->source_updated_at)) {
        err_set(errstr, errstr_size, "source_updated_at is missing or outside years 1..9999");
        return ERR_PERMANENT;
    }
    if (inc->reported_at != TS_NULL && !ts_ok(inc->reported_at)) {
        err_set(errstr, errstr_size, "reported_at is outside years 1..9999");
        return ERR_PERMANENT;
    }
    if (inc->ingested_at != TS_NULL && !ts_ok(inc->ingested_at)) {
        err_set(errstr, errstr_size, "ingested_at is outside years 1..9999");
        return ERR_PERMANENT;
    }
    return ERR_OK;
}

/* A COPY text field: backslash, tab, newline and carriage return escaped. */
static int put_copy_text(struct buf *b, const char *s)
{
    if (!s) {
        return buf_put(b, "\\N", 2);
    }
    if (buf_reserve(b, strlen(s) * 2) != 0) {
        return -1;
    }
    for (const char *p = s; *p; p++) {
        char esc = 0;
        switch (*p) {
        case '\\':
            esc = '\\';
            break;
        case '\t':
            esc = 't';
            break;
        case '\n':
            esc = 'n';
            break;
        case '\r':
            esc = 'r';
            break;
        default:
            break;
        }
        if (esc) {
            b->p[b->len++] = '\\';
            b->p[b->len++] = esc;
        } else {
            b->p[b->len++] = *p;
        }
    }
    b->p[b->len] = '\0';
    return 0;
}

void warehouse_format_ts(int64_t us, char *buf, size_t n)
{
    struct civil_time ct;
    us_to_civil(us, &ct);
    snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", ct.year, ct.month, ct.day, ct.hour,
             ct.minute, ct.second, ct.micros);
}

static int put_ts(struct buf *b, int64_t us)
{
    char ts[48];
    if (us == TS_NULL) {
        return buf_put(b, "\\N", 2);
    }
    warehouse_format_ts(us, ts, sizeof(ts));
    return buf_puts(b, ts);
}

static int put_tri(struct buf *b, int8_t v)
{
    return buf_puts(b, v == TRI_NULL ? "\\N" : v ? "t" : "f");
}

static int put_double(struct buf *b, bool has, double v)
{
    char num[40];
    if (!has || !isfinite(v)) {
        return buf_put(b, "\\N", 2);
    }
    snprintf(num, sizeof(num), "%.17g", v);
    return buf_puts(b, num);
}

/* The attributes as a JSON object of strings (null values as JSON null). */
static int attrs_json(struct buf *j, const struct incident *inc)
{
    j->len = 0;
    if (buf_put(j, "{", 1) != 0) {
        return -1;
    }
    for (size_t i = 0; i < inc->n_attrs; i++) {
        if ((i && buf_put(j, ",", 1) != 0) ||
            buf_put_json_string(j, inc->attrs[i].key, strlen(inc->attrs[i].key)) != 0 ||
            buf_put(j, ":", 1) != 0 ||
            (inc->attrs[i].value
                 ? buf_put_json_string(j, inc->attrs[i].value, strlen(inc->attrs[i].value))
                 : buf_puts(j, "null")) != 0) {
            return -1;
        }
    }
    return buf_put(j, "}", 1);
}

int warehouse_copy_row(struct buf *b, int seq, const struct incident *inc, uint64_t hash,
                       int64_t ingested_default)
{
    char num[32];
    struct buf json = {0};
    int rc = -1;
    const char *const texts1[] = {inc->city, inc->incident_id, inc->report_id};
    const char *const texts2[] = {inc->offense_code,  inc->offense, inc->category,
                                  inc->crime_against, inc->area,    inc->beat,
                                  inc->address};

    snprintf(num, sizeof(num), "%d", seq);
    if (buf_puts(b, num) != 0) {
        goto done;
    }
    for (size_t i = 0; i < 3; i++) {
        if (buf_put(b, "\t", 1) != 0 || put_copy_text(b, texts1[i]) != 0) {
            goto done;
        }
    }
    if (buf_put(b, "\t", 1) || put_ts(b, inc->occurred_at) || buf_put(b, "\t", 1) ||
        put_ts(b, inc->reported_at) || buf_put(b, "\t", 1) || put_ts(b, inc->source_updated_at)) {
        goto done;
    }
    for (size_t i = 0; i < 7; i++) {
        if (buf_put(b, "\t", 1) != 0 || put_copy_text(b, texts2[i]) != 0) {
            goto done;
        }
    }
    if (buf_put(b, "\t", 1) || put_double(b, inc->has_coords, inc->latitude) ||
        buf_put(b, "\t", 1) || put_double(b, inc->has_coords, inc->longitude) ||
        buf_put(b, "\t", 1) || put_tri(b, inc->arrest) || buf_put(b, "\t", 1) ||
        put_tri(b, inc->domestic) || buf_put(b, "\t", 1) || attrs_json(&json, inc) ||
        put_copy_text(b, json.p) || buf_put(b, "\t", 1) ||
        put_ts(b, inc->ingested_at != TS_NULL ? inc->ingested_at : ingested_default)) {
        goto done;
    }
    snprintf(num, sizeof(num), "\t%lld\n", (long long)(int64_t)hash);
    rc = buf_puts(b, num);
done:
    buf_free(&json);
    return rc;
}

/* ---- The writer ---- */

#define STAGE_COLUMNS                                                                              \
    "seq, city, incident_id, report_id, occurred_at, reported_at, source_updated_at, "             \
    "offense_code, offense, category, crime_against, area, beat, address, latitude, longitude, "   \
    "arrest, domestic, attributes, ingested_at, version_hash"

struct warehouse {
    char *dsn;
    PGconn *pg;
    bool migrated;
    char id[64];
    int *months; /* sorted year*12+month-1 of partitions known to exist */
    size_t n_months, cap_months;
    struct buf copy;
};

struct warehouse *warehouse_new(const char *dsn)
{
    struct warehouse *wh = calloc(1, sizeof(*wh));
    if (!wh) {
        return NULL;
    }
    wh->dsn = strdup(dsn);
    if (!wh->dsn) {
        free(wh);
        return NULL;
    }
    return wh;
}

static void disconnect(struct warehouse *wh)
{
    if (wh->pg) {
        PQfinish(wh->pg);
        wh->pg = NULL;
    }
}

void warehouse_destroy(struct warehouse *wh)
{
    if (!wh) {
        return;
    }
    disconnect(wh);
    buf_free(&wh->copy);
    free(wh->months);
    free(wh->dsn);
    free(wh);
}

bool warehouse_connected(const struct warehouse *wh)
{
    return wh->pg && PQstatus(wh->pg) == CONNECTION_OK;
}

const char *warehouse_id(const struct warehouse *wh)
{
    return wh->id;
}

/* Classify a failed result, fill errstr, and drop the connection when it is transient. */
static enum err_class fail(struct warehouse *wh, PGresult *res, const char *what, char *errstr,
                           size_t errstr_size)
{
    enum err_class cls = pg_err_class(wh->pg, res);
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg) {
        msg = PQerrorMessage(wh->pg);
    }
    err_set(errstr, errstr_size, "%s: %s", what, msg);
    /* Strip the trailing newline libpq puts on its messages. */
    size_t len = errstr ? strlen(errstr) : 0;
    while (len && (errstr[len - 1] == '\n' || errstr[len - 1] == ' ')) {
        errstr[--len] = '\0';
    }
    PQclear(res);
    if (cls == ERR_TRANSIENT) {
        disconnect(wh);
    }
    return cls;
}

/* A statement with no parameters and no result of interest. */
static enum err_class exec_simple(struct warehouse *wh, const char *sql, char *errstr, size_t n)
{
    PGresult *res = PQexec(wh->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        return fail(wh, res, sql, errstr, n);
    }
    PQclear(res);
    return ERR_OK;
}

static enum err_class prepare(struct warehouse *wh, const char *name, const char *sql, int nparams,
                              char *errstr, size_t n)
{
    PGresult *res = PQprepare(wh->pg, name, sql, nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return fail(wh, res, name, errstr, n);
    }
    PQclear(res);
    return ERR_OK;
}

enum err_class warehouse_connect(struct warehouse *wh, char *errstr, size_t errstr_size)
{
    enum err_class cls;
    if (warehouse_connected(wh)) {
        return ERR_OK;
    }
    disconnect(wh);
    /* Later entries win: the DSN may override the defaults put before it. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"10", "blotter-consumer", wh->dsn, NULL};
    wh->pg = PQconnectdbParams(keys, vals, 1);
    if (!wh->pg || PQstatus(wh->pg) != CONNECTION_OK) {
        err_set(errstr, errstr_size, "connect: %s",
                wh->pg ? PQerrorMessage(wh->pg) : "out of memory");
        disconnect(wh);
        return ERR_TRANSIENT;
    }
    if (!wh->migrated) {
        cls = migrate_apply(wh->pg, NULL, errstr, errstr_size);
        if (cls) {
            disconnect(wh);
            return cls;
        }
        wh->migrated = true;
    }
    if ((cls = exec_simple(wh, "SET client_min_messages = warning", errstr, errstr_size)) ||
        (cls = exec_simple(wh, "SELECT blotter.writer_session()", errstr, errstr_size)) ||
        (cls = prepare(wh, "apply",
                       "SELECT r_seq, r_status, r_version_hash FROM "
                       "blotter.apply_staged()",
                       0, errstr, errstr_size)) ||
        (cls = prepare(wh, "ensure_months",
                       "SELECT count(blotter.ensure_partition(m)) FROM "
                       "unnest($1::timestamptz[]) AS m",
                       1, errstr, errstr_size)) ||
        (cls = prepare(wh, "default_rows",
                       "SELECT count(*) FROM (SELECT 1 FROM blotter.incidents_default LIMIT "
                       "100000) t",
                       0, errstr, errstr_size)) ||
        (cls = prepare(wh, "drain", "SELECT blotter.drain_default_partition()", 0, errstr,
                       errstr_size)) ||
        (cls = prepare(wh, "warehouse_id", "SELECT id FROM blotter.warehouse", 0, errstr,
                       errstr_size))) {
        disconnect(wh);
        return cls;
    }
    PGresult *res = PQexecPrepared(wh->pg, "warehouse_id", 0, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cls = fail(wh, res, "warehouse id", errstr, errstr_size);
        disconnect(wh);
        return cls ? cls : ERR_FATAL;
    }
    snprintf(wh->id, sizeof(wh->id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return ERR_OK;
}

/* ---- Month partitions ---- */

static int month_of(int64_t us)
{
    struct civil_time ct;
    us_to_civil(us, &ct);
    return ct.year * 12 + ct.month - 1;
}

static bool month_known(const struct warehouse *wh, int m)
{
    size_t lo = 0, hi = wh->n_months;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wh->months[mid] == m) {
            return true;
        }
        if (wh->months[mid] < m) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static int remember_months(struct warehouse *wh, const int *ms, size_t n)
{
    if (wh->n_months + n > wh->cap_months) {
        size_t cap = (wh->n_months + n) * 2;
        int *p = realloc(wh->months, cap * sizeof(*p));
        if (!p) {
            return -1;
        }
        wh->months = p;
        wh->cap_months = cap;
    }
    memcpy(wh->months + wh->n_months, ms, n * sizeof(*ms));
    wh->n_months += n;
    qsort(wh->months, wh->n_months, sizeof(*wh->months), int_cmp);
    return 0;
}

/* Create the partitions of the batch's months not known to exist (autocommit: its own short
 * transaction, before the batch's). */
static enum err_class ensure_months(struct warehouse *wh, const struct incident *const *incs,
                                    size_t n, char *errstr, size_t errstr_size)
{
    int *missing = malloc((n ? n : 1) * sizeof(*missing));
    size_t n_missing = 0;
    enum err_class cls = ERR_OK;
    struct buf arr = {0};

    if (!missing) {
        err_set(errstr, errstr_size, "out of memory");
        return ERR_FATAL;
    }
    for (size_t i = 0; i < n; i++) {
        int m = month_of(incs[i]->occurred_at);
        bool dup = month_known(wh, m);
        for (size_t j = 0; j < n_missing && !dup; j++) {
            dup = missing[j] == m;
        }
        if (!dup) {
            missing[n_missing++] = m;
        }
    }
    if (n_missing == 0) {
        goto done;
    }
    /* A timestamptz[] literal of the months' first instants: numbers we format, no input. */
    buf_puts(&arr, "{");
    for (size_t i = 0; i < n_missing; i++) {
        char ts[48];
        struct civil_time ct = {missing[i] / 12, missing[i] % 12 + 1, 1, 0, 0, 0, 0};
        warehouse_format_ts(civil_to_us(&ct), ts, sizeof(ts));
        buf_puts(&arr, i ? ",\"" : "\"");
        buf_puts(&arr, ts);
        buf_puts(&arr, "\"");
    }
    if (buf_puts(&arr, "}") != 0) {
        err_set(errstr, errstr_size, "out of memory");
        cls = ERR_FATAL;
        goto done;
    }
    const char *params[1] = {arr.p};
    PGresult *res = PQexecPrepared(wh->pg, "ensure_months", 1, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cls = fail(wh, res, "ensure partitions", errstr, errstr_size);
        goto done;
    }
    PQclear(res);
    if (remember_months(wh, missing, n_missing) != 0) {
        err_set(errstr, errstr_size, "out of memory");
        cls = ERR_FATAL;
    }
done:
    buf_free(&arr);
    free(missing);
    return cls;
}

/* ---- The batch transaction ---- */

static enum err_class copy_batch(struct warehouse *wh, const struct incident *const *incs,
                                 const uint64_t *hashes, size_t n, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(wh->pg, "COPY blotter_stage (" STAGE_COLUMNS ") FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        return fail(wh, res, "COPY", errstr, errstr_size);
    }
    PQclear(res);
    int64_t now = now_us();
    wh->copy.len = 0;
    for (size_t i = 0; i < n; i++) {
        if (warehouse_copy_row(&wh->copy, (int)i, incs[i], hashes[i], now) != 0) {
            PQputCopyEnd(wh->pg, "out of memory");
            PQclear(PQgetResult(wh->pg));
            err_set(errstr, errstr_size, "out of memory");
            return ERR_FATAL;
        }
        /* Send in chunks of ~1 MiB. */
        if (wh->copy.len >= (1u << 20) || i + 1 == n) {
            if (PQputCopyData(wh->pg, wh->copy.p, (int)wh->copy.len) != 1) {
                return fail(wh, NULL, "COPY data", errstr, errstr_size);
            }
            wh->copy.len = 0;
        }
    }
    if (PQputCopyEnd(wh->pg, NULL) != 1) {
        return fail(wh, NULL, "COPY end", errstr, errstr_size);
    }
    res = PQgetResult(wh->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return fail(wh, res, "COPY", errstr, errstr_size);
    }
    PQclear(res);
    /* Drain to the end of the command (libpq returns NULL after the last result). */
    while ((res = PQgetResult(wh->pg)) != NULL) {
        PQclear(res);
    }
    return ERR_OK;
}

static enum err_class apply(struct warehouse *wh, size_t n, struct warehouse_outcome *out,
                            struct warehouse_counts *counts, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexecPrepared(wh->pg, "apply", 0, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail(wh, res, "apply_staged", errstr, errstr_size);
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long seq = strtol(PQgetvalue(res, r, 0), NULL, 10);
        char status = PQgetvalue(res, r, 1)[0];
        uint64_t stored = (uint64_t)strtoll(PQgetvalue(res, r, 2), NULL, 10);
        if (seq < 0 || (size_t)seq >= n) {
            continue;
        }
        out[seq].status = status;
        out[seq].stored_hash = stored;
        counts->inserted += status == WH_INSERTED;
        counts->updated += status == WH_UPDATED;
        counts->unchanged += status == WH_UNCHANGED;
    }
    PQclear(res);
    return ERR_OK;
}

enum err_class warehouse_upsert_batch(struct warehouse *wh, const struct incident *const *incs,
                                      const uint64_t *hashes, size_t n,
                                      struct warehouse_outcome *out,
                                      struct warehouse_counts *counts, char *errstr,
                                      size_t errstr_size)
{
    enum err_class cls;
    memset(counts, 0, sizeof(*counts));
    memset(out, 0, n * sizeof(*out));
    if (n == 0) {
        return ERR_OK;
    }
    if ((cls = warehouse_connect(wh, errstr, errstr_size)) ||
        (cls = ensure_months(wh, incs, n, errstr, errstr_size)) ||
        (cls = exec_simple(wh, "BEGIN", errstr, errstr_size))) {
        return cls;
    }
    if ((cls = copy_batch(wh, incs, hashes, n, errstr, errstr_size)) ||
        (cls = apply(wh, n, out, counts, errstr, errstr_size)) ||
        (cls = exec_simple(wh, "COMMIT", errstr, errstr_size))) {
        if (wh->pg) {
            char ignored[128];
            exec_simple(wh, "ROLLBACK", ignored, sizeof(ignored));
        }
        memset(counts, 0, sizeof(*counts));
        memset(out, 0, n * sizeof(*out));
        return cls;
    }
    return ERR_OK;
}

enum err_class warehouse_drain_default(struct warehouse *wh, long long *rows, char *errstr,
                                       size_t errstr_size)
{
    enum err_class cls;
    *rows = 0;
    if ((cls = warehouse_connect(wh, errstr, errstr_size))) {
        return cls;
    }
    PGresult *res = PQexecPrepared(wh->pg, "default_rows", 0, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail(wh, res, "default partition", errstr, errstr_size);
    }
    *rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (*rows == 0) {
        return ERR_OK;
    }
    res = PQexecPrepared(wh->pg, "drain", 0, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail(wh, res, "drain default partition", errstr, errstr_size);
    }
    PQclear(res);
    wh->n_months = 0; /* partitions were created behind the cache's back */
    return ERR_OK;
}
