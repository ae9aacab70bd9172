#define _GNU_SOURCE
#include "dashboard/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "producers/city.h"

/* ---- SQL ---- */

/* The range of an aggregate query, per city: [lo, hi) widened to whole hours.
 *   $1 cities text[]  $2 zones text[]  $3/$4 from (instant / local wall time)
 *   $5/$6 to (instant / local)  $7 default span (interval) before `to` */
#define RANGE_CTE                                                                                  \
    "WITH r AS ("                                                                                  \
    " SELECT u.city, u.tz,"                                                                        \
    "  date_trunc('hour', coalesce($3::timestamptz, $4::timestamp AT TIME ZONE u.tz,"              \
    "                              u.t_to - $7::interval), 'UTC') AS lo,"                          \
    "  date_trunc('hour', u.t_to - interval '1 microsecond', 'UTC') + interval '1 hour' AS hi"     \
    " FROM (SELECT z.city, z.tz,"                                                                  \
    "              coalesce($5::timestamptz, $6::timestamp AT TIME ZONE z.tz, now()) AS t_to"      \
    "         FROM unnest($1::text[], $2::text[]) AS z(city, tz)) u)"

#define ISO_Z  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
#define ISO_US "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
/* The range used, for the answer. */
#define RANGE_ECHO                                                                                 \
    "'from', (SELECT to_char(min(lo) AT TIME ZONE 'UTC', " ISO_Z ") FROM r),"                      \
    "'to', (SELECT to_char(max(hi) AT TIME ZONE 'UTC', " ISO_Z ") FROM r)"

#define AGG_JOIN                                                                                   \
    " FROM r JOIN blotter.agg_hourly a ON a.city = r.city AND a.hour >= r.lo AND a.hour < r.hi"    \
    " WHERE ($8::text IS NULL OR a.category = $8)"
#define INC_JOIN                                                                                   \
    " FROM r JOIN blotter.incidents i ON i.city = r.city AND i.occurred_at >= r.lo"                \
    "  AND i.occurred_at < r.hi WHERE ($8::text IS NULL OR i.category = $8)"

/* $8 category, $9 limit. */
#define BREAKDOWN_SQL(KEY, SUM, JOIN)                                                              \
    RANGE_CTE ", g AS (SELECT " KEY " AS key, " SUM " AS n" JOIN " GROUP BY 1),"                   \
              " t AS (SELECT key, n, row_number() OVER (ORDER BY n DESC, key) AS rk FROM g)"       \
              " SELECT json_build_object("                                                         \
              "  'rows', coalesce((SELECT json_agg(json_build_object('key', key, 'incidents', n)"  \
              "                    ORDER BY rk) FROM t WHERE rk <= $9), '[]'::json),"              \
              "  'keys', (SELECT count(*) FROM g), 'total', (SELECT coalesce(sum(n), 0) FROM "     \
              "g)," RANGE_ECHO ")"

static const char *const breakdown_sql[] = {
    BREAKDOWN_SQL("a.category", "sum(a.incidents)::bigint", AGG_JOIN),
    BREAKDOWN_SQL("i.crime_against", "count(*)::bigint", INC_JOIN),
    BREAKDOWN_SQL("a.area", "sum(a.incidents)::bigint", AGG_JOIN),
    BREAKDOWN_SQL("coalesce(i.offense, '')", "count(*)::bigint", INC_JOIN),
};
static const char breakdown_by[] = "category|crime_against|area|offense";

/* $8 category, $9 date_trunc field, $10 step, $11 label format. Buckets are the cities' local
 * time; every bucket of the range is listed, empty ones with 0. previous_total: the same span
 * just before. */
static const char trend_sql[] = RANGE_CTE
    ","
    " g AS (SELECT date_trunc($9, a.hour AT TIME ZONE r.tz) AS b, sum(a.incidents)::bigint AS "
    "n" AGG_JOIN " GROUP BY 1),"
    " s AS (SELECT generate_series(date_trunc($9, min(r.lo AT TIME ZONE r.tz)),"
    "                              max(r.hi AT TIME ZONE r.tz) - interval '1 microsecond',"
    "                              $10::interval) AS b FROM r),"
    " p AS (SELECT coalesce(sum(a.incidents), 0)::bigint AS n"
    "         FROM r JOIN blotter.agg_hourly a ON a.city = r.city"
    "          AND a.hour >= r.lo - (r.hi - r.lo) AND a.hour < r.lo"
    "        WHERE ($8::text IS NULL OR a.category = $8))"
    " SELECT json_build_object("
    "  'points', coalesce((SELECT json_agg(json_build_object('t', to_char(s.b, $11),"
    "                       'incidents', coalesce(g.n, 0)) ORDER BY s.b)"
    "                      FROM s LEFT JOIN g ON g.b = s.b), '[]'::json),"
    "  'total', (SELECT coalesce(sum(n), 0) FROM g), 'previous_total', (SELECT n FROM "
    "p)," RANGE_ECHO ")";

static const char *const trend_buckets[] = {"hour", "day", "week", "month", "year"};
static const char *const trend_steps[] = {"1 hour", "1 day", "7 days", "1 month", "1 year"};
static const char *const trend_labels[] = {"YYYY-MM-DD\"T\"HH24:00", "YYYY-MM-DD", "YYYY-MM-DD",
                                           "YYYY-MM", "YYYY"};
static const char *const trend_default_span[] = {"48 hours", "30 days", "182 days", "730 days",
                                                 "3650 days"};
static const long trend_step_s[] = {3600, 86400, 7 * 86400, 28 * 86400, 365 * 86400};
#define TREND_MAX_POINTS 20000

