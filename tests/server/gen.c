#define _GNU_SOURCE
#include "tests/server/gen.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/timeutil.h"
#include "common/tz.h"

/* ---- Hashing ---- */

static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ---- Columns ---- */

enum role {
    R_ID,
    R_REPORT,
    R_OCC,
    R_OCC_TIME,
    R_REP,
    R_REP_TIME,
    R_CATEGORY,
    R_LAT,
    R_LON,
    R_LOCATION,
    R_BOOL,
    R_VALUES,
    R_AREA,
    R_BEAT,
    R_ADDRESS,
    R_CODE,
    R_YEAR,
    R_TIMESTAMP,
    R_BIGNUM,
    R_SMALLNUM,
    R_TEXT,
};

struct col {
    const char *name;
    char *key; /* "name": pre-escaped */
    size_t key_len;
    enum role role;
    enum soql_type type;
    const char *type_name;
    const char **values; /* R_VALUES / R_TEXT choices */
    size_t n_values;
    bool date_only;        /* R_OCC / R_REP with a separate time column */
    enum time_format tfmt; /* R_OCC_TIME / R_REP_TIME */
    bool versioned;        /* changes with the version */
    unsigned null_one_in;  /* omitted about 1 in N rows (0: never) */
};

struct gen_city {
    const struct city *city;
    struct gen_hints hints;
    uint64_t key, rows;
    int64_t anchor_ms, first_ms, step_ms;
    uint64_t total_runs;
    uint64_t *block_prefix; /* runs started before each block of 4096 rows */
    size_t n_blocks;
    struct col *cols;
    size_t n_cols;
    int text_col; /* a text column for malformations (address or first text), -1 none */
    int id_col;   /* first R_ID column, -1 none */
    int occ_col;
};

static const char *const crime_against_values[] = {"PERSON", "PROPERTY", "SOCIETY", "NOT_A_CRIME"};
static const char *const text_words[] = {"STREET",      "RESIDENCE", "APARTMENT",    "SIDEWALK",
                                         "PARKING LOT", "ALLEY",     "RETAIL STORE", "OTHER"};
static const char *const street_names[] = {
    "RICE ST",    "BLOOMINGDALE AVE", "NATALI ST",  "19TH AVE E", "POLK ST",  "DUARTE ST",
    "MAIN ST",    "OAK AVE",          "PINE ST",    "MARKET ST",  "BROADWAY", "LAKE SHORE DR",
    "HALSTED ST", "15TH AVE NW",      "VALLEJO ST", "CENTRAL AVE"};
static const char dirs[] = "NSEW";

#define BLOCK_SHIFT 12

