#define _GNU_SOURCE
#include "consumers/warehouse.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/refused.h"
#include "common/utf8.h"
#include "consumers/migrate.h"
#include "consumers/pg.h"
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

static int key_cmp(const struct incident *a, const struct incident *b)
{
    int c = strcmp(a->city, b->city);
    return c ? c : strcmp(a->incident_id, b->incident_id);
}

/* qsort has no context argument in C11; a batch is sorted by one thread at a time. */
static _Thread_local const struct warehouse_item *sort_items;

static int newest_order(const void *pa, const void *pb)
{
    size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
    const struct warehouse_item *a = &sort_items[ia], *b = &sort_items[ib];
    int c = key_cmp(a->inc, b->inc);
    if (c) {
        return c;
    }
    /* Newest first within a key; the input position keeps the sort deterministic. */
    c = -warehouse_version_cmp(a->inc->source_updated_at, a->hash, b->inc->source_updated_at,
                               b->hash);
    return c ? c : (ia < ib ? -1 : ia > ib ? 1 : 0);
}

size_t warehouse_newest(const struct warehouse_item *items, size_t n, size_t *keep)
{
    for (size_t i = 0; i < n; i++) {
        keep[i] = i;
    }
    sort_items = items;
    qsort(keep, n, sizeof(*keep), newest_order);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && key_cmp(items[keep[kept - 1]].inc, items[keep[i]].inc) == 0) {
            continue; /* an older (or equal) version of the key just kept */
        }
        keep[kept++] = keep[i];
    }
    return kept;
}

/* ---- COPY encoding (binary format) ---- */

/* PostgreSQL's binary COPY: a signature, flags and header-extension length before the rows, -1
 * as the field count after them; each row is a field count and, per field, its length in bytes
 * (-1 for null) and the value in the type's binary form, big-endian. It spares the server the
 * parsing of timestamps and numbers, and the writer the formatting and escaping of text. */
static const unsigned char copy_header[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
                                            0,   0,   0,   0,   0,   0,   0,    0,    0};
static const unsigned char copy_trailer[] = {0xff, 0xff};

/* timestamptz counts microseconds from 2000-01-01 00:00:00 UTC. */
#define PG_EPOCH_US INT64_C(946684800000000)

static void put_be(struct buf *b, uint64_t v, int bytes) /* room reserved by the caller */
{
    for (int i = bytes - 1; i >= 0; i--) {
        b->p[b->len++] = (char)(unsigned char)(v >> (8 * i));
    }
}

/* A field of n bytes: its length, then (reserved) room for the value; -1 on OOM. */
static int put_field_head(struct buf *b, size_t n)
{
    if (n > INT32_MAX || buf_reserve(b, 4 + n) != 0) {
        return -1;
    }
    put_be(b, (uint32_t)n, 4);
    return 0;
}

static int put_null(struct buf *b)
{
    if (buf_reserve(b, 4) != 0) {
        return -1;
    }
    put_be(b, UINT32_MAX, 4);
    return 0;
}

static int put_int(struct buf *b, uint64_t v, int bytes)
{
    if (put_field_head(b, (size_t)bytes) != 0) {
        return -1;
    }
    put_be(b, v, bytes);
    return 0;
}