/* $8 category. 168 cells, empty ones with 0. */
static const char heatmap_sql[] =
    RANGE_CTE ","
              " g AS (SELECT extract(isodow FROM a.hour AT TIME ZONE r.tz)::integer AS wd,"
              "              extract(hour FROM a.hour AT TIME ZONE r.tz)::integer AS hr,"
              "              sum(a.incidents)::bigint AS n" AGG_JOIN " GROUP BY 1, 2)"
              " SELECT json_build_object("
              "  'cells', (SELECT json_agg(json_build_object('weekday', d, 'hour', h,"
              "                            'incidents', coalesce(g.n, 0)) ORDER BY d, h)"
              "              FROM generate_series(1, 7) AS d CROSS JOIN generate_series(0, 23) AS h"
              "              LEFT JOIN g ON g.wd = d AND g.hr = h),"
              "  'total', (SELECT coalesce(sum(n), 0) FROM g)," RANGE_ECHO ")";

/* $8 unused (category NULL), $9 the vocabulary text[]. */
static const char compare_sql[] = RANGE_CTE
    ","
    " g AS (SELECT a.city, a.category, sum(a.incidents)::bigint AS n" AGG_JOIN " GROUP BY 1, 2),"
    " t AS (SELECT city, sum(n)::bigint AS total FROM g GROUP BY city)"
    " SELECT json_build_object("
    "  'categories', to_json($9::text[]),"
    "  'cities', coalesce((SELECT json_agg(json_build_object("
    "     'city', r.city, 'total', coalesce(t.total, 0),"
    "     'categories', (SELECT json_object_agg(v.cat, json_build_object("
    "          'incidents', coalesce(g.n, 0),"
    "          'share', CASE WHEN coalesce(t.total, 0) = 0 THEN 0"
    "                        ELSE round(coalesce(g.n, 0)::numeric / t.total, 4) END) ORDER BY "
    "v.ord)"
    "        FROM unnest($9::text[]) WITH ORDINALITY AS v(cat, ord)"
    "        LEFT JOIN g ON g.city = r.city AND g.category = v.cat)) ORDER BY r.city)"
    "   FROM r LEFT JOIN t ON t.city = r.city), '[]'::json)," RANGE_ECHO ")";

/* $1 cities, $2 zones, $3 titles, $4 bounding boxes {"city": [..]} (json). */
static const char summary_sql[] =
    "SELECT json_build_object("
    " 'generated_at', to_char(now() AT TIME ZONE 'UTC', " ISO_Z "),"
    " 'cities', coalesce(json_agg(json_build_object("
    "   'city', z.city, 'title', z.title, 'time_zone', z.tz, 'bbox', $4::json -> z.city,"
    "   'incidents', coalesce(s.incidents, 0), 'last_24h', d.n24, 'last_7d', d.n7,"
    "   'newest_occurred_at', to_char(o.newest AT TIME ZONE 'UTC', " ISO_Z "),"
    "   'oldest_occurred_at', to_char(o.oldest AT TIME ZONE 'UTC', " ISO_Z "),"
    "   'newest_source_updated_at', to_char(s.newest_source_updated_at AT TIME ZONE 'UTC', " ISO_US
    "),"
    "   'last_write_at', to_char(s.last_write_at AT TIME ZONE 'UTC', " ISO_US "))"
    "   ORDER BY z.city), '[]'::json))"
    " FROM unnest($1::text[], $2::text[], $3::text[]) AS z(city, tz, title)"
    " LEFT JOIN blotter.city_stats s ON s.city = z.city"
    " CROSS JOIN LATERAL (SELECT"
    "    coalesce(sum(a.incidents) FILTER (WHERE a.hour > now() - interval '24 hours'), 0)::bigint"
    "      AS n24,"
    "    coalesce(sum(a.incidents), 0)::bigint AS n7"
    "    FROM blotter.agg_hourly a WHERE a.city = z.city AND a.hour > now() - interval '7 days') d"
    " CROSS JOIN LATERAL (SELECT (SELECT max(i.occurred_at) FROM blotter.incidents i"
    "                              WHERE i.city = z.city) AS newest,"
    "                            (SELECT min(i.occurred_at) FROM blotter.incidents i"
    "                              WHERE i.city = z.city) AS oldest) o";

/* $1 cities $2 zones $3/$4 from $5/$6 to $7 category $8..$11 bbox $12..$14 cursor $15 limit.
 * Newest first by (occurred_at, city, incident_id); each city's rows come from its own index
 * scan, merged. */
static const char incidents_sql[] =
    "SELECT x.city, x.incident_id, x.report_id,"
    " to_char(x.occurred_at AT TIME ZONE 'UTC', " ISO_Z "),"
    " to_char(x.occurred_at AT TIME ZONE z.tz, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    " to_char(x.reported_at AT TIME ZONE 'UTC', " ISO_Z "),"
    " to_char(x.source_updated_at AT TIME ZONE 'UTC', " ISO_US "),"
    " to_char(x.ingested_at AT TIME ZONE 'UTC', " ISO_US "),"
    " x.offense_code, x.offense, x.category, x.crime_against, x.area, x.beat, x.address,"
    " x.latitude, x.longitude, x.arrest, x.domestic,"
    " (extract(epoch FROM x.occurred_at) * 1000000)::bigint"
    " FROM unnest($1::text[], $2::text[]) AS z(city, tz)"
    " CROSS JOIN LATERAL ("
    "  SELECT i.* FROM blotter.incidents i"
    "   WHERE i.city = z.city"
    "     AND i.occurred_at >= coalesce($3::timestamptz, $4::timestamp AT TIME ZONE z.tz,"
    "                                   '-infinity'::timestamptz)"
    "     AND i.occurred_at < coalesce($5::timestamptz, $6::timestamp AT TIME ZONE z.tz,"
    "                                  'infinity'::timestamptz)"
    "     AND ($7::text IS NULL OR i.category = $7)"
    "     AND ($8::float8 IS NULL OR (i.latitude BETWEEN $8 AND $10"
    "                                 AND i.longitude BETWEEN $9 AND $11))"
    "     AND ($12::timestamptz IS NULL OR (i.occurred_at <= $12"
    "          AND (i.occurred_at, i.city, i.incident_id) < ($12, $13::text, $14::text)))"
    "   ORDER BY i.occurred_at DESC, i.incident_id DESC LIMIT $15) x"
    " ORDER BY x.occurred_at DESC, x.city DESC, x.incident_id DESC LIMIT $15";

