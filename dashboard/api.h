/* The JSON API under /api/v1/ (and the CSV export). Each endpoint validates its parameters
 * (params.h), runs one parameterised query on a pooled connection and answers; the SQL is
 * fixed text chosen from a small table, never built from the request. Aggregates (summary,
 * breakdown by category/area, trend, heatmap, compare) read blotter.agg_hourly and
 * blotter.city_stats; breakdown by crime_against/offense and the incident lists read
 * blotter.incidents through its (city, occurred_at) index.
 *
 *   summary                                         one entry per city
 *   breakdown?city=&by=&from=&to=&category=&limit=  counts by category|crime_against|area|offense
 *   trend?city=&bucket=&from=&to=&category=         counts per hour|day|week|month|year, local
 *   heatmap?city=&from=&to=&category=               local hour of day by ISO weekday
 *   compare?cities=&from=&to=                       cities side by side per category
 *   incidents?city=&category=&from=&to=&bbox=&limit=&cursor=   newest first, keyset-paged
 *   incidents.csv?...                               the same rows as CSV (up to 100000)
 *
 * Times: ISO 8601; with Z or an offset an instant, without a zone the wall time of each city.
 * The aggregate endpoints widen [from, to) to whole hours (agg_hourly's grain) and echo the
 * range they used. Unknown parameters and bad values are answered 400 with
 * {"error": "...", "parameter": "<name>"}. */
#ifndef BLOTTER_DASHBOARD_API_H
#define BLOTTER_DASHBOARD_API_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dashboard/cities.h"
#include "dashboard/db.h"

#define API_MAX_ARGS 32

struct api_args {
    size_t n;
    const char *name[API_MAX_ARGS];
    const char *value[API_MAX_ARGS];
    bool too_many;
};

/* Answers are cached briefly: the same request within cache_ms, with no batch committed since
 * (api_invalidate), is answered from memory. Every viewer of a view then costs the warehouse one
 * query per change, not one per viewer and refresh. Direct-mapped, bodies up to 64 KB.
 * Single flight: while one request recomputes an answer, the others asking for it wait for that
 * answer instead of querying too; an answer that only aged past cache_ms (no batch committed
 * since) is served as it is to them meanwhile. An answer a commit made stale is never served. */
#define API_CACHE_SLOTS    256
#define API_CACHE_MAX_BODY (64 * 1024)

struct api_cache_entry {
    char *key;
    char *body;
    size_t len;
    unsigned long generation;
    int64_t at_ms;
    bool refreshing; /* one request is computing this key's answer */
};

struct api {
    struct db_pool *db;
    struct cities *cities;
    long wait_ms;  /* longest wait for a free connection */
    long cache_ms; /* 0: no cache */
    _Atomic unsigned long generation;
    pthread_mutex_t cache_lock;
    pthread_cond_t cache_done; /* a refresh finished */
    struct api_cache_entry cache[API_CACHE_SLOTS];
};

void api_init(struct api *api, struct db_pool *db, struct cities *cities, long cache_ms);
void api_cleanup(struct api *api);
/* A batch committed (or the feed had a gap): cached answers are stale. Thread-safe. */
void api_invalidate(struct api *api);

struct api_csv;

struct api_reply {
    unsigned status;
    const char *type; /* Content-Type */
    char *body;       /* malloc'ed */
    size_t len;
    struct api_csv *csv; /* set instead of body for incidents.csv: stream with api_csv_read */
};

/* Answer GET /api/v1/<endpoint>. Always fills out (errors too); the caller frees out->body or
 * streams and frees out->csv. */
void api_handle(struct api *api, const char *endpoint, const struct api_args *args,
                struct api_reply *out);

/* The next bytes of a CSV export: > 0 bytes, 0 at the end, -1 on a failure midway (the
 * response is cut short; the log says why). Fetches pages of rows as needed. */
ssize_t api_csv_read(struct api_csv *csv, char *buf, size_t max);
void api_csv_free(struct api_csv *csv);

#endif
