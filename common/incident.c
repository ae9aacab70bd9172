#include "common/incident.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/canonical.h"
#include "common/utf8.h"

#define X(name, member, kind, flags) {#name, kind, flags, offsetof(struct incident, member)},
const struct incident_field incident_fields[INCIDENT_N_FIELDS] = {INCIDENT_FIELDS(X)};
#undef X

void incident_init(struct incident *inc)
{
    memset(inc, 0, sizeof(*inc));
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        const struct incident_field *f = &incident_fields[i];
        if (f->kind == I_TS) {
            *INCIDENT_AT(int64_t, inc, f) = TS_NULL;
        } else if (f->kind == I_TRI) {
            *INCIDENT_AT(int8_t, inc, f) = TRI_NULL;
        }
    }
}

void incident_clear(struct incident *inc)
{
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        if (incident_fields[i].kind == I_STR) {
            free(*INCIDENT_AT(char *, inc, &incident_fields[i]));
        }
    }
    for (size_t i = 0; i < inc->n_attrs; i++) {
        free(inc->attrs[i].key);
        free(inc->attrs[i].value);
    }
    free(inc->attrs);
    incident_init(inc);
}

int incident_set_strn(char **field, const char *s, size_t n)
{
    char *v = NULL;
    if (s) {
        v = malloc(n + 1);
        if (!v) {
            return -1;
        }
        memcpy(v, s, n);
        v[n] = '\0';
    }
    free(*field);
    *field = v;
    return 0;
}

int incident_set_str(char **field, const char *s)
{
    return incident_set_strn(field, s, s ? strlen(s) : 0);
}

int incident_add_attrn(struct incident *inc, const char *key, size_t key_len, const char *value,
                       size_t value_len)
{
    struct attr *grown =
        array_grow(inc->attrs, &inc->cap_attrs, inc->n_attrs, sizeof(*inc->attrs), 16);
    if (!grown) {
        return -1;
    }
    inc->attrs = grown;
    struct attr *a = &inc->attrs[inc->n_attrs];
    a->key = strndup(key, key_len);
    a->value = strndup(value, value_len);
    if (!a->key || !a->value) {
        free(a->key);
        free(a->value);
        return -1;
    }
    inc->n_attrs++;
    return 0;
}

int incident_add_attr(struct incident *inc, const char *key, const char *value)
{
    return incident_add_attrn(inc, key, strlen(key), value, strlen(value));
}

const char *incident_attr(const struct incident *inc, const char *key)
{
    for (size_t i = 0; i < inc->n_attrs; i++) {
        if (strcmp(inc->attrs[i].key, key) == 0) {
            return inc->attrs[i].value;
        }
    }
    return NULL;
}

/* ---- Content hash ---- */

static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    /* Length-prefixed so that ("ab","c") and ("a","bc") differ; chained through CRC-64. */
    uint64_t l = len;
    unsigned char tmp[16];
    memcpy(tmp, &h, 8);
    memcpy(tmp + 8, &l, 8);
    uint64_t h2 = avro_crc64(tmp, sizeof(tmp));
    return h2 ^ (avro_crc64(data, len) * 0x9e3779b97f4a7c15ULL);
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    static const char null_marker = 0;
    return s ? mix(h, s, strlen(s) + 1) : mix(h, &null_marker, 0);
}

static uint64_t mix_i64(uint64_t h, int64_t v)
{
    return mix(h, &v, sizeof(v));
}

uint64_t incident_content_hash(const struct incident *inc)
{
    uint64_t h = 0x426c6f74746572ULL; /* "Blotter" */
    bool coords_null_mixed = false;
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        const struct incident_field *f = &incident_fields[i];
        if (f->flags & I_STAMP) {
            continue;
        }
        switch (f->kind) {
        case I_STR:
            h = mix_str(h, *INCIDENT_CAT(char *, inc, f));
            break;
        case I_TS:
            h = mix_i64(h, *INCIDENT_CAT(int64_t, inc, f));
            break;
        case I_TRI:
            h = mix_i64(h, *INCIDENT_CAT(int8_t, inc, f));
            break;
        case I_COORD:
            if (inc->has_coords) {
                h = mix(h, INCIDENT_CAT(double, inc, f), sizeof(double));
            } else if (!coords_null_mixed) { /* the pair is null once */
                h = mix_i64(h, 0x7fffffff);
                coords_null_mixed = true;
            }
            break;
        case I_ATTRS: {
            /* An order-independent sum of per-pair hashes. */
            uint64_t attrs = 0;
            for (size_t k = 0; k < inc->n_attrs; k++) {
                attrs += mix_str(mix_str(0x61, inc->attrs[k].key), inc->attrs[k].value);
            }
            h = mix_i64(h, (int64_t)attrs);
            break;
        }
        }
    }
    return h;
}

/* ---- Equality ---- */

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool attrs_equal(const struct incident *a, const struct incident *b)
{
    if (a->n_attrs != b->n_attrs) {
        return false;
    }
    for (size_t i = 0; i < a->n_attrs; i++) {
        if (!str_eq(incident_attr(b, a->attrs[i].key), a->attrs[i].value)) {
            return false;
        }
    }
    return true;
}