enum inc_col {
    C_CITY,
    C_ID,
    C_REPORT,
    C_OCCURRED,
    C_LOCAL,
    C_REPORTED,
    C_UPDATED,
    C_INGESTED,
    C_OFFENSE_CODE,
    C_OFFENSE,
    C_CATEGORY,
    C_AGAINST,
    C_AREA,
    C_BEAT,
    C_ADDRESS,
    C_LAT,
    C_LON,
    C_ARREST,
    C_DOMESTIC,
    C_OCCURRED_US,
    C__COUNT
};
static const char *const inc_names[C__COUNT] = {
    "city",        "incident_id",       "report_id",   "occurred_at",  "occurred_local",
    "reported_at", "source_updated_at", "ingested_at", "offense_code", "offense",
    "category",    "crime_against",     "area",        "beat",         "address",
    "latitude",    "longitude",         "arrest",      "domestic",     NULL};

#define INC_PARAMS 15
#define CSV_PAGE   2000

/* ---- Metrics ---- */

static struct metric *m_requests(const char *endpoint, unsigned status)
{
    char labels[128];
    snprintf(labels, sizeof(labels), "endpoint=\"%s\",code=\"%u\"", endpoint, status);
    return metric_counter("blotter_dashboard_api_requests_total", "API requests answered", labels);
}

/* ---- Request parsing ---- */

struct req {
    const struct api_args *a;
    const char *bad_param;
    char msg[256];
    struct city_info cities[CITIES_MAX];
    size_t n_cities;
    const char *city;     /* the city= given, or NULL for all */
    const char *category; /* NULL for all */
    struct param_time from, to;
    /* Parameters of the query, as text. */
    char *cities_arr, *zones_arr, *titles_arr;
};

static void req_free(struct req *r)
{
    free(r->cities_arr);
    free(r->zones_arr);
    free(r->titles_arr);
    r->cities_arr = r->zones_arr = r->titles_arr = NULL;
}

static bool fail_param(struct req *r, const char *param, const char *msg)
{
    if (!r->bad_param) {
        r->bad_param = param;
        snprintf(r->msg, sizeof(r->msg), "%s", msg);
    }
    return false;
}

/* The value of a parameter (the last one given, empty counts as absent). */
static const char *arg(const struct req *r, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < r->a->n; i++) {
        if (strcmp(r->a->name[i], name) == 0 && r->a->value[i] && *r->a->value[i]) {
            v = r->a->value[i];
        }
    }
    return v;
}

/* Every parameter given is one the endpoint knows. allowed: "a|b|c". */
static bool known_params(struct req *r, const char *allowed)
{
    if (r->a->too_many) {
        return fail_param(r, "", "too many parameters");
    }
    for (size_t i = 0; i < r->a->n; i++) {
        int idx;
        if (param_choice_parse(r->a->name[i], allowed, &idx, NULL, 0) != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "unknown parameter (this endpoint takes %s)", allowed);
            return fail_param(r, r->a->name[i], msg);
        }
    }
    return true;
}