static int put_text(struct buf *b, const char *s)
{
    if (!s) {
        return put_null(b);
    }
    size_t n = strlen(s);
    if (put_field_head(b, n) != 0) {
        return -1;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static int put_ts(struct buf *b, int64_t us)
{
    /* incident_check keeps times within years 1..9999: no overflow. */
    return us == TS_NULL ? put_null(b) : put_int(b, (uint64_t)(us - PG_EPOCH_US), 8);
}

/* The attributes as a JSON object of strings (null values as JSON null): jsonb's binary input
 * is a version byte (1) and the JSON text. The length is written once the text is. */
static int put_attrs(struct buf *b, const struct incident *inc)
{
    if (buf_reserve(b, 5) != 0) {
        return -1;
    }
    size_t at = b->len;
    b->len += 4;
    b->p[b->len++] = 1;
    int rc = buf_putc(b, '{');
    for (size_t i = 0; i < inc->n_attrs && rc == 0; i++) {
        const struct attr *a = &inc->attrs[i];
        if (i) {
            rc |= buf_putc(b, ',');
        }
        rc |= buf_put_json_string(b, a->key, strlen(a->key));
        rc |= buf_putc(b, ':');
        rc |= a->value ? buf_put_json_string(b, a->value, strlen(a->value)) : buf_puts(b, "null");
    }
    if (rc != 0 || buf_putc(b, '}') != 0 || b->len - at - 4 > INT32_MAX) {
        return -1;
    }
    size_t end = b->len;
    b->len = at;
    put_be(b, (uint32_t)(end - at - 4), 4);
    b->len = end;
    return 0;
}

static int put_column(struct buf *b, const struct incident *inc, const struct incident_field *f,
                      int64_t ingested_default)
{
    switch (f->kind) {
    case I_STR:
        return put_text(b, *INCIDENT_CAT(char *, inc, f));
    case I_TS: {
        int64_t v = *INCIDENT_CAT(int64_t, inc, f);
        return put_ts(b, v == TS_NULL && (f->flags & I_STAMP) ? ingested_default : v);
    }
    case I_COORD: {
        double v = *INCIDENT_CAT(double, inc, f);
        if (!inc->has_coords || !isfinite(v)) {
            return put_null(b);
        }
        uint64_t bits;
        memcpy(&bits, &v, sizeof(bits));
        return put_int(b, bits, 8);
    }
    case I_TRI: {
        int8_t v = *INCIDENT_CAT(int8_t, inc, f);
        return v == TRI_NULL ? put_null(b) : put_int(b, v ? 1 : 0, 1);
    }
    case I_ATTRS:
        return put_attrs(b, inc);
    }
    return -1;
}

int warehouse_copy_header(struct buf *b)
{
    return buf_put(b, copy_header, sizeof(copy_header));
}

int warehouse_copy_trailer(struct buf *b)
{
    return buf_put(b, copy_trailer, sizeof(copy_trailer));
}

int warehouse_copy_row(struct buf *b, int seq, const struct incident *inc, uint64_t hash,
                       int64_t ingested_default)
{
    if (buf_reserve(b, 2) != 0) {
        return -1;
    }
    put_be(b, 2 + INCIDENT_N_FIELDS, 2);
    if (put_int(b, (uint32_t)seq, 4) != 0) {
        return -1;
    }
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        if (put_column(b, inc, &incident_fields[i], ingested_default) != 0) {
            return -1;
        }
    }
    return put_int(b, hash, 8);
}

void warehouse_format_ts(int64_t us, char *buf, size_t n)
{
    struct civil_time ct;
    us_to_civil(us, &ct);
    snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", ct.year, ct.month, ct.day, ct.hour,
             ct.minute, ct.second, ct.micros);
}

/* ---- The writer ---- */

/* The staging table's columns: seq, the record's (common/incident_fields.h), version_hash. */
#define STAGE_COLUMNS "seq, " INCIDENT_COLUMN_LIST "version_hash"

struct warehouse {
    char *dsn;
    char *owner_dsn; /* the migrations' owner, or NULL: dsn applies them */
    PGconn *pg;
    bool migrated;
    char id[64];
    int *months; /* sorted year*12+month-1 of partitions known to exist */
    size_t n_months, cap_months;
    struct buf copy;
    bool (*fence)(void *arg); /* asked right before COMMIT; NULL: always commit */
    void *fence_arg;
};

void warehouse_set_fence(struct warehouse *wh, bool (*fence)(void *arg), void *arg)
{
    wh->fence = fence;
    wh->fence_arg = arg;
}

static enum err_class check_fence(struct warehouse *wh, char *errstr, size_t errstr_size)
{
    if (wh->fence && !wh->fence(wh->fence_arg)) {
        err_set(errstr, errstr_size, "fenced: the batch's partitions may no longer be ours");
        return ERR_TRANSIENT;
    }
    return ERR_OK;
}