bool incident_equal(const struct incident *a, const struct incident *b)
{
    if (a->has_coords != b->has_coords) {
        return false;
    }
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        const struct incident_field *f = &incident_fields[i];
        bool same = true;
        switch (f->kind) {
        case I_STR:
            same = str_eq(*INCIDENT_CAT(char *, a, f), *INCIDENT_CAT(char *, b, f));
            break;
        case I_TS:
            same = *INCIDENT_CAT(int64_t, a, f) == *INCIDENT_CAT(int64_t, b, f);
            break;
        case I_TRI:
            same = *INCIDENT_CAT(int8_t, a, f) == *INCIDENT_CAT(int8_t, b, f);
            break;
        case I_COORD:
            same = !a->has_coords || *INCIDENT_CAT(double, a, f) == *INCIDENT_CAT(double, b, f);
            break;
        case I_ATTRS:
            same = attrs_equal(a, b);
            break;
        }
        if (!same) {
            return false;
        }
    }
    return true;
}

/* ---- The rulebook ---- */

#define US_YEAR_1    (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define US_YEAR_10K  (253402300800000000LL) /* 10000-01-01T00:00:00Z */
#define US_YEAR_1900 (-2208988800000000LL)  /* 1900-01-01T00:00:00Z */
#define US_TWO_DAYS  (2 * 86400000000LL)

static enum err_class check_field(const struct incident *inc, const struct incident_field *f,
                                  char *errstr, size_t n)
{
    bool may_be_null = f->flags & (I_OPT | I_STAMP);
    switch (f->kind) {
    case I_STR: {
        const char *v = *INCIDENT_CAT(char *, inc, f);
        if (!v) {
            if (!may_be_null) {
                err_set(errstr, n, "%s is missing", f->name);
                return ERR_PERMANENT;
            }
        } else if ((f->flags & I_KEY) && !*v) {
            err_set(errstr, n, "%s is empty", f->name);
            return ERR_PERMANENT;
        } else if (!utf8_valid_str(v)) {
            err_set(errstr, n, "%s is not valid UTF-8", f->name);
            return ERR_PERMANENT;
        } else {
            size_t len = strlen(v),
                   max = f->flags & I_IDX ? INCIDENT_INDEXED_MAX : INCIDENT_TEXT_MAX;
            if (len > max) {
                err_set(errstr, n, "%s: %zu bytes (limit %zu)", f->name, len, max);
                return ERR_PERMANENT;
            }
        }
        return ERR_OK;
    }
    case I_TS: {
        int64_t v = *INCIDENT_CAT(int64_t, inc, f);
        if (v == TS_NULL) {
            if (!may_be_null) {
                err_set(errstr, n, "%s is missing", f->name);
                return ERR_PERMANENT;
            }
        } else if (v < US_YEAR_1 || v >= US_YEAR_10K) {
            err_set(errstr, n, "%s is outside years 1..9999", f->name);
            return ERR_PERMANENT;
        }
        return ERR_OK;
    }
    case I_COORD: {
        double v = *INCIDENT_CAT(double, inc, f);
        double limit = f->offset == offsetof(struct incident, latitude) ? 90 : 180;
        if (inc->has_coords && (!isfinite(v) || v < -limit || v > limit)) {
            err_set(errstr, n, "%s is not a coordinate", f->name);
            return ERR_PERMANENT;
        }
        return ERR_OK;
    }
    case I_ATTRS:
        if (inc->n_attrs > INCIDENT_ATTRS_MAX) {
            err_set(errstr, n, "%zu attributes (limit %d)", inc->n_attrs, INCIDENT_ATTRS_MAX);
            return ERR_PERMANENT;
        }
        for (size_t i = 0; i < inc->n_attrs; i++) {
            if (!inc->attrs[i].key || !utf8_valid_str(inc->attrs[i].key) ||
                (inc->attrs[i].value && !utf8_valid_str(inc->attrs[i].value))) {
                err_set(errstr, n, "attribute %zu is not valid UTF-8", i);
                return ERR_PERMANENT;
            }
            if (strlen(inc->attrs[i].key) > INCIDENT_INDEXED_MAX ||
                (inc->attrs[i].value && strlen(inc->attrs[i].value) > INCIDENT_TEXT_MAX)) {
                err_set(errstr, n, "attribute %zu is too long", i);
                return ERR_PERMANENT;
            }
        }
        return ERR_OK;
    case I_TRI:
        return ERR_OK;
    }
    return ERR_OK;
}

enum err_class incident_check(const struct incident *inc, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < INCIDENT_N_FIELDS; i++) {
        enum err_class cls = check_field(inc, &incident_fields[i], errstr, errstr_size);
        if (cls != ERR_OK) {
            return cls;
        }
    }
    if (inc->ingested_at != TS_NULL &&
        (inc->occurred_at < US_YEAR_1900 || inc->occurred_at > inc->ingested_at + US_TWO_DAYS)) {
        char when[40];
        us_format(inc->occurred_at, false, when, sizeof(when));
        err_set(errstr, errstr_size, "implausible occurred time %s", when);
        return ERR_PERMANENT;
    }
    return ERR_OK;
}

/* ---- The shared category vocabulary ---- */

static const struct {
    const char *category, *crime_against;
} vocabulary[] = {
#define X(category, against) {#category, #against},
    INCIDENT_CATEGORIES(X)
#undef X
};

const char *const vocab_categories[] = {
#define X(category, against) #category,
    INCIDENT_CATEGORIES(X)
#undef X
        NULL};

static int vocab_index(const char *category)
{
    for (size_t i = 0; category && i < sizeof(vocabulary) / sizeof(vocabulary[0]); i++) {
        if (strcmp(vocabulary[i].category, category) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *vocab_intern(const char *category)
{
    int i = vocab_index(category);
    return i < 0 ? NULL : vocabulary[i].category;
}

const char *vocab_crime_against(const char *category)
{
    int i = vocab_index(category);
    return i < 0 ? NULL : vocabulary[i].crime_against;
}