/* A text[] literal of one field of the cities: {"a","b"} with quotes and backslashes escaped. */
static char *text_array(const struct city_info *c, size_t n, size_t field_offset)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++) {
        cap += 2 * strlen((const char *)&c[i] + field_offset) + 3;
    }
    char *out = malloc(cap), *o = out;
    if (!out) {
        return NULL;
    }
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        const char *s = (const char *)&c[i] + field_offset;
        if (i) {
            *o++ = ',';
        }
        *o++ = '"';
        for (; *s; s++) {
            if (*s == '"' || *s == '\\') {
                *o++ = '\\';
            }
            *o++ = *s;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* The cities of the request: city= (one), cities= (a list), or every city when absent. */
static bool parse_cities(struct req *r, struct api *api, const char *param, bool list)
{
    const char *v = arg(r, param);
    char names[PARAM_LIST_MAX][PARAM_CITY_MAX];
    size_t n = 0;
    char msg[256];
    if (!v) {
        r->n_cities = cities_all(api->cities, r->cities, CITIES_MAX);
    } else if (list ? param_city_list_parse(v, names, PARAM_LIST_MAX, &n, msg, sizeof(msg)) != 0
                    : param_city_parse(v, names[0], PARAM_CITY_MAX, msg, sizeof(msg)) != 0) {
        return fail_param(r, param, msg);
    } else {
        n = list ? n : 1;
        for (size_t i = 0; i < n; i++) {
            if (!cities_get(api->cities, names[i], &r->cities[r->n_cities])) {
                snprintf(msg, sizeof(msg), "unknown city '%s'", names[i]);
                return fail_param(r, param, msg);
            }
            r->n_cities++;
        }
        r->city = list ? NULL : v;
    }
    r->cities_arr = text_array(r->cities, r->n_cities, offsetof(struct city_info, name));
    r->zones_arr = text_array(r->cities, r->n_cities, offsetof(struct city_info, time_zone));
    r->titles_arr = text_array(r->cities, r->n_cities, offsetof(struct city_info, title));
    if (!r->cities_arr || !r->zones_arr || !r->titles_arr) {
        return fail_param(r, "", "out of memory");
    }
    return true;
}

static bool parse_category(struct req *r)
{
    const char *v = arg(r, "category");
    char msg[256];
    if (v && param_category_parse(v, &r->category, msg, sizeof(msg)) != 0) {
        return fail_param(r, "category", msg);
    }
    return true;
}

static bool parse_time(struct req *r, const char *name, struct param_time *t)
{
    const char *v = arg(r, name);
    char msg[256];
    if (v && param_time_parse(v, t, msg, sizeof(msg)) != 0) {
        return fail_param(r, name, msg);
    }
    return true;
}

static bool parse_range(struct req *r)
{
    if (!parse_time(r, "from", &r->from) || !parse_time(r, "to", &r->to)) {
        return false;
    }
    int64_t span;
    if (param_time_span_s(&r->from, &r->to, &span) && span <= 0) {
        return fail_param(r, "to", "to must be later than from");
    }
    return true;
}

static bool parse_long(struct req *r, const char *name, long lo, long hi, long def, long *out)
{
    const char *v = arg(r, name);
    char msg[256];
    *out = def;
    if (v && param_long_parse(v, lo, hi, out, msg, sizeof(msg)) != 0) {
        return fail_param(r, name, msg);
    }
    return true;
}

static bool parse_choice(struct req *r, const char *name, const char *choices, int def, int *out)
{
    const char *v = arg(r, name);
    char msg[256];
    *out = def;
    if (v && param_choice_parse(v, choices, out, msg, sizeof(msg)) != 0) {
        return fail_param(r, name, msg);
    }
    return true;
}

/* ---- Replies ---- */

static void reply(struct api_reply *out, unsigned status, const char *type, char *body)
{
    out->status = status;
    out->type = type;
    out->body = body;
    out->len = body ? strlen(body) : 0;
    out->csv = NULL;
}

static void reply_error(struct api_reply *out, unsigned status, const char *param, const char *msg)
{
    reply(out, status, "application/json", param_error_json(param, msg));
}

static void reply_bad(struct api_reply *out, const struct req *r)
{
    reply_error(out, 400, r->bad_param, r->msg);
}

/* The request's parameters as the answer echoes them. */
static json_t *echo(const struct req *r)
{
    json_t *e = json_object();
    json_object_set_new(e, "city", r->city ? json_string(r->city) : json_null());
    json_object_set_new(e, "category", r->category ? json_string(r->category) : json_null());
    return e;
}

/* {echo..., sql...}: two JSON objects' members in one object. */
static char *merge_objects(json_t *e, const char *sql_json)
{
    char *a = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *out = NULL;
    if (a) {
        size_t la = strlen(a), lb = strlen(sql_json);
        bool a_empty = la <= 2, b_empty = lb <= 2;
        out = malloc(la + lb + 4);
        if (out) {
            memcpy(out, a, la - 1); /* without its '}' */
            size_t o = la - 1;
            if (!a_empty && !b_empty) {
                out[o++] = ',';
            }
            memcpy(out + o, sql_json + 1, lb - 1); /* without its '{' */
            o += lb - 1;
            out[o++] = '\n';
            out[o] = '\0';
        }
    }
    free(a);
    return out;
}

/* Run a query answering one JSON value; reply with it merged into e (which is consumed). */
static void run_json(struct api *api, const char *endpoint, const char *sql, int nparams,
                     const char *const *params, json_t *e, struct api_reply *out)
{
    enum err_class cls = ERR_OK;
    char errstr[512];
    PGconn *pg = db_acquire(api->db, api->wait_ms, &cls, errstr, sizeof(errstr));
    PGresult *res = pg ? db_query(pg, sql, nparams, params, &cls, errstr, sizeof(errstr)) : NULL;
    if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        char *body = merge_objects(e, PQgetvalue(res, 0, 0));
        if (body) {
            reply(out, 200, "application/json", body);
        } else {
            reply_error(out, 500, "", "out of memory");
        }
    } else if (cls == ERR_TRANSIENT) {
        log_emit_limited(LOG_WARN, "api.unavailable", 10, "endpoint=%s error=%s", endpoint,
                         LQ(errstr));
        reply_error(out, 503, "", "the warehouse is unavailable; retry shortly");
    } else {
        log_emit_limited(LOG_ERROR, "api.query_failed", 10, "endpoint=%s error=%s", endpoint,
                         LQ(res ? "no row" : errstr));
        reply_error(out, 500, "", "query failed (see the dashboard's log)");
    }
    PQclear(res);
    if (pg) {
        db_release(api->db, pg, PQstatus(pg) != CONNECTION_OK);
    }
    json_decref(e);
}

static const char *range_text(const struct param_time *t, bool local)
{
    return t->set && t->local == local ? t->text : NULL;
}

/* ---- Endpoints ---- */