/* Name heuristics ignore case (ArcGIS layers spell their fields in capitals). */
static bool name_has(const char *name, const char *part)
{
    return strcasestr(name, part) != NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static bool eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void set_role(struct col *c, enum role role, enum soql_type type, const char *type_name)
{
    c->role = role;
    c->type = type;
    c->type_name = type_name;
}

static int classify(struct gen_city *g, struct col *c, char *errstr, size_t errstr_size)
{
    const struct city *city = g->city;
    const struct gen_hints *hints = &g->hints;
    const char *f = c->name;
    json_t *vals = hints->values ? json_object_get(hints->values, f) : NULL;
    bool is_id = false;
    for (size_t k = 0; k < city->n_id_fields; k++) {
        is_id |= eq(f, city->id_fields[k]);
    }
    set_role(c, R_TEXT, SOQL_TEXT, "text");
    if (eq(f, city->report_id)) {
        set_role(c, R_REPORT, SOQL_TEXT, "text");
    } else if (is_id && !(json_is_array(vals) && json_array_size(vals) > 0)) {
        set_role(c, R_ID, SOQL_TEXT, "text");
    } else if (eq(f, city->occurred_at.field)) {
        set_role(c, R_OCC, SOQL_FLOATING, "floating_timestamp");
        c->date_only = city->occurred_at.time_field != NULL;
        c->versioned = true;
    } else if (eq(f, city->occurred_at.time_field)) {
        set_role(c, R_OCC_TIME, SOQL_TEXT, "text");
        c->tfmt = city->occurred_at.time_format;
        c->versioned = true;
    } else if (eq(f, city->reported_at.field)) {
        set_role(c, R_REP, SOQL_FLOATING, "floating_timestamp");
        c->date_only = city->reported_at.time_field != NULL;
    } else if (eq(f, city->reported_at.time_field)) {
        set_role(c, R_REP_TIME, SOQL_TEXT, "text");
        c->tfmt = city->reported_at.time_format;
    } else if (eq(f, city->category_from)) {
        set_role(c, R_CATEGORY, SOQL_TEXT, "text");
        c->versioned = true;
    } else if (eq(f, city->latitude)) {
        set_role(c, R_LAT, hints->redacted ? SOQL_TEXT : SOQL_NUMBER,
                 hints->redacted ? "text" : "number");
    } else if (eq(f, city->longitude)) {
        set_role(c, R_LON, hints->redacted ? SOQL_TEXT : SOQL_NUMBER,
                 hints->redacted ? "text" : "number");
    } else if (eq(f, city->location) && hints->location_shape != LOC_NONE) {
        set_role(c, R_LOCATION, SOQL_GEO,
                 hints->location_shape == LOC_POINT ? "point" : "location");
    } else if (json_is_array(vals) && json_array_size(vals) > 0) {
        set_role(c, R_VALUES, SOQL_TEXT, "text");
        c->n_values = json_array_size(vals);
        c->values = calloc(c->n_values, sizeof(char *));
        if (!c->values) {
            err_set(errstr, errstr_size, "out of memory");
            return -1;
        }
        for (size_t k = 0; k < c->n_values; k++) {
            json_t *v = json_array_get(vals, k);
            if (!json_is_string(v)) {
                err_set(errstr, errstr_size, "generator.values.%s: strings expected", f);
                return -1;
            }
            c->values[k] = json_string_value(v);
        }
        c->versioned = eq(f, city->arrest) || eq(f, city->domestic);
        c->null_one_in = is_id ? 0 : 40;
    } else if (eq(f, city->arrest) || eq(f, city->domestic)) {
        set_role(c, R_BOOL, SOQL_BOOL, "checkbox");
        c->versioned = eq(f, city->arrest);
    } else if (eq(f, city->crime_against_from)) {
        set_role(c, R_VALUES, SOQL_TEXT, "text");
        c->values = malloc(sizeof(crime_against_values));
        if (!c->values) {
            err_set(errstr, errstr_size, "out of memory");
            return -1;
        }
        memcpy(c->values, crime_against_values, sizeof(crime_against_values));
        c->n_values = sizeof(crime_against_values) / sizeof(crime_against_values[0]);
        c->versioned = true;
    } else if (eq(f, city->area)) {
        set_role(c, R_AREA, SOQL_TEXT, "text");
    } else if (eq(f, city->beat)) {
        set_role(c, R_BEAT, SOQL_TEXT, "text");
    } else if (eq(f, city->address)) {
        set_role(c, R_ADDRESS, SOQL_TEXT, "text");
        c->null_one_in = 100;
    } else if (eq(f, city->offense_code)) {
        set_role(c, R_CODE, SOQL_TEXT, "text");
    } else if (name_has(f, "year")) {
        set_role(c, R_YEAR, SOQL_NUMBER, "number");
    } else if (name_has(f, "date") || name_has(f, "_dt") || ends_with(f, "_on") ||
               ends_with(f, "_at")) {
        set_role(c, R_TIMESTAMP, SOQL_FLOATING, "floating_timestamp");
        c->null_one_in = 30;
    } else if (name_has(f, "coord")) {
        set_role(c, R_BIGNUM, SOQL_NUMBER, "number");
        c->null_one_in = 50;
    } else if (name_has(f, "_cd") || name_has(f, "code") || name_has(f, "ward") ||
               name_has(f, "district") || name_has(f, "tract") || name_has(f, "zip") ||
               name_has(f, "area") || name_has(f, "precinct") || name_has(f, "age") ||
               name_has(f, "num") || ends_with(f, "_no") || ends_with(f, "id") ||
               name_has(f, "cnn") || name_has(f, "pra")) {
        set_role(c, R_SMALLNUM, SOQL_TEXT, "text");
        c->null_one_in = 40;
    } else {
        c->values = malloc(sizeof(text_words));
        if (!c->values) {
            err_set(errstr, errstr_size, "out of memory");
            return -1;
        }
        memcpy(c->values, text_words, sizeof(text_words));
        c->n_values = sizeof(text_words) / sizeof(text_words[0]);
        c->null_one_in = 25;
    }
    return 0;
}

/* ---- Base timing ---- */

static inline uint64_t hrow(const struct gen_city *g, uint64_t i, uint64_t salt)
{
    return mix64(g->key ^ mix64(i * 0x2545f4914f6cdd1dULL + salt));
}

/* Does base row i start a new run of equal :updated_at? The mean run length varies per block of
 * 4096 rows (1, 4, 32 or 200) and no run is longer than GEN_MAX_RUN. */
static inline bool run_starts(const struct gen_city *g, uint64_t i)
{
    if (i % GEN_MAX_RUN == 0) {
        return true;
    }
    static const unsigned means[] = {1, 4, 32, 200};
    unsigned mean = means[hrow(g, i >> BLOCK_SHIFT, 7) & 3];
    return hrow(g, i, 11) % mean == 0;
}

static int64_t run_ms(const struct gen_city *g, uint64_t run)
{
    int64_t jitter =
        g->step_ms > 1 ? (int64_t)(mix64(g->key ^ run) % (uint64_t)(g->step_ms / 2)) : 0;
    return g->first_ms + (int64_t)run * g->step_ms + jitter;
}

/* Run index of base row i. */
static uint64_t run_of(const struct gen_city *g, uint64_t i)
{
    uint64_t b = i >> BLOCK_SHIFT, n = g->block_prefix[b];
    for (uint64_t j = b << BLOCK_SHIFT; j <= i; j++) {
        n += run_starts(g, j);
    }
    return n - 1;
}

int64_t gen_base_updated_ms(const struct gen_city *g, uint64_t i)
{
    return run_ms(g, run_of(g, i));
}

uint64_t gen_base_lower_bound(const struct gen_city *g, int64_t ms)
{
    uint64_t lo = 0, hi = g->rows;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (gen_base_updated_ms(g, mid) < ms) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int64_t gen_base_last_ms(const struct gen_city *g)
{
    return g->rows ? gen_base_updated_ms(g, g->rows - 1) : 0;
}

void gen_cursor_init(const struct gen_city *g, uint64_t i, struct gen_cursor *c)
{
    c->i = i;
    c->run = i < g->rows ? run_of(g, i) : g->total_runs;
}

void gen_cursor_next(const struct gen_city *g, struct gen_cursor *c)
{
    c->i++;
    if (c->i < g->rows && run_starts(g, c->i)) {
        c->run++;
    }
}

int64_t gen_cursor_ms(const struct gen_city *g, const struct gen_cursor *c)
{
    return run_ms(g, c->run);
}

void gen_base_meta_at(const struct gen_city *g, uint64_t i, int64_t updated_ms, struct gen_meta *m)
{
    m->index = i;
    m->version = 0;
    m->updated_ms = updated_ms;
    m->origin_ms = updated_ms;
    m->created_ms = updated_ms - (int64_t)(hrow(g, i, 13) % (6 * 3600 * 1000));
}

void gen_base_meta(const struct gen_city *g, uint64_t i, struct gen_meta *m)
{
    gen_base_meta_at(g, i, gen_base_updated_ms(g, i), m);
}

/* ---- City ---- */

int gen_hints_read(const struct city *city, struct gen_hints *h, char *errstr, size_t errstr_size)
{
    memset(h, 0, sizeof(*h));
    h->location_shape = LOC_NONE;
    h->rows_per_report = 1;
    const json_t *gen = city->generator;
    if (!gen || json_is_null(gen)) {
        return 0;
    }
    if (!json_is_object(gen)) {
        err_set(errstr, errstr_size, "generator: expected an object");
        return -1;
    }
    const json_t *id = json_object_get(gen, "id");
    if (id && !(json_is_string(id) && strcmp(json_string_value(id), "serial") == 0)) {
        err_set(errstr, errstr_size, "generator.id: only \"serial\" is supported");
        return -1;
    }
    const json_t *shape = json_object_get(gen, "location_shape");
    const char *sh = json_string_value(shape);
    if (!shape || (sh && strcmp(sh, "none") == 0)) {
        h->location_shape = LOC_NONE;
    } else if (sh && strcmp(sh, "point") == 0) {
        h->location_shape = LOC_POINT;
    } else if (sh && strcmp(sh, "latlon") == 0) {
        h->location_shape = LOC_LATLON;
    } else if (sh && strcmp(sh, "legacy") == 0) {
        h->location_shape = LOC_LEGACY;
    } else {
        err_set(errstr, errstr_size,
                "generator.location_shape: expected point, latlon, legacy or none");
        return -1;
    }
    if (!city->location) {
        h->location_shape = LOC_NONE;
    }
    json_t *values = json_object_get(gen, "values");
    if (values && !json_is_object(values)) {
        err_set(errstr, errstr_size, "generator.values: expected an object of field -> values");
        return -1;
    }
    h->values = values;
    const json_t *redacted = json_object_get(gen, "redacted");
    if (redacted && !json_is_string(redacted)) {
        err_set(errstr, errstr_size, "generator.redacted: expected a string");
        return -1;
    }
    h->redacted = json_string_value(redacted);
    const json_t *rpr = json_object_get(gen, "rows_per_report");
    if (rpr) {
        if (!json_is_integer(rpr) || json_integer_value(rpr) < 1 || json_integer_value(rpr) > 100) {
            err_set(errstr, errstr_size, "generator.rows_per_report: expected 1..100");
            return -1;
        }
        h->rows_per_report = (int)json_integer_value(rpr);
    }
    return 0;
}

int64_t gen_anchor_ms(int64_t now_ms)
{
    return now_ms >= GEN_ANCHOR_MS ? GEN_ANCHOR_MS : now_ms - now_ms % 86400000;
}

int64_t gen_local_ms(const struct gen_city *g, int64_t utc_ms)
{
    int64_t s = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
    return utc_ms + (int64_t)tz_offset_at(g->city->tz, s) * 1000;
}

struct gen_city *gen_city_new(const struct city *city, uint64_t seed, uint64_t rows,
                              int64_t anchor_ms, char *errstr, size_t errstr_size)
{
    struct gen_city *g = calloc(1, sizeof(*g));
    if (!g) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    g->city = city;
    if (gen_hints_read(city, &g->hints, errstr, errstr_size) != 0) {
        goto fail;
    }
    if (city->n_fields == 0) {
        err_set(errstr, errstr_size,
                "fields: the generator needs the list of the dataset's fields");
        goto fail;
    }
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = city->name; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    g->key = mix64(seed) ^ h;
    g->rows = rows;
    g->anchor_ms = anchor_ms;
    g->text_col = g->id_col = g->occ_col = -1;
    g->n_cols = city->n_fields;
    g->cols = calloc(g->n_cols ? g->n_cols : 1, sizeof(struct col));
    if (!g->cols) {
        err_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < g->n_cols; k++) {
        struct col *c = &g->cols[k];
        c->name = city->fields[k];
        if (classify(g, c, errstr, errstr_size) != 0) {
            goto fail;
        }
        if (asprintf(&c->key, "\"%s\":", c->name) < 0) {
            c->key = NULL;
            err_set(errstr, errstr_size, "out of memory");
            goto fail;
        }
        c->key_len = strlen(c->key);
        if (c->role == R_ID && g->id_col < 0) {
            g->id_col = (int)k;
        }
        if (c->role == R_OCC) {
            g->occ_col = (int)k;
        }
        if (c->role == R_ADDRESS || (g->text_col < 0 && c->role == R_TEXT)) {
            g->text_col = (int)k;
        }
    }
    if (g->id_col < 0) {
        for (size_t k = 0; k < g->n_cols; k++) {
            if (g->cols[k].role == R_REPORT) {
                g->id_col = (int)k;
            }
        }
    }
    /* Runs: count run starts per block. */
    g->n_blocks = (size_t)((rows >> BLOCK_SHIFT) + 1);
    g->block_prefix = calloc(g->n_blocks, sizeof(uint64_t));
    if (!g->block_prefix) {
        err_set(errstr, errstr_size, "out of memory");
        goto fail;
    }
    uint64_t runs = 0;
    for (uint64_t i = 0; i < rows; i++) {
        if ((i & ((1u << BLOCK_SHIFT) - 1)) == 0) {
            g->block_prefix[i >> BLOCK_SHIFT] = runs;
        }
        runs += run_starts(g, i);
    }
    g->total_runs = runs;
    g->first_ms = anchor_ms - GEN_SPAN_MS;
    g->step_ms = runs ? (GEN_SPAN_MS - 3600 * 1000) / (int64_t)runs : 1;
    if (g->step_ms < 1) {
        g->step_ms = 1;
    }
    return g;
fail:
    gen_city_destroy(g);
    return NULL;
}

void gen_city_destroy(struct gen_city *g)
{
    if (!g) {
        return;
    }
    for (size_t k = 0; k < g->n_cols; k++) {
        free(g->cols[k].values);
        free(g->cols[k].key);
    }
    free(g->cols);
    free(g->block_prefix);
    free(g);
}

const struct city *gen_city_file(const struct gen_city *g)
{
    return g->city;
}

uint64_t gen_rows(const struct gen_city *g)
{
    return g->rows;
}

size_t gen_n_cols(const struct gen_city *g)
{
    return g->n_cols;
}

const char *gen_col_name(const struct gen_city *g, int col)
{
    switch (col) {
    case GEN_COL_ID:
        return ":id";
    case GEN_COL_CREATED:
        return ":created_at";
    case GEN_COL_UPDATED:
        return ":updated_at";
    default:
        return col >= 0 && (size_t)col < g->n_cols ? g->cols[col].name : "?";
    }
}

const char *gen_col_type(const struct gen_city *g, int col)
{
    switch (col) {
    case GEN_COL_ID:
        return "meta_data";
    case GEN_COL_CREATED:
    case GEN_COL_UPDATED:
        return "meta_data";
    default:
        return col >= 0 && (size_t)col < g->n_cols ? g->cols[col].type_name : "text";
    }
}

bool gen_resolve(void *ctx, const char *name, int *col, enum soql_type *type)
{
    const struct gen_city *g = ctx;
    if (strcmp(name, ":id") == 0) {
        *col = GEN_COL_ID, *type = SOQL_ROWID;
        return true;
    }
    if (strcmp(name, ":created_at") == 0) {
        *col = GEN_COL_CREATED, *type = SOQL_FIXED;
        return true;
    }
    if (strcmp(name, ":updated_at") == 0) {
        *col = GEN_COL_UPDATED, *type = SOQL_FIXED;
        return true;
    }
    for (size_t k = 0; k < g->n_cols; k++) {
        if (strcmp(name, g->cols[k].name) == 0) {
            *col = (int)k, *type = g->cols[k].type;
            return true;
        }
    }
    return false;
}

/* ---- Formatting ---- */

static char *put_digits(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width) {
        tmp[n++] = '0';
    }
    while (n) {
        *p++ = tmp[--n];
    }
    return p;
}

void gen_format_id(uint64_t index, char out[GEN_ID_LEN + 1])
{
    memcpy(out, GEN_ID_PREFIX, 4);
    char *p = put_digits(out + 4, index % 10000000000ULL, 10);
    *p = '\0';
}

bool gen_parse_id(const char *s, uint64_t *index)
{
    if (strlen(s) != GEN_ID_LEN || strncmp(s, GEN_ID_PREFIX, 4) != 0) {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = s + 4; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *index = v;
    return true;
}

/* 2024-02-15T07:09:00.000 (+ "Z" when zone) */
static size_t format_ts(int64_t ms, bool zone, char *out)
{
    struct civil_time ct;
    us_to_civil(ms * 1000, &ct);
    char *p = out;
    p = put_digits(p, (uint64_t)ct.year, 4);
    *p++ = '-';
    p = put_digits(p, (uint64_t)ct.month, 2);
    *p++ = '-';
    p = put_digits(p, (uint64_t)ct.day, 2);
    *p++ = 'T';
    p = put_digits(p, (uint64_t)ct.hour, 2);
    *p++ = ':';
    p = put_digits(p, (uint64_t)ct.minute, 2);
    *p++ = ':';
    p = put_digits(p, (uint64_t)ct.second, 2);
    *p++ = '.';
    p = put_digits(p, (uint64_t)(ct.micros / 1000), 3);
    if (zone) {
        *p++ = 'Z';
    }
    *p = '\0';
    return (size_t)(p - out);
}

void gen_format_fixed(int64_t ms, char *out, size_t out_size)
{
    char tmp[40];
    format_ts(ms, true, tmp);
    snprintf(out, out_size, "%s", tmp);
}

/* A coordinate with 9 decimals from nano-degrees. */
static size_t format_coord(int64_t nano, char *out)
{
    char *p = out;
    if (nano < 0) {
        *p++ = '-';
        nano = -nano;
    }
    p = put_digits(p, (uint64_t)nano / 1000000000ULL, 1);
    *p++ = '.';
    p = put_digits(p, (uint64_t)nano % 1000000000ULL, 9);
    *p = '\0';
    return (size_t)(p - out);
}

/* ---- Rows ---- */

void gen_row_free(struct gen_row *r)
{
    free(r->vals);
    buf_free(&r->arena);
    memset(r, 0, sizeof(*r));
}

/* Value k: n bytes from s (NULL: n bytes of 'X'), NUL-terminated in the arena. */
static void set_val(struct gen_row *r, size_t k, enum gen_kind kind, const char *s, size_t n)
{
    size_t off = r->arena.len;
    if (buf_reserve(&r->arena, n + 1) != 0) {
        abort(); /* out of memory in a test server: nothing sensible to do */
    }
    if (s) {
        memcpy(r->arena.p + off, s, n);
    } else {
        memset(r->arena.p + off, 'X', n);
    }
    r->arena.len += n;
    buf_putc(&r->arena, '\0'); /* the separator; buf keeps one more NUL after it */
    r->vals[k].off = (uint32_t)off;
    r->vals[k].len = (uint32_t)n;
    r->vals[k].kind = (uint8_t)kind;
}

static void set_str(struct gen_row *r, size_t k, const char *s)
{
    set_val(r, k, GEN_STR, s, strlen(s));
}

int gen_malformed_kind(const struct gen_city *g, uint64_t index, unsigned malformed_k)
{
    if (malformed_k == 0) {
        return GEN_MAL_NONE;
    }
    uint64_t h = hrow(g, index, 17);
    unsigned k = malformed_k & ~GEN_HOSTILE;
    if (k == 0 || h % k != 0) {
        return GEN_MAL_NONE;
    }
    if (malformed_k & GEN_HOSTILE) {
        return GEN_HOS_HUGE + (int)((h >> 40) % (GEN_HOS__END - GEN_HOS_HUGE));
    }
    return 1 + (int)((h >> 40) % 5);
}

static void format_time_col(int64_t local_ms, enum time_format fmt, char *out)
{
    struct civil_time ct;
    us_to_civil(local_ms * 1000, &ct);
    char *p = out;
    if (fmt == TIME_H || fmt == TIME_HHMM) { /* unpadded, as TPS writes them: "4", "900" */
        p = put_digits(p, (uint64_t)(fmt == TIME_H ? ct.hour : ct.hour * 100 + ct.minute), 1);
        *p = '\0';
        return;
    }
    p = put_digits(p, (uint64_t)ct.hour, 2);
    if (fmt != TIME_HHMM) {
        *p++ = ':';
    }
    p = put_digits(p, (uint64_t)ct.minute, 2);
    if (fmt == TIME_HH_MM_SS) {
        *p++ = ':';
        p = put_digits(p, (uint64_t)ct.second, 2);
    }
    *p = '\0';
}

/* What the columns of one row are made from. */
struct row_basis {
    uint64_t i, report_start;
    int64_t occ_local, rep_local; /* wall times in the city's zone (ms, read as UTC) */
    uint64_t hc;                  /* the hash behind the coordinates and the address */
    int coord_state;              /* 0 present, 1 "0", 2 redacted, 3 omitted */
    char lat_s[32], lon_s[32];
};

/* Occurred: hours to weeks before the origin; some versions move it by up to 40 days.
 * Reported up to 6 hours later. Both as wall times in the city's zone, daylight saving
 * included. */
static void basis_times(const struct gen_city *g, const struct gen_meta *m, struct row_basis *rb)
{
    uint64_t i = rb->i;
    uint64_t hd = hrow(g, i, 21);
    int64_t delta = (hd % 10 < 7) ? (int64_t)(1 + hd / 10 % 48) * 3600000
                                  : (int64_t)(1 + hd / 10 % (21 * 24)) * 3600000;
    int64_t occ = m->origin_ms - delta - (int64_t)((hd >> 20) % 3600000);
    if (m->version > 0) {
        uint64_t hv = hrow(g, i, 1000 + m->version);
        if (hv % 3 == 0) {
            occ += ((int64_t)(hv >> 8) % (80LL * 86400000)) - 40LL * 86400000;
            if (occ > m->updated_ms - 60000) {
                occ = m->updated_ms - 60000;
            }
        }
    }
    occ -= ((occ % 60000) + 60000) % 60000;
    int64_t rep = occ + (int64_t)(hrow(g, i, 22) % 360) * 60000;
    if (rep > m->origin_ms) {
        rep = m->origin_ms;
    }
    rep -= ((rep % 60000) + 60000) % 60000;
    rb->occ_local = gen_local_ms(g, occ);
    rb->rep_local = gen_local_ms(g, rep);
}

/* Coordinates: 1 in 100 "0", 1 in 100 redacted (or omitted), 1 in 100 omitted. */
static void basis_coords(const struct gen_city *g, struct row_basis *rb)
{
    const struct city *city = g->city;
    uint64_t hc = rb->hc = hrow(g, rb->i, 23);
    rb->coord_state = hc % 100 == 0 ? 1 : hc % 100 == 1 ? 2 : hc % 100 == 2 ? 3 : 0;
    if (rb->coord_state == 2 && !g->hints.redacted) {
        rb->coord_state = 3;
    }
    double lat =
        city->bbox[0] + (double)(hc >> 11 & 0xfffff) / 1048576.0 * (city->bbox[2] - city->bbox[0]);
    double lon =
        city->bbox[1] + (double)(hc >> 31 & 0xfffff) / 1048576.0 * (city->bbox[3] - city->bbox[1]);
    if (rb->coord_state == 1) {
        strcpy(rb->lat_s, "0");
        strcpy(rb->lon_s, "0");
    } else {
        format_coord((int64_t)(lat * 1e9), rb->lat_s);
        format_coord((int64_t)(lon * 1e9), rb->lon_s);
    }
}

/* Consecutive rows share a report: a row starts a report 1 in 2 times, or after
 * rows_per_report rows. */
static void basis_report(const struct gen_city *g, struct row_basis *rb)
{
    uint64_t i = rb->i, start = i;
    while (g->hints.rows_per_report > 1 && start > 0 &&
           i - start + 1 < (uint64_t)g->hints.rows_per_report && hrow(g, start, 29) % 2 != 0) {
        start--;
    }
    rb->report_start = start;
}

static void put_number(struct gen_row *r, size_t k, uint64_t v, int width)
{
    char buf[32];
    *put_digits(buf, v, width) = '\0';
    set_str(r, k, buf);
}

/* The location object of the city's shape. */
static void put_location(const struct gen_city *g, struct gen_row *r, size_t k,
                         const struct row_basis *rb)
{
    char buf[512];
    int n;
    if (g->hints.location_shape == LOC_POINT) {
        n = snprintf(buf, sizeof(buf), "{\"type\":\"Point\",\"coordinates\":[%s,%s]}", rb->lon_s,
                     rb->lat_s);
    } else if (g->hints.location_shape == LOC_LATLON) {
        n = snprintf(buf, sizeof(buf), "{\"latitude\":\"%s\",\"longitude\":\"%s\"}", rb->lat_s,
                     rb->lon_s);
    } else {
        n = snprintf(buf, sizeof(buf),
                     "{\"latitude\":\"%s\",\"longitude\":\"%s\",\"human_address\":"
                     "\"{\\\"address\\\": \\\"%03u%s %c %s\\\", \\\"city\\\": \\\"\\\", "
                     "\\\"state\\\": \\\"\\\", \\\"zip\\\": \\\"\\\"}\"}",
                     rb->lat_s, rb->lon_s, (unsigned)(rb->hc % 120), "XX", dirs[rb->hc >> 8 & 3],
                     street_names[(rb->hc >> 12) % 16]);
    }
    set_val(r, k, GEN_RAW, buf, (size_t)n);
}

/* Column k of the row (c->role says what it holds; h is the column's hash). One case per role,
 * read as a table of what each kind of column looks like, so kept in one switch. */
static void make_value(const struct gen_city *g, const struct gen_meta *m, struct gen_row *r,
                       size_t k, uint64_t h, const struct row_basis *rb)
{
    const struct city *city = g->city;
    const struct gen_hints *hints = &g->hints;
    const struct col *c = &g->cols[k];
    char buf[512];
    switch (c->role) {
    case R_ID:
        put_number(r, k, 10000000 + rb->i, 1);
        break;
    case R_REPORT: {
        int64_t ms = m->origin_ms;
        struct civil_time ct;
        us_to_civil(ms * 1000, &ct);
        char *p = put_digits(buf, (uint64_t)ct.year, 4);
        *p++ = '-';
        p = put_digits(p, 100000 + rb->report_start, 7);
        *p = '\0';
        set_str(r, k, buf);
        break;
    }
    case R_OCC:
        format_ts(c->date_only ? rb->occ_local - ((rb->occ_local % 86400000) + 86400000) % 86400000
                               : rb->occ_local,
                  false, buf);
        set_str(r, k, buf);
        break;
    case R_REP:
        format_ts(c->date_only ? rb->rep_local - ((rb->rep_local % 86400000) + 86400000) % 86400000
                               : rb->rep_local,
                  false, buf);
        set_str(r, k, buf);
        break;
    case R_OCC_TIME:
        format_time_col(rb->occ_local, c->tfmt, buf);
        set_str(r, k, buf);
        break;
    case R_REP_TIME:
        format_time_col(rb->rep_local, c->tfmt, buf);
        set_str(r, k, buf);
        break;
    case R_CATEGORY:
        if (city->n_categories == 0 || h % 200 == 0) {
            set_str(r, k, "UNCLASSIFIED OFFENSE");
        } else {
            set_str(r, k, city->categories[(h >> 8) % city->n_categories].source);
        }
        break;
    case R_LAT:
    case R_LON:
        if (rb->coord_state == 3) {
            break;
        }
        set_str(r, k,
                rb->coord_state == 2 ? hints->redacted
                : c->role == R_LAT   ? rb->lat_s
                                     : rb->lon_s);
        break;
    case R_LOCATION:
        if (rb->coord_state != 3 && rb->coord_state != 2) {
            put_location(g, r, k, rb);
        }
        break;
    case R_BOOL:
        if (h % 4 == 0) {
            set_val(r, k, GEN_RAW, "true", 4);
        } else {
            set_val(r, k, GEN_RAW, "false", 5);
        }
        break;
    case R_VALUES:
    case R_TEXT:
        set_str(r, k, c->values[(h >> 8) % c->n_values]);
        break;
    case R_AREA:
        put_number(r, k, 1 + h % 25, 3);
        break;
    case R_BEAT:
        put_number(r, k, 100 + h % 2400, 4);
        break;
    case R_ADDRESS:
        snprintf(buf, sizeof(buf), "%03uXX %c %s", (unsigned)(rb->hc % 120), dirs[rb->hc >> 8 & 3],
                 street_names[(rb->hc >> 12) % 16]);
        set_str(r, k, buf);
        break;
    case R_CODE:
        put_number(r, k, h % 2000, 4);
        break;
    case R_YEAR: {
        struct civil_time ct;
        us_to_civil(rb->occ_local * 1000, &ct);
        char *p = put_digits(buf, (uint64_t)ct.year, 4);
        *p = '\0';
        set_str(r, k, buf);
        break;
    }
    case R_TIMESTAMP: {
        int64_t t = gen_local_ms(g, m->updated_ms - (int64_t)(h % (3600 * 48)) * 1000);
        format_ts(t - ((t % 1000) + 1000) % 1000, false, buf);
        set_str(r, k, buf);
        break;
    }
    case R_BIGNUM:
        put_number(r, k, 1000000 + h % 1000000, 1);
        break;
    case R_SMALLNUM:
        put_number(r, k, 1 + h % 99, 1);
        break;
    }
}

/* A hostile row, over the values already made (see gen.h). */
static void hostile(const struct gen_city *g, struct gen_row *r)
{
    int k = g->text_col >= 0 ? g->text_col : g->id_col;
    struct buf b = {0};
    if (k < 0) {
        return;
    }
    switch (r->malformed) {
    case GEN_HOS_HUGE:
        set_val(r, (size_t)k, GEN_STR, NULL, 3u << 20);
        break;
    case GEN_HOS_BAD_UTF8:
        set_str(r, (size_t)k, "BAD \xc3\x28 UTF8 \xff\xfe");
        break;
    case GEN_HOS_DEEP:
        for (int i = 0; i < 100; i++) {
            buf_putc(&b, '[');
        }
        buf_putc(&b, '1');
        for (int i = 0; i < 100; i++) {
            buf_putc(&b, ']');
        }
        break;
    case GEN_HOS_MANY_FIELDS:
        buf_puts(&b, "\"many\"");
        for (int i = 0; i < 2000; i++) {
            char f[32];
            snprintf(f, sizeof(f), ",\"h%04d\":\"v\"", i);
            buf_puts(&b, f);
        }
        break;
    case GEN_HOS_LONG_ID:
        if (g->id_col >= 0) {
            set_val(r, (size_t)g->id_col, GEN_STR, NULL, 3000);
        }
        break;
    case GEN_HOS_SURROGATE:
        buf_puts(&b, "\"lone \\ud800 surrogate\"");
        break;
    case GEN_HOS_NUL:
        buf_puts(&b, "\"a \\u0000 NUL\"");
        break;
    case GEN_HOS_EXACT:
        buf_puts(&b, GEN_EXACT_TEXT);
        break;
    default:
        break;
    }
    if (b.len) {
        set_val(r, (size_t)k, GEN_RAW, b.p, b.len);
    }
    buf_free(&b);
}

/* The malformation of a malformed row, over the values already made. */
static void malform(const struct gen_city *g, struct gen_row *r)
{
    switch (r->malformed) {
    case GEN_MAL_NO_ID:
        if (g->id_col >= 0) {
            r->vals[g->id_col].kind = GEN_OMIT;
        }
        break;
    case GEN_MAL_BAD_DATE:
        if (g->occ_col >= 0) {
            set_str(r, (size_t)g->occ_col, "not a date");
        }
        break;
    case GEN_MAL_WRONG_TYPE:
        if (g->occ_col >= 0) {
            set_val(r, (size_t)g->occ_col, GEN_RAW, "{\"value\":\"2024-01-01T00:00:00.000\"}", 35);
        }
        break;
    case GEN_MAL_BAD_UTF8:
        if (g->text_col >= 0) {
            set_str(r, (size_t)g->text_col, "BAD \xc3\x28 UTF8 \xff\xfe");
        } else if (g->id_col >= 0) {
            set_str(r, (size_t)g->id_col, "\xff\xfe");
        }
        break;
    case GEN_MAL_HUGE: {
        int k = g->text_col >= 0 ? g->text_col : g->id_col;
        if (k >= 0) {
            set_val(r, (size_t)k, GEN_STR, NULL, 100 * 1024);
        }
        break;
    }
    default:
        hostile(g, r);
        break;
    }
}

void gen_row_make(const struct gen_city *g, const struct gen_meta *m, unsigned malformed_k,
                  struct gen_row *r)
{
    if (r->n_vals < g->n_cols) {
        free(r->vals);
        r->vals = calloc(g->n_cols, sizeof(struct gen_val));
        if (!r->vals) {
            abort();
        }
        r->n_vals = g->n_cols;
    }
    buf_reset(&r->arena);
    struct row_basis rb = {.i = m->index};
    gen_format_id(rb.i, r->id);
    format_ts(m->created_ms, true, r->created);
    format_ts(m->updated_ms, true, r->updated);
    r->malformed = gen_malformed_kind(g, rb.i, malformed_k);
    basis_times(g, m, &rb);
    basis_coords(g, &rb);
    basis_report(g, &rb);
    for (size_t k = 0; k < g->n_cols; k++) {
        const struct col *c = &g->cols[k];
        uint64_t h = hrow(g, rb.i, 100 + k + (c->versioned ? 977u * m->version : 0));
        r->vals[k].kind = GEN_OMIT;
        if (!c->null_one_in || (h >> 32) % c->null_one_in != 0) {
            make_value(g, m, r, k, h, &rb);
        }
    }
    malform(g, r);
}

const char *gen_value(void *ctx, int col)
{
    const struct gen_row_ctx *rc = ctx;
    switch (col) {
    case GEN_COL_ID:
        return rc->r->id;
    case GEN_COL_CREATED:
        return rc->r->created;
    case GEN_COL_UPDATED:
        return rc->r->updated;
    default:
        break;
    }
    if (col < 0 || (size_t)col >= rc->g->n_cols || rc->r->vals[col].kind == GEN_OMIT) {
        return NULL;
    }
    return rc->r->arena.p + rc->r->vals[col].off;
}

static void put_field(struct buf *b, const struct gen_city *g, const struct gen_row *r, size_t k,
                      bool *first)
{
    const struct gen_val *v = &r->vals[k];
    if (v->kind == GEN_OMIT) {
        return;
    }
    const struct col *c = &g->cols[k];
    buf_reserve(b, c->key_len + v->len + 4);
    if (b->oom) {
        return;
    }
    char *p = b->p + b->len;
    if (!*first) {
        *p++ = ',';
    }
    *first = false;
    memcpy(p, c->key, c->key_len);
    p += c->key_len;
    b->len = (size_t)(p - b->p);
    if (v->kind == GEN_RAW) {
        buf_put(b, r->arena.p + v->off, v->len);
    } else {
        /* Invalid UTF-8 (a malformed row) passes through on purpose. */
        buf_put_json_string(b, r->arena.p + v->off, v->len);
    }
}

static void put_system(struct buf *b, const struct gen_row *r, int col, bool *first)
{
    if (!*first) {
        buf_put(b, ",", 1);
    }
    *first = false;
    switch (col) {
    case GEN_COL_ID:
        buf_put(b, "\":id\":\"", 7);
        buf_put(b, r->id, GEN_ID_LEN);
        break;
    case GEN_COL_CREATED:
        buf_put(b, "\":created_at\":\"", 15);
        buf_puts(b, r->created);
        break;
    default:
        buf_put(b, "\":updated_at\":\"", 15);
        buf_puts(b, r->updated);
        break;
    }
    buf_put(b, "\"", 1);
}

void gen_row_json(const struct gen_city *g, const struct gen_row *r, bool system, const int *cols,
                  size_t n_cols, struct buf *out)
{
    bool first = true;
    buf_put(out, "{", 1);
    if (system) {
        put_system(out, r, GEN_COL_ID, &first);
        put_system(out, r, GEN_COL_CREATED, &first);
        put_system(out, r, GEN_COL_UPDATED, &first);
    }
    if (!cols) {
        for (size_t k = 0; k < g->n_cols; k++) {
            put_field(out, g, r, k, &first);
        }
    } else {
        for (size_t j = 0; j < n_cols; j++) {
            if (cols[j] < 0) {
                put_system(out, r, cols[j], &first);
            } else if ((size_t)cols[j] < g->n_cols) {
                put_field(out, g, r, (size_t)cols[j], &first);
            }
        }
    }
    buf_put(out, "}", 1);
}
