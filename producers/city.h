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

/* A timestamp read from one floating-timestamp column, or a date column plus a text time column.
 * The date column may also hold epoch milliseconds (ArcGIS date fields: an instant; with a time
 * column, only its date in the city's zone counts). TIME_H: the hour alone ("4", "23"). */
enum time_format { TIME_NONE = 0, TIME_HHMM, TIME_HH_MM_SS, TIME_HH_MM, TIME_H };
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

/* Where the rows come from (the city file's "source" object; absent: Socrata). */
struct city_source {
    char *kind;       /* "socrata", "arcgis" or "csv" */
    char *path;       /* arcgis: the layer's path; csv: the file's path with {year} */
    char *where;      /* arcgis: the query's where clause (default 1=1) */
    char *order_by;   /* arcgis: orderByFields (deterministic; the id fields' group first) */
    int page_size;    /* arcgis: resultRecordCount asked for (0: the producer's page_size) */
    int first_year;   /* csv: the first yearly file */
    char *repeat_key; /* rows with equal id values are numbered within runs of equal values of
                         this field (arcgis: EVENT_UNIQUE_ID), NULL: ids must be unique */
};

struct city {
    char *name, *title, *domain, *dataset, *time_zone;
    struct city_source source;
    const struct tz *tz; /* time_zone, read once (common/tz.h); shared, thread-safe */
    bool frozen;
    double bbox[4]; /* lat_min, lon_min, lat_max, lon_max */
    char **id_fields;
    size_t n_id_fields;
    char *report_id;
    struct city_time occurred_at, reported_at;
    struct city_time updated_at; /* the row's update time; field NULL: the kind's (Socrata's
                                    :updated_at, a snapshot kind's walk stamp "::stamp") */
    char *offense_code;
    char **offense_fields;
    size_t n_offense_fields;
    char *area, *beat, *address, *latitude, *longitude, *location, *arrest, *domestic;
    char *category_from, *crime_against_from; /* category_from: the first of category_fields */
    char **category_fields; /* the category field and its older names: the first present wins */
    size_t n_category_fields;
    char **unstable_fields; /* left out of attributes: the publisher renumbers them (OBJECTID) */
    size_t n_unstable_fields;
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