static void do_summary(struct api *api, struct req *r, struct api_reply *out)
{
    if (!known_params(r, "city") || !parse_cities(r, api, "city", false)) {
        reply_bad(out, r);
        return;
    }
    json_t *boxes = json_object();
    for (size_t i = 0; i < r->n_cities; i++) {
        const struct city_info *c = &r->cities[i];
        json_object_set_new(
            boxes, c->name,
            c->has_bbox ? json_pack("[ffff]", c->bbox[0], c->bbox[1], c->bbox[2], c->bbox[3])
                        : json_null());
    }
    char *boxes_text = json_dumps(boxes, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(boxes);
    const char *params[] = {r->cities_arr, r->zones_arr, r->titles_arr, boxes_text};
    run_json(api, "summary", summary_sql, 4, params, json_object(), out);
    free(boxes_text);
}

static void do_breakdown(struct api *api, struct req *r, struct api_reply *out)
{
    int by;
    long limit;
    if (!known_params(r, "city|by|from|to|category|limit") ||
        !parse_cities(r, api, "city", false) || !parse_choice(r, "by", breakdown_by, 0, &by) ||
        !parse_range(r) || !parse_category(r) || !parse_long(r, "limit", 1, 1000, 20, &limit)) {
        reply_bad(out, r);
        return;
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[] = {r->cities_arr,
                            r->zones_arr,
                            range_text(&r->from, false),
                            range_text(&r->from, true),
                            range_text(&r->to, false),
                            range_text(&r->to, true),
                            "30 days",
                            r->category,
                            lim};
    json_t *e = echo(r);
    static const char *const by_names[] = {"category", "crime_against", "area", "offense"};
    json_object_set_new(e, "by", json_string(by_names[by]));
    run_json(api, "breakdown", breakdown_sql[by], 9, params, e, out);
}

static void do_trend(struct api *api, struct req *r, struct api_reply *out)
{
    int b;
    if (!known_params(r, "city|bucket|from|to|category") || !parse_cities(r, api, "city", false) ||
        !parse_choice(r, "bucket", "hour|day|week|month|year", 1, &b) || !parse_range(r) ||
        !parse_category(r)) {
        reply_bad(out, r);
        return;
    }
    /* Bound the series: wall times read as UTC are within a day of the instants. */
    int64_t to_us = r->to.set ? r->to.us : now_us();
    int64_t from_us = r->from.set ? r->from.us : to_us;
    if ((to_us - from_us) / 1000000 / trend_step_s[b] > TREND_MAX_POINTS) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the range holds more than %d %ss; choose a larger bucket",
                 TREND_MAX_POINTS, trend_buckets[b]);
        fail_param(r, "bucket", msg);
        reply_bad(out, r);
        return;
    }
    const char *params[] = {r->cities_arr,
                            r->zones_arr,
                            range_text(&r->from, false),
                            range_text(&r->from, true),
                            range_text(&r->to, false),
                            range_text(&r->to, true),
                            trend_default_span[b],
                            r->category,
                            trend_buckets[b],
                            trend_steps[b],
                            trend_labels[b]};
    json_t *e = echo(r);
    json_object_set_new(e, "bucket", json_string(trend_buckets[b]));
    run_json(api, "trend", trend_sql, 11, params, e, out);
}

static void do_heatmap(struct api *api, struct req *r, struct api_reply *out)
{
    if (!known_params(r, "city|from|to|category") || !parse_cities(r, api, "city", false) ||
        !parse_range(r) || !parse_category(r)) {
        reply_bad(out, r);
        return;
    }
    const char *params[] = {r->cities_arr,
                            r->zones_arr,
                            range_text(&r->from, false),
                            range_text(&r->from, true),
                            range_text(&r->to, false),
                            range_text(&r->to, true),
                            "90 days",
                            r->category};
    run_json(api, "heatmap", heatmap_sql, 8, params, echo(r), out);
}

static void do_compare(struct api *api, struct req *r, struct api_reply *out)
{
    if (!known_params(r, "cities|from|to") || !parse_cities(r, api, "cities", true) ||
        !parse_range(r)) {
        reply_bad(out, r);
        return;
    }
    struct city_info vocab[32];
    size_t nv = 0;
    for (const char *const *v = vocab_categories; *v && nv < 32; v++, nv++) {
        snprintf(vocab[nv].name, sizeof(vocab[nv].name), "%s", *v);
    }
    char *vocab_arr = text_array(vocab, nv, offsetof(struct city_info, name));
    const char *params[] = {r->cities_arr,
                            r->zones_arr,
                            range_text(&r->from, false),
                            range_text(&r->from, true),
                            range_text(&r->to, false),
                            range_text(&r->to, true),
                            "30 days",
                            NULL,
                            vocab_arr};
    json_t *e = json_object();
    run_json(api, "compare", compare_sql, 9, params, e, out);
    free(vocab_arr);
}

/* ---- Incidents (JSON and CSV) ---- */

struct inc_query {
    char *text[INC_PARAMS]; /* owned copies, NULL for SQL NULL */
    long limit;
};

static void inc_query_free(struct inc_query *q)
{
    for (int i = 0; i < INC_PARAMS; i++) {
        free(q->text[i]);
        q->text[i] = NULL;
    }
}

static void set_text(struct inc_query *q, int i, const char *v)
{
    free(q->text[i]);
    q->text[i] = v ? strdup(v) : NULL;
}

static void ts_text(int64_t us, char *buf, size_t n)
{
    struct civil_time ct;
    us_to_civil(us, &ct);
    snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", ct.year, ct.month, ct.day, ct.hour,
             ct.minute, ct.second, ct.micros);
}

static void set_cursor(struct inc_query *q, const struct param_cursor *c)
{
    char ts[40];
    if (!c->set) {
        set_text(q, 11, NULL);
        set_text(q, 12, NULL);
        set_text(q, 13, NULL);
        return;
    }
    ts_text(c->occurred_us, ts, sizeof(ts));
    set_text(q, 11, ts);
    set_text(q, 12, c->city);
    set_text(q, 13, c->incident_id);
}

