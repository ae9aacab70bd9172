#include "common/incident.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/canonical.h"

void incident_init(struct incident *inc)
{
    memset(inc, 0, sizeof(*inc));
    inc->occurred_at = TS_NULL;
    inc->reported_at = TS_NULL;
    inc->source_updated_at = TS_NULL;
    inc->ingested_at = TS_NULL;
    inc->arrest = TRI_NULL;
    inc->domestic = TRI_NULL;
}

void incident_clear(struct incident *inc)
{
    char **strs[] = {&inc->city,    &inc->incident_id, &inc->report_id,     &inc->offense_code,
                     &inc->offense, &inc->category,    &inc->crime_against, &inc->area,
                     &inc->beat,    &inc->address};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
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

int incident_add_attr(struct incident *inc, const char *key, const char *value)
{
    if (inc->n_attrs == inc->cap_attrs) {
        size_t cap = inc->cap_attrs ? inc->cap_attrs * 2 : 16;
        struct attr *na = realloc(inc->attrs, cap * sizeof(*na));
        if (!na) {
            return -1;
        }
        inc->attrs = na;
        inc->cap_attrs = cap;
    }
    struct attr *a = &inc->attrs[inc->n_attrs];
    a->key = strdup(key);
    a->value = strdup(value);
    if (!a->key || !a->value) {
        free(a->key);
        free(a->value);
        return -1;
    }
    inc->n_attrs++;
    return 0;
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
    h = mix_str(h, inc->city);
    h = mix_str(h, inc->incident_id);
    h = mix_str(h, inc->report_id);
    h = mix_i64(h, inc->occurred_at);
    h = mix_i64(h, inc->reported_at);
    h = mix_i64(h, inc->source_updated_at);
    h = mix_str(h, inc->offense_code);
    h = mix_str(h, inc->offense);
    h = mix_str(h, inc->category);
    h = mix_str(h, inc->crime_against);
    h = mix_str(h, inc->area);
    h = mix_str(h, inc->beat);
    h = mix_str(h, inc->address);
    if (inc->has_coords) {
        h = mix(h, &inc->latitude, sizeof(double));
        h = mix(h, &inc->longitude, sizeof(double));
    } else {
        h = mix_i64(h, 0x7fffffff);
    }
    h = mix_i64(h, inc->arrest);
    h = mix_i64(h, inc->domestic);
    /* Attributes: an order-independent sum of per-pair hashes. */
    uint64_t attrs = 0;
    for (size_t i = 0; i < inc->n_attrs; i++) {
        attrs += mix_str(mix_str(0x61, inc->attrs[i].key), inc->attrs[i].value);
    }
    return mix_i64(h, (int64_t)attrs);
}

/* ---- Equality ---- */

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

bool incident_equal(const struct incident *a, const struct incident *b)
{
    if (!str_eq(a->city, b->city) || !str_eq(a->incident_id, b->incident_id) ||
        !str_eq(a->report_id, b->report_id) || a->occurred_at != b->occurred_at ||
        a->reported_at != b->reported_at || a->source_updated_at != b->source_updated_at ||
        !str_eq(a->offense_code, b->offense_code) || !str_eq(a->offense, b->offense) ||
        !str_eq(a->category, b->category) || !str_eq(a->crime_against, b->crime_against) ||
        !str_eq(a->area, b->area) || !str_eq(a->beat, b->beat) || !str_eq(a->address, b->address) ||
        a->has_coords != b->has_coords || a->arrest != b->arrest || a->domestic != b->domestic ||
        a->ingested_at != b->ingested_at || a->n_attrs != b->n_attrs) {
        return false;
    }
    if (a->has_coords && (a->latitude != b->latitude || a->longitude != b->longitude)) {
        return false;
    }
    for (size_t i = 0; i < a->n_attrs; i++) {
        const char *v = incident_attr(b, a->attrs[i].key);
        if (!str_eq(v, a->attrs[i].value)) {
            return false;
        }
    }
    return true;
}
