/* Mapping a source row of a city to the incident record, and the schema drift of its fields.
 * See city_map.h. */
#define _GNU_SOURCE
#include "producers/city_map.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"
#include "common/tz.h"

/* Longest text value accepted from a source row; longer ones make the row a dead letter. */
#define MAX_VALUE_BYTES 65536

/* The text of a scalar JSON value: strings as they are, numbers and booleans printed. Objects
 * and arrays have no text: -1. */
static int value_text(const json_t *v, char *buf, size_t n, const char **out)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, n, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
    } else {
        return -1;
    }
    *out = buf;
    return 0;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* The text of field `name` of the row (NULL when absent, null or blank). -1 with a reason when
 * it is not a scalar. */
static int field_text(const json_t *row, const char *name, char *buf, size_t n, const char **out,
                      char *errstr, size_t errstr_size)
{
    const json_t *v = json_object_get(row, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (value_text(v, buf, n, out) != 0) {
        err_set(errstr, errstr_size, "field %s: expected text, got %s", name, json_type_name(v));
        return -1;
    }
    const char *s = *out;
    while (*s == ' ') {
        s++;
    }
    if (!*s) {
        *out = NULL;
    }
    return 0;
}

/* Copy s with leading/trailing blanks removed and runs of spaces collapsed (LA pads its
 * addresses: "5700    DUARTE                       ST"). */
static int set_clean(char **field, const char *s)
{
    if (!s) {
        return incident_set_str(field, NULL);
    }
    size_t len = strlen(s);
    char *buf = malloc(len + 1), *o = buf;
    if (!buf) {
        return -1;
    }
    bool space = false;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t') {
            space = o != buf;
            continue;
        }
        if (space) {
            *o++ = ' ';
            space = false;
        }
        *o++ = *s;
    }
    *o = 0;
    int rc = incident_set_str(field, *buf ? buf : NULL);
    free(buf);
    return rc;
}

/* Parse a time-of-day column into ct's hour/minute/second. */
static int parse_time_of_day(const char *s, enum time_format fmt, struct civil_time *ct)
{
    int h = 0, m = 0, sec = 0;
    char tail;
    if (fmt == TIME_H) {
        char *end;
        long v = strtol(s, &end, 10);
        while (*end == ' ') {
            end++;
        }
        if (end == s || *end || v < 0 || v > 23) {
            return -1;
        }
        h = (int)v;
    } else if (fmt == TIME_HHMM) {
        /* "2015" is 20:15; LA drops leading zeros ("5" is 00:05, "130" is 01:30). */
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || *end || v < 0 || v > 2359) {
            return -1;
        }
        h = (int)(v / 100);
        m = (int)(v % 100);
    } else if (fmt == TIME_HH_MM_SS) {
        if (sscanf(s, "%d:%d:%d%c", &h, &m, &sec, &tail) != 3) {
            return -1;
        }
    } else if (sscanf(s, "%d:%d%c", &h, &m, &tail) != 2) {
        return -1;
    }
    /* NYC writes midnight at the end of a day as 24:00:00. */
    if (h < 0 || h > 24 || m < 0 || m > 59 || sec < 0 || sec > 59 || (h == 24 && (m || sec))) {
        return -1;
    }
    ct->hour = h;
    ct->minute = m;
    ct->second = sec;
    ct->micros = 0;
    return 0;
}