static void set_limit(struct inc_query *q, long limit)
{
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    set_text(q, 14, lim);
}

/* Parse the incidents parameters into q (limit: default and most allowed). */
static bool parse_incidents(struct api *api, struct req *r, struct inc_query *q, long def_limit,
                            long max_limit)
{
    double bbox[4];
    struct param_cursor cur = {0};
    char msg[256];
    if (!known_params(r, "city|category|from|to|bbox|limit|cursor") ||
        !parse_cities(r, api, "city", false) || !parse_category(r) || !parse_range(r) ||
        !parse_long(r, "limit", 1, max_limit, def_limit, &q->limit)) {
        return false;
    }
    const char *b = arg(r, "bbox"), *c = arg(r, "cursor");
    if (b && param_bbox_parse(b, bbox, msg, sizeof(msg)) != 0) {
        return fail_param(r, "bbox", msg);
    }
    if (c && param_cursor_parse(c, &cur, msg, sizeof(msg)) != 0) {
        return fail_param(r, "cursor", msg);
    }
    set_text(q, 0, r->cities_arr);
    set_text(q, 1, r->zones_arr);
    set_text(q, 2, range_text(&r->from, false));
    set_text(q, 3, range_text(&r->from, true));
    set_text(q, 4, range_text(&r->to, false));
    set_text(q, 5, range_text(&r->to, true));
    set_text(q, 6, r->category);
    for (int i = 0; i < 4 && b; i++) {
        char num[40];
        snprintf(num, sizeof(num), "%.17g", bbox[i]);
        set_text(q, 7 + i, num);
    }
    set_cursor(q, &cur);
    set_limit(q, q->limit);
    return true;
}

/* One page of rows, or NULL with the reply already set for the failure (csv: logged only). */
static PGresult *inc_fetch(struct api *api, struct inc_query *q, enum err_class *cls, char *errstr,
                           size_t n)
{
    PGconn *pg = db_acquire(api->db, api->wait_ms, cls, errstr, n);
    if (!pg) {
        return NULL;
    }
    PGresult *res =
        db_query(pg, incidents_sql, INC_PARAMS, (const char *const *)q->text, cls, errstr, n);
    db_release(api->db, pg, PQstatus(pg) != CONNECTION_OK);
    return res;
}

static json_t *inc_row_json(PGresult *res, int row)
{
    json_t *o = json_object();
    for (int c = 0; c < C_OCCURRED_US; c++) {
        json_t *v;
        const char *s = PQgetvalue(res, row, c);
        if (PQgetisnull(res, row, c)) {
            v = json_null();
        } else if (c == C_LAT || c == C_LON) {
            v = json_real(strtod(s, NULL));
        } else if (c == C_ARREST || c == C_DOMESTIC) {
            v = json_boolean(s[0] == 't');
        } else {
            v = json_string(s);
        }
        json_object_set_new(o, inc_names[c], v);
    }
    return o;
}

/* The cursor after the last row of a full page, or false. */
static bool next_cursor(PGresult *res, long limit, struct param_cursor *c)
{
    int n = PQntuples(res);
    if (n == 0 || n < limit) {
        return false;
    }
    c->set = true;
    c->occurred_us = strtoll(PQgetvalue(res, n - 1, C_OCCURRED_US), NULL, 10);
    snprintf(c->city, sizeof(c->city), "%s", PQgetvalue(res, n - 1, C_CITY));
    snprintf(c->incident_id, sizeof(c->incident_id), "%s", PQgetvalue(res, n - 1, C_ID));
    return strlen(PQgetvalue(res, n - 1, C_ID)) < sizeof(c->incident_id);
}

static void do_incidents(struct api *api, struct req *r, struct api_reply *out)
{
    struct inc_query q = {0};
    enum err_class cls = ERR_OK;
    char errstr[512];
    if (!parse_incidents(api, r, &q, 100, 5000)) {
        reply_bad(out, r);
        inc_query_free(&q);
        return;
    }
    PGresult *res = inc_fetch(api, &q, &cls, errstr, sizeof(errstr));
    if (!res) {
        log_emit_limited(cls == ERR_TRANSIENT ? LOG_WARN : LOG_ERROR, "api.query_failed", 10,
                         "endpoint=incidents error=%s", LQ(errstr));
        reply_error(out, cls == ERR_TRANSIENT ? 503 : 500, "",
                    cls == ERR_TRANSIENT ? "the warehouse is unavailable; retry shortly"
                                         : "query failed (see the dashboard's log)");
        inc_query_free(&q);
        return;
    }
    json_t *e = echo(r), *rows = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_array_append_new(rows, inc_row_json(res, i));
    }
    struct param_cursor c = {0};
    char enc[1024];
    json_object_set_new(e, "rows", rows);
    json_object_set_new(
        e, "next_cursor",
        next_cursor(res, q.limit, &c) &&
                param_cursor_encode(c.occurred_us, c.city, c.incident_id, enc, sizeof(enc)) == 0
            ? json_string(enc)
            : json_null());
    char *body = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    reply(out, body ? 200 : 500, "application/json", body);
    json_decref(e);
    PQclear(res);
    inc_query_free(&q);
}

struct api_csv {
    struct api *api;
    struct inc_query q;
    long remaining;
    struct param_buf buf;
    size_t off;
    bool done;
};

