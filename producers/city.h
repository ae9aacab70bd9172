/* A city file (producers/cities/<name>.json, see producers/cities/README.md) in memory: read by
 * the producer and by the local test server alike. No I/O besides reading the file (and the
 * city's zone, common/tz.h) in city_load. The mapping of a row is in city_map.h. */
#ifndef BLOTTER_CITY_H
#define BLOTTER_CITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/incident.h"
#include "common/tz.h"

/* A timestamp read from one floating-timestamp column, or a date column plus a text time column. */
enum time_format { TIME_NONE = 0, TIME_HHMM, TIME_HH_MM_SS, TIME_HH_MM };
struct city_time {
    char *field;      /* NULL: the city has no such timestamp */
    char *time_field; /* NULL unless the time of day is in a separate column */
    enum time_format time_format;
};

enum location_shape { LOC_NONE = 0, LOC_POINT, LOC_LATLON, LOC_LEGACY };

struct city_category {
    char *source;         /* upper case */
    const char *category; /* points into the shared vocabulary */
};

struct city {
    char *name, *title, *domain, *dataset, *time_zone;
    const struct tz *tz; /* time_zone, read once (common/tz.h); shared, thread-safe */
    bool frozen;
    double bbox[4]; /* lat_min, lon_min, lat_max, lon_max */
    char **id_fields;
    size_t n_id_fields;
    char *report_id;
    struct city_time occurred_at, reported_at;
    char *offense_code;
    char **offense_fields;
    size_t n_offense_fields;
    char *area, *beat, *address, *latitude, *longitude, *location, *arrest, *domestic;
    char *category_from, *crime_against_from;
    struct city_category *categories;
    size_t n_categories;
    char **fields; /* expected data fields */
    size_t n_fields;
    json_t *generator; /* "generator" object (borrowed by the local server), or NULL */
    json_t *root;      /* the parsed file */
};

/* Load and validate producers/cities/<name>.json under dir. NULL with errstr on failure
 * (missing file, bad JSON, unknown category, unknown time zone, missing required key). */
struct city *city_load(const char *dir, const char *name, char *errstr, size_t errstr_size);
void city_destroy(struct city *city);

/* Names of every city file in dir (sorted, NULL-terminated, caller frees with city_names_free). */
char **city_names(const char *dir, char *errstr, size_t errstr_size);
void city_names_free(char **names);

#endif
