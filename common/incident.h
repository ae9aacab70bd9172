/* The canonical incident record (schemas/incident.avsc) in memory. Every string is owned by the
 * incident (malloc'ed); NULL means null. Times are UTC microseconds; TS_NULL means null. */
#ifndef BLOTTER_INCIDENT_H
#define BLOTTER_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/timeutil.h"

enum tribool { TRI_NULL = -1, TRI_FALSE = 0, TRI_TRUE = 1 };

struct attr {
    char *key;
    char *value;
};

struct incident {
    char *city;
    char *incident_id;
    char *report_id;
    int64_t occurred_at;
    int64_t reported_at; /* TS_NULL when unknown */
    int64_t source_updated_at;
    char *offense_code;
    char *offense;
    char *category;
    char *crime_against;
    char *area;
    char *beat;
    char *address;
    bool has_coords; /* latitude and longitude are both set or both null */
    double latitude;
    double longitude;
    int8_t arrest;   /* enum tribool */
    int8_t domestic; /* enum tribool */
    struct attr *attrs;
    size_t n_attrs, cap_attrs;
    int64_t ingested_at;
};

/* A zeroed incident with null times and booleans. */
void incident_init(struct incident *inc);
/* Free what the incident owns and re-initialise it. */
void incident_clear(struct incident *inc);

/* Replace a string field (copying s; NULL sets null). Returns -1 on out of memory. */
int incident_set_str(char **field, const char *s);
int incident_set_strn(char **field, const char *s, size_t n);
/* Append an attribute (copies). Returns -1 on out of memory. */
int incident_add_attr(struct incident *inc, const char *key, const char *value);
const char *incident_attr(const struct incident *inc, const char *key);

/* 64-bit fingerprint of the incident's content (every field but ingested_at), the tie-break of
 * versions with equal source_updated_at and the seen-set's memory of a version. Attribute order
 * does not matter. */
uint64_t incident_content_hash(const struct incident *inc);

/* Field-by-field equality (attributes compared as sets), for tests. */
bool incident_equal(const struct incident *a, const struct incident *b);

#endif