static int csv_header(struct param_buf *b)
{
    for (int c = 0; c < C_OCCURRED_US; c++) {
        if ((c && param_buf_put(b, ",", 1) != 0) || param_csv_field(b, inc_names[c]) != 0) {
            return -1;
        }
    }
    return param_buf_put(b, "\r\n", 2);
}

static int csv_rows(struct param_buf *b, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        for (int c = 0; c < C_OCCURRED_US; c++) {
            const char *s = PQgetisnull(res, i, c) ? NULL : PQgetvalue(res, i, c);
            if ((c == C_ARREST || c == C_DOMESTIC) && s) {
                s = s[0] == 't' ? "true" : "false";
            }
            if ((c && param_buf_put(b, ",", 1) != 0) || param_csv_field(b, s) != 0) {
                return -1;
            }
        }
        if (param_buf_put(b, "\r\n", 2) != 0) {
            return -1;
        }
    }
    return 0;
}

static void do_incidents_csv(struct api *api, struct req *r, struct api_reply *out)
{
    struct api_csv *csv = calloc(1, sizeof(*csv));
    if (!csv) {
        reply_error(out, 500, "", "out of memory");
        return;
    }
    if (!parse_incidents(api, r, &csv->q, 10000, 100000)) {
        reply_bad(out, r);
        api_csv_free(csv);
        return;
    }
    csv->api = api;
    csv->remaining = csv->q.limit;
    /* The first page now, so that an unreachable warehouse is a 503 rather than a cut file. */
    enum err_class cls = ERR_OK;
    char errstr[512];
    set_limit(&csv->q, csv->remaining < CSV_PAGE ? csv->remaining : CSV_PAGE);
    PGresult *res = inc_fetch(api, &csv->q, &cls, errstr, sizeof(errstr));
    if (!res) {
        reply_error(out, cls == ERR_TRANSIENT ? 503 : 500, "",
                    cls == ERR_TRANSIENT ? "the warehouse is unavailable; retry shortly"
                                         : "query failed (see the dashboard's log)");
        log_emit_limited(LOG_WARN, "api.query_failed", 10, "endpoint=incidents.csv error=%s",
                         LQ(errstr));
        api_csv_free(csv);
        return;
    }
    struct param_cursor c = {0};
    long page = csv->remaining < CSV_PAGE ? csv->remaining : CSV_PAGE;
    if (csv_header(&csv->buf) != 0 || csv_rows(&csv->buf, res) != 0) {
        PQclear(res);
        reply_error(out, 500, "", "out of memory");
        api_csv_free(csv);
        return;
    }
    csv->remaining -= PQntuples(res);
    if (csv->remaining > 0 && next_cursor(res, page, &c)) {
        set_cursor(&csv->q, &c);
    } else {
        csv->done = true;
    }
    PQclear(res);
    out->status = 200;
    out->type = "text/csv; charset=utf-8";
    out->body = NULL;
    out->len = 0;
    out->csv = csv;
}

ssize_t api_csv_read(struct api_csv *csv, char *buf, size_t max)
{
    if (csv->off == csv->buf.len && !csv->done) {
        enum err_class cls = ERR_OK;
        char errstr[512];
        long page = csv->remaining < CSV_PAGE ? csv->remaining : CSV_PAGE;
        csv->buf.len = csv->off = 0;
        set_limit(&csv->q, page);
        PGresult *res = inc_fetch(csv->api, &csv->q, &cls, errstr, sizeof(errstr));
        struct param_cursor c = {0};
        if (!res || csv_rows(&csv->buf, res) != 0) {
            log_warn("api.csv_cut", "error=%s", LQ(res ? "out of memory" : errstr));
            PQclear(res);
            return -1;
        }
        csv->remaining -= PQntuples(res);
        if (csv->remaining > 0 && next_cursor(res, page, &c)) {
            set_cursor(&csv->q, &c);
        } else {
            csv->done = true;
        }
        PQclear(res);
    }
    size_t left = csv->buf.len - csv->off;
    if (left == 0) {
        return 0;
    }
    size_t k = left < max ? left : max;
    memcpy(buf, csv->buf.p + csv->off, k);
    csv->off += k;
    return (ssize_t)k;
}

void api_csv_free(struct api_csv *csv)
{
    if (!csv) {
        return;
    }
    inc_query_free(&csv->q);
    param_buf_free(&csv->buf);
    free(csv);
}

/* ---- Cache ---- */

void api_init(struct api *api, struct db_pool *db, struct cities *cities, long cache_ms)
{
    memset(api, 0, sizeof(*api));
    api->db = db;
    api->cities = cities;
    api->wait_ms = 5000;
    api->cache_ms = cache_ms;
    pthread_mutex_init(&api->cache_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&api->cache_done, &ca);
    pthread_condattr_destroy(&ca);
}

void api_cleanup(struct api *api)
{
    for (size_t i = 0; i < API_CACHE_SLOTS; i++) {
        free(api->cache[i].key);
        free(api->cache[i].body);
    }
    pthread_cond_destroy(&api->cache_done);
    pthread_mutex_destroy(&api->cache_lock);
}

void api_invalidate(struct api *api)
{
    atomic_fetch_add(&api->generation, 1);
}

/* "endpoint?name=value&..." as given (the page always asks in the same order). */
static char *cache_key(const char *endpoint, const struct api_args *args)
{
    struct param_buf b = {0};
    param_buf_put(&b, endpoint, strlen(endpoint));
    for (size_t i = 0; i < args->n; i++) {
        param_buf_put(&b, i ? "&" : "?", 1);
        param_buf_put(&b, args->name[i], strlen(args->name[i]));
        param_buf_put(&b, "=", 1);
        if (args->value[i]) {
            param_buf_put(&b, args->value[i], strlen(args->value[i]));
        }
    }
    return b.p;
}

