/* A private, minimal reader of city files (producers/cities/<name>.json) for the local Socrata
 * server: only the keys the row generator needs. It stands in until producers/city.c lands; it
 * validates little (the producer's loader is the authority on the format).
 *
 * Every string is borrowed from the parsed file (root) and lives as long as the struct. */
#ifndef BLOTTER_SOCRATA_CITYFILE_H
#define BLOTTER_SOCRATA_CITYFILE_H

#include <jansson.h>
#include <stddef.h>

enum sc_time_format { SC_TIME_NONE = 0, SC_TIME_HHMM, SC_TIME_HH_MM_SS, SC_TIME_HH_MM };
enum sc_location_shape { SC_LOC_NONE = 0, SC_LOC_POINT, SC_LOC_LATLON, SC_LOC_LEGACY };

struct sc_time {
    const char *field;      /* NULL: the city has no such timestamp */
    const char *time_field; /* NULL unless the time of day is a separate text column */
    enum sc_time_format time_format;
};

struct sc_city {
    const char *name, *dataset, *time_zone;
    double bbox[4]; /* lat_min, lon_min, lat_max, lon_max */
    const char **id_fields;
    size_t n_id_fields;
    const char *report_id;
    struct sc_time occurred_at, reported_at;
    const char *offense_code, *area, *beat, *address, *latitude, *longitude, *location, *arrest,
        *domestic, *category_from, *crime_against_from;
    const char **categories; /* the source values (keys of "categories"), file order */
    size_t n_categories;
    const char **fields;
    size_t n_fields;
    /* generator hints */
    enum sc_location_shape location_shape;
    json_t *values;       /* generator.values object (borrowed) or NULL */
    const char *redacted; /* generator.redacted or NULL */
    int rows_per_report;  /* generator.rows_per_report: most rows sharing one report_id value
                             (consecutive rows), default 1 */
    json_t *root;
};

/* Load <dir>/<name>.json. NULL with a message in errstr on failure. */
struct sc_city *sc_city_load(const char *dir, const char *name, char *errstr, size_t errstr_size);
/* Parse a city from JSON text (tests). */
struct sc_city *sc_city_parse(const char *json, char *errstr, size_t errstr_size);
void sc_city_destroy(struct sc_city *city);

/* Names of the *.json files in dir, sorted, NULL-terminated; free with sc_city_names_free. */
char **sc_city_names(const char *dir, char *errstr, size_t errstr_size);
void sc_city_names_free(char **names);

#endif