/* Read a city timestamp from the row. *us = TS_NULL when the row has none. */
static int map_time(const struct city *city, const struct city_time *t, const json_t *row,
                    int64_t *us, char *errstr, size_t n)
{
    char buf[64], tbuf[64];
    const char *s, *ts = NULL;
    *us = TS_NULL;
    if (!t->field) {
        return 0;
    }
    if (field_text(row, t->field, buf, sizeof(buf), &s, errstr, n) != 0) {
        return -1;
    }
    if (!s) {
        return 0;
    }
    struct civil_time ct;
    bool has_zone = false;
    int offset_s = 0;
    const json_t *raw = json_object_get(row, t->field);
    if (json_is_integer(raw) || json_is_real(raw)) {
        /* Epoch milliseconds (an ArcGIS date field): an instant, of which only the date in the
         * city's zone counts when the time of day is in its own field. */
        double ms = json_number_value(raw);
        if (!isfinite(ms) || ms < -62135596800000.0 || ms > 253402300799000.0) {
            err_set(errstr, n, "field %s: %.0f is not a time in epoch milliseconds", t->field, ms);
            return -1;
        }
        int64_t utc_us = (int64_t)ms * 1000;
        if (!t->time_field) {
            *us = utc_us;
            return 0;
        }
        int64_t utc_s = utc_us / 1000000 - (utc_us % 1000000 < 0);
        us_to_civil(utc_us + (int64_t)tz_offset_at(city->tz, utc_s) * 1000000, &ct);
        ct.hour = ct.minute = ct.second = 0;
        ct.micros = 0;
    } else if (iso8601_parse(s, &ct, &has_zone, &offset_s) != 0) {
        err_set(errstr, n, "field %s: \"%.40s\" is not a timestamp", t->field, s);
        return -1;
    }
    if (t->time_field) {
        if (field_text(row, t->time_field, tbuf, sizeof(tbuf), &ts, errstr, n) != 0) {
            return -1;
        }
        if (ts && parse_time_of_day(ts, t->time_format, &ct) != 0) {
            err_set(errstr, n, "field %s: \"%.40s\" is not a time of day", t->time_field, ts);
            return -1;
        }
    }
    bool end_of_day = ct.hour == 24;
    if (end_of_day) {
        ct.hour = 0;
    }
    if (has_zone) {
        *us = civil_to_us(&ct) - (int64_t)offset_s * 1000000;
    } else {
        *us = tz_to_utc_us(city->tz, &ct);
    }
    if (end_of_day) {
        *us += 86400LL * 1000000;
    }
    return 0;
}

static int parse_coord(const json_t *v, double *out)
{
    char buf[64];
    const char *s;
    if (!v || value_text(v, buf, sizeof(buf), &s) != 0 || json_is_boolean(v)) {
        return -1;
    }
    char *end;
    double d = strtod(s, &end);
    while (*end == ' ') {
        end++;
    }
    if (end == s || *end || !isfinite(d)) {
        return -1; /* "REDACTED", "OOJ", "UNKNOWN", "" */
    }
    *out = d;
    return 0;
}

/* Latitude and longitude from the text columns, else from the location object (GeoJSON Point,
 * {latitude, longitude}, or a legacy location). Null when missing, unparsable, zero or outside
 * the city's bounding box. */
static void map_coords(const struct city *city, const json_t *row, struct incident *inc)
{
    double lat = 0, lon = 0;
    bool ok = city->latitude && city->longitude &&
              parse_coord(json_object_get(row, city->latitude), &lat) == 0 &&
              parse_coord(json_object_get(row, city->longitude), &lon) == 0;
    const json_t *loc = city->location ? json_object_get(row, city->location) : NULL;
    if (!ok && json_is_object(loc)) {
        const json_t *coords = json_object_get(loc, "coordinates");
        if (json_is_array(coords) && json_array_size(coords) == 2) {
            ok = parse_coord(json_array_get(coords, 1), &lat) == 0 &&
                 parse_coord(json_array_get(coords, 0), &lon) == 0;
        } else {
            ok = parse_coord(json_object_get(loc, "latitude"), &lat) == 0 &&
                 parse_coord(json_object_get(loc, "longitude"), &lon) == 0;
        }
    }
    if (ok && (lat == 0 || lon == 0 || lat < city->bbox[0] || lat > city->bbox[2] ||
               lon < city->bbox[1] || lon > city->bbox[3])) {
        ok = false;
    }
    inc->has_coords = ok;
    inc->latitude = ok ? lat : 0;
    inc->longitude = ok ? lon : 0;
}

