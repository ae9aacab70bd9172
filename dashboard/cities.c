#include "dashboard/cities.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "producers/city.h"

struct cities {
    pthread_mutex_t lock;
    struct city_info c[CITIES_MAX];
    bool from_file[CITIES_MAX];
    size_t n;
    char (*only)[PARAM_CITY_MAX];
    size_t n_only;
};

static bool wanted(const struct cities *cs, const char *name)
{
    if (cs->n_only == 0) {
        return true;
    }
    for (size_t i = 0; i < cs->n_only; i++) {
        if (strcmp(cs->only[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct city_info *)a)->name, ((const struct city_info *)b)->name);
}

static long find(const struct cities *cs, const char *name)
{
    for (size_t i = 0; i < cs->n; i++) {
        if (strcmp(cs->c[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

struct cities *cities_new(const char *dir, const char *const *only, size_t n_only, char *errstr,
                          size_t errstr_size)
{
    struct cities *cs = calloc(1, sizeof(*cs));
    char **names = NULL;
    if (!cs || (n_only && !(cs->only = calloc(n_only, sizeof(*cs->only))))) {
        free(cs);
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&cs->lock, NULL);
    for (size_t i = 0; i < n_only; i++) {
        if (param_city_parse(only[i], cs->only[i], PARAM_CITY_MAX, errstr, errstr_size) != 0) {
            cities_destroy(cs);
            return NULL;
        }
    }
    cs->n_only = n_only;
    char why[256];
    names = city_names(dir, why, sizeof(why));
    if (!names) {
        log_warn("cities.no_files", "dir=%s error=%s note=%s", LQ(dir), LQ(why),
                 LQ("cities and zones come from the warehouse only"));
        return cs;
    }
    for (char **nm = names; *nm && cs->n < CITIES_MAX; nm++) {
        struct city *city = city_load(dir, *nm, why, sizeof(why));
        char name[PARAM_CITY_MAX];
        if (!city) {
            err_set(errstr, errstr_size, "city file %s: %s", *nm, why);
            city_names_free(names);
            cities_destroy(cs);
            return NULL;
        }
        if (param_city_parse(city->name, name, sizeof(name), NULL, 0) == 0 &&
            wanted(cs, city->name)) {
            struct city_info *ci = &cs->c[cs->n];
            snprintf(ci->name, sizeof(ci->name), "%s", city->name);
            /* "Chicago: Crimes - 2001 to Present" -> "Chicago" */
            snprintf(ci->title, sizeof(ci->title), "%.*s",
                     (int)strcspn(city->title ? city->title : city->name, ":"),
                     city->title ? city->title : city->name);
            snprintf(ci->time_zone, sizeof(ci->time_zone), "%s", city->time_zone);
            ci->has_bbox = true;
            memcpy(ci->bbox, city->bbox, sizeof(ci->bbox));
            cs->from_file[cs->n++] = true;
        }
        city_destroy(city);
    }
    city_names_free(names);
    qsort(cs->c, cs->n, sizeof(cs->c[0]), by_name); /* every entry is from a file here */
    return cs;
}

void cities_destroy(struct cities *cs)
{
    if (!cs) {
        return;
    }
    pthread_mutex_destroy(&cs->lock);
    free(cs->only);
    free(cs);
}

/* Every city with aggregates (a loose index scan: one probe per city, not a scan of the table),
 * with its zone and title from blotter.cities when it has a row there. */
static const char refresh_sql[] =
    "WITH RECURSIVE t(city) AS ("
    "  (SELECT city FROM blotter.agg_hourly ORDER BY city LIMIT 1)"
    "  UNION ALL"
    "  SELECT (SELECT a.city FROM blotter.agg_hourly a WHERE a.city > t.city ORDER BY a.city"
    "           LIMIT 1) FROM t WHERE t.city IS NOT NULL)"
    " SELECT t.city, c.time_zone, c.title, true FROM t LEFT JOIN blotter.cities c USING (city)"
    "  WHERE t.city IS NOT NULL"
    " UNION ALL"
    " SELECT c.city, c.time_zone, c.title, false FROM blotter.cities c";

enum err_class cities_refresh(struct cities *cs, PGconn *pg, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexec(pg, refresh_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        err_set(errstr, errstr_size, "cities: %s", PQerrorMessage(pg));
        PQclear(res);
        return ERR_TRANSIENT;
    }
    pthread_mutex_lock(&cs->lock);
    bool changed = false;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = PQgetvalue(res, r, 0);
        const char *zone = PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1);
        const char *title = PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2);
        bool has_data = PQgetvalue(res, r, 3)[0] == 't';
        char checked[PARAM_CITY_MAX];
        if (param_city_parse(name, checked, sizeof(checked), NULL, 0) != 0 || !wanted(cs, name)) {
            continue;
        }
        long i = find(cs, name);
        if (i >= 0) {
            if (!has_data && zone && cs->from_file[i] && strcmp(zone, cs->c[i].time_zone) != 0) {
                log_emit_limited(LOG_WARN, "cities.zone_mismatch", 3600,
                                 "city=%s file_zone=%s warehouse_zone=%s note=%s", name,
                                 cs->c[i].time_zone, zone,
                                 LQ("the dashboard uses the file's zone; blotter.hour_by_weekday "
                                    "uses blotter.cities: UPDATE blotter.cities"));
            }
            continue;
        }
        if (!has_data || cs->n >= CITIES_MAX) {
            continue; /* a row in blotter.cities alone does not make a city worth showing */
        }
        struct city_info *ci = &cs->c[cs->n];
        memset(ci, 0, sizeof(*ci));
        snprintf(ci->name, sizeof(ci->name), "%s", name);
        snprintf(ci->title, sizeof(ci->title), "%s", title ? title : name);
        snprintf(ci->time_zone, sizeof(ci->time_zone), "%s", zone ? zone : "UTC");
        cs->from_file[cs->n++] = false;
        changed = true;
        if (!zone) {
            log_warn("cities.no_zone", "city=%s note=%s", name,
                     LQ("no city file and no row in blotter.cities: local times shown in UTC"));
        }
    }
    if (changed) {
        /* Keep from_file in step with the sorted entries. */
        struct {
            struct city_info c;
            bool f;
        } tmp[CITIES_MAX];
        for (size_t i = 0; i < cs->n; i++) {
            tmp[i].c = cs->c[i];
            tmp[i].f = cs->from_file[i];
        }
        qsort(tmp, cs->n, sizeof(tmp[0]), by_name);
        for (size_t i = 0; i < cs->n; i++) {
            cs->c[i] = tmp[i].c;
            cs->from_file[i] = tmp[i].f;
        }
    }
    pthread_mutex_unlock(&cs->lock);
    PQclear(res);
    return ERR_OK;
}

bool cities_get(struct cities *cs, const char *name, struct city_info *out)
{
    pthread_mutex_lock(&cs->lock);
    long i = find(cs, name);
    if (i >= 0) {
        *out = cs->c[i];
    }
    pthread_mutex_unlock(&cs->lock);
    return i >= 0;
}

size_t cities_all(struct cities *cs, struct city_info *out, size_t max)
{
    pthread_mutex_lock(&cs->lock);
    size_t n = cs->n < max ? cs->n : max;
    memcpy(out, cs->c, n * sizeof(*out));
    pthread_mutex_unlock(&cs->lock);
    return n;
}
