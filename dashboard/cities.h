/* The cities the dashboard shows, and each one's time zone. The city files (producers/cities/,
 * the one place a city is described) give name, title, zone and bounding box; the warehouse
 * adds cities that have data but no file here, with their zone from blotter.cities (UTC when
 * it has none). When a file and blotter.cities disagree on a zone, the file wins and a warning
 * says so (the view blotter.hour_by_weekday reads blotter.cities). Thread-safe. */
#ifndef BLOTTER_DASHBOARD_CITIES_H
#define BLOTTER_DASHBOARD_CITIES_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "dashboard/params.h"

#define CITIES_MAX 256

struct city_info {
    char name[PARAM_CITY_MAX];
    char title[128];
    char time_zone[64];
    bool has_bbox;
    double bbox[4]; /* lat_min, lon_min, lat_max, lon_max */
};

struct cities;

/* Read every city file of dir (a missing folder is not an error: the warehouse then names the
 * cities). only[0..n_only): show just these (the --city option); empty: all. */
struct cities *cities_new(const char *dir, const char *const *only, size_t n_only, char *errstr,
                          size_t errstr_size);
void cities_destroy(struct cities *cs);

/* Add the warehouse's cities (blotter.cities, and every city with rows in agg_hourly). */
enum err_class cities_refresh(struct cities *cs, PGconn *pg, char *errstr, size_t errstr_size);

/* A copy of the city; false when unknown. */
bool cities_get(struct cities *cs, const char *name, struct city_info *out);
/* Copies of every city, sorted by name; returns how many (at most max). */
size_t cities_all(struct cities *cs, struct city_info *out, size_t max);

#endif