static int map_bool(const json_t *row, const char *name, int8_t *out, char *errstr, size_t n)
{
    *out = TRI_NULL;
    if (!name) {
        return 0;
    }
    const json_t *v = json_object_get(row, name);
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? TRI_TRUE : TRI_FALSE;
        return 0;
    }
    const char *s = json_string_value(v);
    if (s) {
        if (!strcasecmp(s, "Y") || !strcasecmp(s, "YES") || !strcasecmp(s, "TRUE") ||
            !strcmp(s, "1")) {
            *out = TRI_TRUE;
            return 0;
        }
        if (!strcasecmp(s, "N") || !strcasecmp(s, "NO") || !strcasecmp(s, "FALSE") ||
            !strcmp(s, "0")) {
            *out = TRI_FALSE;
            return 0;
        }
        if (!*s || !strcasecmp(s, "UNKNOWN") || !strcasecmp(s, "U")) {
            return 0;
        }
    }
    if (s) {
        err_set(errstr, n, "field %s: expected a boolean, got \"%.40s\"", name, s);
    } else {
        err_set(errstr, n, "field %s: expected a boolean, got %s", name, json_type_name(v));
    }
    return -1;
}

static const char *lookup_category(const struct city *city, const char *value)
{
    if (!value) {
        return NULL;
    }
    for (size_t i = 0; i < city->n_categories; i++) {
        if (strcasecmp(city->categories[i].source, value) == 0) {
            return city->categories[i].category;
        }
    }
    return NULL;
}

static const char *crime_against_of(const char *value)
{
    if (!value) {
        return NULL;
    }
    /* NIBRS spells them out, or abbreviates them (San Diego: PE, PR, SO). */
    if (!strcasecmp(value, "PERSON") || !strcasecmp(value, "PE")) {
        return "person";
    }
    if (!strcasecmp(value, "PROPERTY") || !strcasecmp(value, "PR")) {
        return "property";
    }
    if (!strcasecmp(value, "SOCIETY") || !strcasecmp(value, "SO")) {
        return "society";
    }
    return "other";
}

/* Every source field into attributes, as text (objects and arrays as compact JSON). Rejects
 * oversized values and text that is not valid UTF-8 (the page parser turns invalid bytes into
 * U+0000, see socrata.c). */
static bool in_list(char *const *list, size_t count, const char *name);