static size_t cache_slot(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return (size_t)(h % API_CACHE_SLOTS);
}

enum cache_step {
    CACHE_HIT,     /* out holds the answer */
    CACHE_COMPUTE, /* compute it, then cache_finish: this request refreshes the slot */
    CACHE_BYPASS,  /* compute it, do not cache it (the slot is busy with another key) */
};

static void copy_body(const struct api_cache_entry *e, struct api_reply *out, bool *ok)
{
    char *body = malloc(e->len + 1);
    if (body) {
        memcpy(body, e->body, e->len + 1);
        reply(out, 200, "application/json", body);
    }
    *ok = body != NULL;
}

/* Called with the lock held; waits at most until deadline_ms for a refresh to finish. */
static bool wait_refresh(struct api *api, int64_t deadline_ms)
{
    int64_t left = deadline_ms - mono_ms();
    if (left <= 0) {
        return false;
    }
    struct timespec ts = timespec_after_ms(CLOCK_MONOTONIC, left);
    pthread_cond_timedwait(&api->cache_done, &api->cache_lock, &ts);
    return true;
}

static enum cache_step cache_lookup(struct api *api, const char *key, struct api_reply *out)
{
    enum cache_step step = CACHE_BYPASS;
    struct api_cache_entry *e = &api->cache[cache_slot(key)];
    int64_t deadline = mono_ms() + api->wait_ms;
    pthread_mutex_lock(&api->cache_lock);
    for (;;) {
        bool mine = e->key && strcmp(e->key, key) == 0;
        if (!mine && e->refreshing) {
            break; /* another key is being computed in this slot: leave it be */
        }
        if (!mine) { /* take the slot over */
            char *k = strdup(key);
            if (!k) {
                break;
            }
            free(e->key);
            free(e->body);
            *e = (struct api_cache_entry){.key = k, .refreshing = true};
            step = CACHE_COMPUTE;
            break;
        }
        bool current = e->body && e->generation == atomic_load(&api->generation);
        bool ok = false;
        if (current && (mono_ms() - e->at_ms < api->cache_ms || e->refreshing)) {
            copy_body(e, out, &ok); /* fresh, or only aged while a refresh is under way */
            step = ok ? CACHE_HIT : CACHE_BYPASS;
            break;
        }
        if (!e->refreshing) {
            e->refreshing = true;
            step = CACHE_COMPUTE;
            break;
        }
        /* Stale after a commit, refreshed by another request right now: wait for its answer
         * (which may itself be from before the commit: then look again). */
        if (!wait_refresh(api, deadline)) {
            break; /* waited long enough: query without the cache */
        }
    }
    pthread_mutex_unlock(&api->cache_lock);
    return step;
}

/* The refresh of key ended: keep its answer when it is one (generation: before the query). */
static void cache_finish(struct api *api, const char *key, unsigned long generation,
                         const struct api_reply *r)
{
    char *body = NULL;
    if (r->status == 200 && r->body && r->len <= API_CACHE_MAX_BODY) {
        body = malloc(r->len + 1);
        if (body) {
            memcpy(body, r->body, r->len + 1);
        }
    }
    struct api_cache_entry *e = &api->cache[cache_slot(key)];
    pthread_mutex_lock(&api->cache_lock);
    if (e->key && strcmp(e->key, key) == 0) {
        if (body) {
            free(e->body);
            e->body = body;
            e->len = r->len;
            e->generation = generation;
            e->at_ms = mono_ms();
            body = NULL;
        }
        e->refreshing = false;
    }
    pthread_cond_broadcast(&api->cache_done);
    pthread_mutex_unlock(&api->cache_lock);
    free(body);
}

/* ---- Routing ---- */

void api_handle(struct api *api, const char *endpoint, const struct api_args *args,
                struct api_reply *out)
{
    static const struct {
        const char *name;
        void (*fn)(struct api *, struct req *, struct api_reply *);
    } routes[] = {
        {"summary", do_summary},
        {"breakdown", do_breakdown},
        {"trend", do_trend},
        {"heatmap", do_heatmap},
        {"compare", do_compare},
        {"incidents", do_incidents},
        {"incidents.csv", do_incidents_csv},
    };
    struct req *r = calloc(1, sizeof(*r));
    memset(out, 0, sizeof(*out));
    if (!r) {
        reply_error(out, 500, "", "out of memory");
        return;
    }
    r->a = args;
    const char *name = "unknown";
    size_t i;
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(routes[i].name, endpoint) == 0) {
            name = routes[i].name;
            bool cacheable =
                api->cache_ms > 0 && routes[i].fn != do_incidents_csv && !args->too_many;
            char *key = cacheable ? cache_key(endpoint, args) : NULL;
            /* The generation before the query: a batch committed meanwhile makes it stale. */
            unsigned long gen = atomic_load(&api->generation);
            enum cache_step step = key ? cache_lookup(api, key, out) : CACHE_BYPASS;
            if (step != CACHE_HIT) {
                routes[i].fn(api, r, out);
            }
            if (step == CACHE_COMPUTE) {
                cache_finish(api, key, gen, out);
            }
            free(key);
            break;
        }
    }
    if (i == sizeof(routes) / sizeof(routes[0])) {
        reply_error(out, 404, "",
                    "no such endpoint (summary, breakdown, trend, heatmap, compare, incidents, "
                    "incidents.csv)");
    }
    metric_add(m_requests(name, out->status), 1);
    req_free(r);
    free(r);
}