struct warehouse *warehouse_new(const char *dsn, const char *owner_dsn)
{
    struct warehouse *wh = calloc(1, sizeof(*wh));
    if (!wh) {
        return NULL;
    }
    wh->dsn = strdup(dsn);
    wh->owner_dsn = owner_dsn && *owner_dsn ? strdup(owner_dsn) : NULL;
    if (!wh->dsn || (owner_dsn && *owner_dsn && !wh->owner_dsn)) {
        free(wh->owner_dsn);
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
    free(wh->owner_dsn);
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

/* A failed result: classified and described (consumers/pg.c); a transient failure drops the
 * connection, so that the next call reconnects. */
static enum err_class fail(struct warehouse *wh, PGresult *res, const char *what, char *errstr,
                           size_t errstr_size)
{
    enum err_class cls = pg_fail(wh->pg, res, what, errstr, errstr_size);
    if (cls == ERR_TRANSIENT) {
        disconnect(wh);
    }
    return cls;
}

/* A statement with no parameters and no result of interest. */
static enum err_class exec_simple(struct warehouse *wh, const char *sql, char *errstr, size_t n)
{
    enum err_class cls = pg_exec(wh->pg, sql, errstr, n);
    if (cls == ERR_TRANSIENT) {
        disconnect(wh);
    }
    return cls;
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

static PGconn *connect_dsn(const char *dsn)
{
    /* Later entries win: the DSN may override the defaults put before it. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"10", "blotter-consumer", dsn, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* The migrations, on the writer's connection or (owner_dsn) on one of the owner's own. */
static enum err_class migrate_as_owner(struct warehouse *wh, char *errstr, size_t errstr_size)
{
    if (!wh->owner_dsn) {
        return migrate_apply(wh->pg, NULL, errstr, errstr_size);
    }
    PGconn *owner = connect_dsn(wh->owner_dsn);
    enum err_class cls;
    if (!owner || PQstatus(owner) != CONNECTION_OK) {
        err_set(errstr, errstr_size, "connect (owner_pg_dsn): %s",
                owner ? PQerrorMessage(owner) : "out of memory");
        cls = ERR_TRANSIENT;
    } else {
        cls = migrate_apply(owner, NULL, errstr, errstr_size);
    }
    PQfinish(owner);
    return cls;
}

enum err_class warehouse_connect(struct warehouse *wh, char *errstr, size_t errstr_size)
{
    enum err_class cls;
    if (warehouse_connected(wh)) {
        return ERR_OK;
    }
    disconnect(wh);
    wh->pg = connect_dsn(wh->dsn);
    if (!wh->pg || PQstatus(wh->pg) != CONNECTION_OK) {
        err_set(errstr, errstr_size, "connect: %s",
                wh->pg ? PQerrorMessage(wh->pg) : "out of memory");
        /* Refused (password, pg_hba.conf, TLS) is not worth retrying; unreachable is. */
        cls = pg_conn_refused(wh->pg) ? ERR_FATAL : ERR_TRANSIENT;
        disconnect(wh);
        return cls;
    }
    if (!wh->migrated) {
        cls = migrate_as_owner(wh, errstr, errstr_size);
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
static enum err_class ensure_months(struct warehouse *wh, const struct warehouse_item *items,
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
        int m = month_of(items[i].inc->occurred_at);
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
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && (strcmp(state, "42P07") == 0 || strcmp(state, "23505") == 0)) {
            /* Another replica created the same month at the same moment (duplicate_table, or
             * the unique index of pg_type): it exists now; the retry finds it. */
            err_set(errstr, errstr_size, "ensure partitions: created concurrently (%s)", state);
            PQclear(res);
            cls = ERR_TRANSIENT;
            goto done;
        }
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

static enum err_class copy_batch(struct warehouse *wh, const struct warehouse_item *items, size_t n,
                                 char *errstr, size_t errstr_size)
{
    PGresult *res =
        PQexec(wh->pg, "COPY blotter_stage (" STAGE_COLUMNS ") FROM STDIN (FORMAT binary)");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        return fail(wh, res, "COPY", errstr, errstr_size);
    }
    PQclear(res);
    int64_t now = now_us();
    wh->copy.len = 0;
    for (size_t i = 0; i < n; i++) {
        if ((i == 0 && warehouse_copy_header(&wh->copy) != 0) ||
            warehouse_copy_row(&wh->copy, (int)i, items[i].inc, items[i].hash, now) != 0 ||
            (i + 1 == n && warehouse_copy_trailer(&wh->copy) != 0)) {
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

static enum err_class apply(struct warehouse *wh, struct warehouse_item *items, size_t n,
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
        items[seq].outcome.status = status;
        items[seq].outcome.stored_hash = stored;
        counts->inserted += status == WH_INSERTED;
        counts->updated += status == WH_UPDATED;
        counts->unchanged += status == WH_UNCHANGED;
    }
    PQclear(res);
    return ERR_OK;
}

static void clear_outcomes(struct warehouse_item *items, size_t n, struct warehouse_counts *counts)
{
    memset(counts, 0, sizeof(*counts));
    for (size_t i = 0; i < n; i++) {
        memset(&items[i].outcome, 0, sizeof(items[i].outcome));
    }
}

enum err_class warehouse_upsert_batch(struct warehouse *wh, struct warehouse_item *items, size_t n,
                                      struct warehouse_counts *counts, char *errstr,
                                      size_t errstr_size)
{
    enum err_class cls;
    clear_outcomes(items, n, counts);
    for (size_t i = 0; i < n; i++) {
        char why[256];
        if (incident_check(items[i].inc, why, sizeof(why)) != ERR_OK) {
            err_set(errstr, errstr_size, "record %zu: %s", i, why);
            return ERR_PERMANENT; /* never sent: PostgreSQL sees only valid records */
        }
    }
    if (n == 0) {
        return ERR_OK;
    }
    if ((cls = warehouse_connect(wh, errstr, errstr_size)) ||
        (cls = ensure_months(wh, items, n, errstr, errstr_size)) ||
        (cls = exec_simple(wh, "BEGIN", errstr, errstr_size))) {
        return cls;
    }
    if ((cls = copy_batch(wh, items, n, errstr, errstr_size)) ||
        (cls = apply(wh, items, n, counts, errstr, errstr_size)) ||
        (cls = check_fence(wh, errstr, errstr_size)) ||
        (cls = exec_simple(wh, "COMMIT", errstr, errstr_size))) {
        if (wh->pg) {
            char ignored[128];
            exec_simple(wh, "ROLLBACK", ignored, sizeof(ignored));
        }
        clear_outcomes(items, n, counts);
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