static int map_attributes(const struct city *city, const json_t *row, struct incident *inc,
                          char *errstr, size_t n)
{
    const char *key;
    const json_t *v;
    char buf[64];
    json_object_foreach((json_t *)row, key, v)
    {
        const char *s;
        char *dumped = NULL;
        /* "::" fields are the kind's own (a walk stamp, a repeat number); unstable ones are
         * renumbered by the publisher: neither is content. */
        if (json_is_null(v) || strncmp(key, "::", 2) == 0 ||
            in_list(city->unstable_fields, city->n_unstable_fields, key)) {
            continue;
        }
        if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
            err_set(errstr, n, "field %s: text is not valid UTF-8 (or holds NUL)", key);
            return -1;
        }
        if (value_text(v, buf, sizeof(buf), &s) != 0) {
            dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            s = dumped ? dumped : "";
        }
        size_t len = strlen(s);
        if (len > MAX_VALUE_BYTES) {
            err_set(errstr, n, "field %s: %zu bytes (limit %d)", key, len, MAX_VALUE_BYTES);
            free(dumped);
            return -1;
        }
        int rc = incident_add_attr(inc, key, s);
        free(dumped);
        if (rc != 0) {
            err_set(errstr, n, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* incident_id: the id field(s), joined with '-'. */
static int map_id(const struct city *city, const json_t *row, struct incident *inc, char *errstr,
                  size_t n)
{
    char buf[64], id[1024];
    const char *s;
    size_t used = 0;
    for (size_t i = 0; i < city->n_id_fields; i++) {
        if (field_text(row, city->id_fields[i], buf, sizeof(buf), &s, errstr, n) != 0) {
            return -1;
        }
        if (!s) {
            err_set(errstr, n, "missing id field %s", city->id_fields[i]);
            return -1;
        }
        int w = snprintf(id + used, sizeof(id) - used, "%s%s", i ? "-" : "", s);
        if (w < 0 || (size_t)w >= sizeof(id) - used) {
            err_set(errstr, n, "id is longer than %zu bytes", sizeof(id) - 1);
            return -1;
        }
        used += (size_t)w;
    }
    /* The k-th row (k >= 2) with the same id values in one group (a kind that numbers repeats,
     * see city.h's repeat_key): rows of one occurrence that only the publisher's row number
     * told apart. */
    const json_t *rep = json_object_get(row, "::repeat");
    if (json_is_integer(rep) && json_integer_value(rep) > 1) {
        int w = snprintf(id + used, sizeof(id) - used, "-%" JSON_INTEGER_FORMAT,
                         json_integer_value(rep));
        if (w < 0 || (size_t)w >= sizeof(id) - used) {
            err_set(errstr, n, "id is longer than %zu bytes", sizeof(id) - 1);
            return -1;
        }
    }
    incident_set_str(&inc->city, city->name);
    incident_set_str(&inc->incident_id, id);
    return 0;
}

static int map_times(const struct city *city, const json_t *row, struct incident *inc, char *errstr,
                     size_t n)
{
    if (map_time(city, &city->occurred_at, row, &inc->occurred_at, errstr, n) != 0) {
        return -1;
    }
    if (inc->occurred_at == TS_NULL) {
        err_set(errstr, n, "missing occurred time (field %s)", city->occurred_at.field);
        return -1;
    }
    if (map_time(city, &city->reported_at, row, &inc->reported_at, errstr, n) != 0) {
        return -1;
    }
    if (city->updated_at.field) {
        if (map_time(city, &city->updated_at, row, &inc->source_updated_at, errstr, n) != 0) {
            return -1;
        }
        if (inc->source_updated_at != TS_NULL) {
            return 0;
        }
    }
    /* The kind's update time: Socrata's :updated_at, a snapshot kind's walk stamp. */
    const char *name = strcmp(city->source.kind, "socrata") == 0 ? ":updated_at" : "::stamp";
    const json_t *upd = json_object_get(row, name);
    inc->source_updated_at = json_is_string(upd) ? iso8601_to_us(json_string_value(upd)) : TS_NULL;
    if (inc->source_updated_at == TS_NULL) {
        err_set(errstr, n, "missing or bad %s%s",
                city->updated_at.field ? city->updated_at.field : name,
                name[1] == ':' ? "" : " (ask with $select=:*,*)");
        return -1;
    }
    return 0;
}

/* The text fields taken as they are (blanks cleaned): report id, offense code, area, beat,
 * address; and the offense, the offense fields joined with ": " ("BATTERY: SIMPLE"). */
static int map_texts(const struct city *city, const json_t *row, struct incident *inc, char *errstr,
                     size_t n)
{
    const struct {
        const char *field;
        char **member;
    } texts[] = {{city->report_id, &inc->report_id},
                 {city->offense_code, &inc->offense_code},
                 {city->area, &inc->area},
                 {city->beat, &inc->beat},
                 {city->address, &inc->address}};
    char buf[64], offense[1024] = "";
    const char *s;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (texts[i].field &&
            (field_text(row, texts[i].field, buf, sizeof(buf), &s, errstr, n) != 0 ||
             set_clean(texts[i].member, s) != 0)) {
            return -1;
        }
    }
    for (size_t i = 0; i < city->n_offense_fields; i++) {
        if (field_text(row, city->offense_fields[i], buf, sizeof(buf), &s, errstr, n) != 0) {
            return -1;
        }
        if (s) {
            size_t len = strlen(offense);
            snprintf(offense + len, sizeof(offense) - len, "%s%s", len ? ": " : "", s);
        }
    }
    return set_clean(&inc->offense, *offense ? offense : NULL);
}

/* The category from the city's taxonomy ("other", counted, when it has none for the value),
 * and crime_against from its own field or the vocabulary. */
static int map_category(const struct city *city, const json_t *row, struct incident *inc,
                        struct map_stats *stats, char *errstr, size_t n)
{
    char buf[64];
    const char *s;
    s = NULL;
    for (size_t i = 0; i < city->n_category_fields && !s; i++) {
        if (field_text(row, city->category_fields[i], buf, sizeof(buf), &s, errstr, n) != 0) {
            return -1;
        }
    }
    const char *category = lookup_category(city, s);
    if (!category) {
        category = "other";
        if (stats) {
            stats->unmapped_offense++;
        }
    }
    incident_set_str(&inc->category, category);
    const char *against = NULL;
    if (city->crime_against_from) {
        if (field_text(row, city->crime_against_from, buf, sizeof(buf), &s, errstr, n) != 0) {
            return -1;
        }
        against = crime_against_of(s);
    }
    incident_set_str(&inc->crime_against, against ? against : vocab_crime_against(category));
    return 0;
}

enum err_class city_map_row(const struct city *city, const json_t *row, int64_t ingested_at_us,
                            struct incident *inc, struct map_stats *stats, char *errstr, size_t n)
{
    incident_clear(inc);
    if (!json_is_object(row)) {
        err_set(errstr, n, "row is %s, not an object", json_type_name(row));
        return ERR_PERMANENT;
    }
    if (map_attributes(city, row, inc, errstr, n) != 0 || map_id(city, row, inc, errstr, n) != 0 ||
        map_times(city, row, inc, errstr, n) != 0 || map_texts(city, row, inc, errstr, n) != 0 ||
        map_category(city, row, inc, stats, errstr, n) != 0) {
        goto reject;
    }
    map_coords(city, row, inc);
    if (map_bool(row, city->arrest, &inc->arrest, errstr, n) != 0 ||
        map_bool(row, city->domestic, &inc->domestic, errstr, n) != 0) {
        goto reject;
    }
    inc->ingested_at = ingested_at_us;
    if (incident_check(inc, errstr, n) != ERR_OK) { /* the one rulebook (common/incident.h) */
        goto reject;
    }
    return ERR_OK;
reject:
    incident_clear(inc);
    return ERR_PERMANENT;
}

/* ---- Schema drift ---- */

static bool in_list(char *const *list, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(list[i], name) == 0) {
            return true;
        }
    }
    return false;
}

size_t city_drift(const struct city *city, const json_t *present, const char ***missing,
                  const char ***unknown)
{
    size_t n_present = json_array_size(present), nm = 0, nu = 0;
    *missing = calloc(city->n_fields + 1, sizeof(char *));
    *unknown = calloc(n_present + 1, sizeof(char *));
    for (size_t i = 0; i < city->n_fields; i++) {
        bool found = false;
        for (size_t j = 0; j < n_present && !found; j++) {
            const char *p = json_string_value(json_array_get(present, j));
            found = p && strcmp(p, city->fields[i]) == 0;
        }
        if (!found) {
            (*missing)[nm++] = city->fields[i];
        }
    }
    for (size_t j = 0; j < n_present; j++) {
        const char *p = json_string_value(json_array_get(present, j));
        /* System and computed-region fields come and go with the query and the portal. */
        if (p && p[0] != ':' && !in_list(city->fields, city->n_fields, p)) {
            (*unknown)[nu++] = p;
        }
    }
    return nm + nu;
}
