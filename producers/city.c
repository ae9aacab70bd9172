/* City files and the mapping of a Socrata row to the incident record. See city.h. */
#define _GNU_SOURCE
#include "producers/city.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"
#include "common/tz.h"

/* Longest text value accepted from a source row; longer ones make the row a dead letter. */
#define MAX_VALUE_BYTES 65536

/* ---- Loading ---- */

static char *dup_or_null(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* A key that must be a field name or null; anything else is an error. */
static int opt_field(const json_t *root, const char *key, char **out, char *errstr, size_t n)
{
    const json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v) || !*json_string_value(v)) {
        err_set(errstr, n, "\"%s\" must be a field name or null", key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    return 0;
}

/* A field name or a list of field names. */
static int field_list(const json_t *v, const char *key, char ***out, size_t *count, char *errstr,
                      size_t n)
{
    *out = NULL;
    *count = 0;
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (json_is_string(v)) {
        *out = calloc(1, sizeof(char *));
        (*out)[0] = strdup(json_string_value(v));
        *count = 1;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        err_set(errstr, n, "\"%s\" must be a field name or a non-empty list of them", key);
        return -1;
    }
    *out = calloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item)) {
            err_set(errstr, n, "\"%s\"[%zu] must be a field name", key, i);
            return -1;
        }
        (*out)[(*count)++] = strdup(json_string_value(item));
    }
    return 0;
}

static int load_time(const json_t *root, const char *key, bool required, struct city_time *t,
                     char *errstr, size_t n)
{
    const json_t *v = json_object_get(root, key);
    memset(t, 0, sizeof(*t));
    if (!v || json_is_null(v)) {
        if (required) {
            err_set(errstr, n, "\"%s\" is required", key);
            return -1;
        }
        return 0;
    }
    const json_t *f = json_object_get(v, "field");
    if (!json_is_object(v) || !json_is_string(f)) {
        err_set(errstr, n,
                "\"%s\" must be {\"field\": F} or {\"field\": D, \"time\": T, "
                "\"time_format\": ...}",
                key);
        return -1;
    }
    t->field = strdup(json_string_value(f));
    const json_t *tf = json_object_get(v, "time");
    if (json_is_string(tf)) {
        t->time_field = strdup(json_string_value(tf));
        const char *fmt = json_string_value(json_object_get(v, "time_format"));
        if (fmt && strcmp(fmt, "HHMM") == 0) {
            t->time_format = TIME_HHMM;
        } else if (fmt && strcmp(fmt, "HH:MM:SS") == 0) {
            t->time_format = TIME_HH_MM_SS;
        } else if (fmt && strcmp(fmt, "HH:MM") == 0) {
            t->time_format = TIME_HH_MM;
        } else {
            err_set(errstr, n, "\"%s\".time_format must be HHMM, HH:MM:SS or HH:MM", key);
            return -1;
        }
    }
    return 0;
}

static int load_categories(struct city *city, char *errstr, size_t n)
{
    const json_t *cats = json_object_get(city->root, "categories");
    if (!json_is_object(cats)) {
        err_set(errstr, n, "\"categories\" must be an object of source value -> category");
        return -1;
    }
    city->categories = calloc(json_object_size(cats) + 1, sizeof(*city->categories));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cats, k, v)
    {
        const char *cat = json_is_string(v) ? vocab_intern(json_string_value(v)) : NULL;
        if (!cat) {
            err_set(errstr, n,
                    "categories[\"%s\"]: %s is not in the vocabulary (see "
                    "producers/cities/README.md)",
                    k, json_is_string(v) ? json_string_value(v) : "a non-string");
            return -1;
        }
        struct city_category *c = &city->categories[city->n_categories++];
        c->source = strdup(k); /* as written; looked up case-insensitively */
        c->category = cat;
    }
    return 0;
}

struct city *city_load(const char *dir, const char *name, char *errstr, size_t n)
{
    char path[4096];
    json_error_t jerr;
    struct city *city = calloc(1, sizeof(*city));
    char prefix[4200];
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    snprintf(prefix, sizeof(prefix), "%s: ", path);
    city->root = json_load_file(path, 0, &jerr);
    if (!city->root) {
        err_set(errstr, n, "%s: %s (line %d)", path, jerr.text, jerr.line);
        goto fail;
    }
    const json_t *root = city->root;
    city->name = dup_or_null(json_object_get(root, "name"));
    city->title = dup_or_null(json_object_get(root, "title"));
    city->domain = dup_or_null(json_object_get(root, "domain"));
    city->dataset = dup_or_null(json_object_get(root, "dataset"));
    city->time_zone = dup_or_null(json_object_get(root, "time_zone"));
    if (!city->name || !city->domain || !city->dataset || !city->time_zone) {
        err_set(errstr, n, "%sname, domain, dataset and time_zone are required", prefix);
        goto fail;
    }
    if (strcmp(city->name, name) != 0) {
        err_set(errstr, n, "%s\"name\" is %s; it must match the file name", prefix, city->name);
        goto fail;
    }
    city->tz = tz_get(city->time_zone);
    if (!city->tz) {
        err_set(errstr, n, "%sunknown time zone %s (is tzdata installed?)", prefix,
                city->time_zone);
        goto fail;
    }
    const char *status = json_string_value(json_object_get(root, "status"));
    city->frozen = status && strcmp(status, "frozen") == 0;
    const json_t *bbox = json_object_get(root, "bbox");
    if (!json_is_array(bbox) || json_array_size(bbox) != 4) {
        err_set(errstr, n, "%s\"bbox\" must be [lat_min, lon_min, lat_max, lon_max]", prefix);
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        city->bbox[i] = json_number_value(json_array_get(bbox, (size_t)i));
    }
    char e[400] = "";
    if (field_list(json_object_get(root, "incident_id"), "incident_id", &city->id_fields,
                   &city->n_id_fields, e, sizeof(e)) ||
        !city->n_id_fields ||
        field_list(json_object_get(root, "offense"), "offense", &city->offense_fields,
                   &city->n_offense_fields, e, sizeof(e)) ||
        field_list(json_object_get(root, "fields"), "fields", &city->fields, &city->n_fields, e,
                   sizeof(e)) ||
        load_time(root, "occurred_at", true, &city->occurred_at, e, sizeof(e)) ||
        load_time(root, "reported_at", false, &city->reported_at, e, sizeof(e)) ||
        opt_field(root, "report_id", &city->report_id, e, sizeof(e)) ||
        opt_field(root, "offense_code", &city->offense_code, e, sizeof(e)) ||
        opt_field(root, "area", &city->area, e, sizeof(e)) ||
        opt_field(root, "beat", &city->beat, e, sizeof(e)) ||
        opt_field(root, "address", &city->address, e, sizeof(e)) ||
        opt_field(root, "latitude", &city->latitude, e, sizeof(e)) ||
        opt_field(root, "longitude", &city->longitude, e, sizeof(e)) ||
        opt_field(root, "location", &city->location, e, sizeof(e)) ||
        opt_field(root, "arrest", &city->arrest, e, sizeof(e)) ||
        opt_field(root, "domestic", &city->domestic, e, sizeof(e)) ||
        opt_field(root, "category_from", &city->category_from, e, sizeof(e)) ||
        opt_field(root, "crime_against_from", &city->crime_against_from, e, sizeof(e)) ||
        load_categories(city, e, sizeof(e))) {
        err_set(errstr, n, "%s%s", prefix, *e ? e : "\"incident_id\" is required");
        goto fail;
    }
    if (!city->category_from) {
        err_set(errstr, n, "%s\"category_from\" is required", prefix);
        goto fail;
    }
    city->generator = json_object_get(root, "generator");
    return city;
fail:
    city_destroy(city);
    return NULL;
}

static void free_list(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i]);
    }
    free(list);
}

void city_destroy(struct city *city)
{
    if (!city) {
        return;
    }
    free(city->name);
    free(city->title);
    free(city->domain);
    free(city->dataset);
    free(city->time_zone);
    free_list(city->id_fields, city->n_id_fields);
    free_list(city->offense_fields, city->n_offense_fields);
    free_list(city->fields, city->n_fields);
    free(city->report_id);
    free(city->occurred_at.field);
    free(city->occurred_at.time_field);
    free(city->reported_at.field);
    free(city->reported_at.time_field);
    char *singles[] = {
        city->offense_code,      city->area,     city->beat,   city->address,  city->latitude,
        city->longitude,         city->location, city->arrest, city->domestic, city->category_from,
        city->crime_against_from};
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        free(singles[i]);
    }
    for (size_t i = 0; i < city->n_categories; i++) {
        free(city->categories[i].source);
    }
    free(city->categories);
    json_decref(city->root);
    free(city);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **city_names(const char *dir, char *errstr, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) {
        err_set(errstr, n, "cannot open cities folder %s: %m", dir);
        return NULL;
    }
    size_t count = 0, cap = 16;
    char **names = calloc(cap + 1, sizeof(char *));
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || de->d_name[0] == '.' || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }
        if (count == cap) {
            cap *= 2;
            names = realloc(names, (cap + 1) * sizeof(char *));
        }
        names[count++] = strndup(de->d_name, len - 5);
    }
    closedir(d);
    names[count] = NULL;
    qsort(names, count, sizeof(char *), cmp_str);
    return names;
}

void city_names_free(char **names)
{
    for (size_t i = 0; names && names[i]; i++) {
        free(names[i]);
    }
    free(names);
}

/* ---- Mapping ---- */

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
    if (fmt == TIME_HHMM) {
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
    if (iso8601_parse(s, &ct, &has_zone, &offset_s) != 0) {
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
    if (!strcasecmp(value, "PERSON")) {
        return "person";
    }
    if (!strcasecmp(value, "PROPERTY")) {
        return "property";
    }
    if (!strcasecmp(value, "SOCIETY")) {
        return "society";
    }
    return "other";
}

/* Every source field into attributes, as text (objects and arrays as compact JSON). Rejects
 * oversized values and text that is not valid UTF-8 (the page parser turns invalid bytes into
 * U+0000, see socrata.c). */
static int map_attributes(const json_t *row, struct incident *inc, char *errstr, size_t n)
{
    const char *key;
    const json_t *v;
    char buf[64];
    json_object_foreach((json_t *)row, key, v)
    {
        const char *s;
        char *dumped = NULL;
        if (json_is_null(v)) {
            continue;
        }
        if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
            err_set(errstr, n, "field %s: text is not valid UTF-8", key);
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

enum err_class city_map_row(const struct city *city, const json_t *row, int64_t ingested_at_us,
                            struct incident *inc, struct map_stats *stats, char *errstr, size_t n)
{
    char buf[64], id[1024];
    const char *s;
    incident_clear(inc);
    if (!json_is_object(row)) {
        err_set(errstr, n, "row is %s, not an object", json_type_name(row));
        return ERR_PERMANENT;
    }
    if (map_attributes(row, inc, errstr, n) != 0) {
        goto reject;
    }
    /* incident_id: the id field(s), joined with '-'. */
    size_t used = 0;
    for (size_t i = 0; i < city->n_id_fields; i++) {
        if (field_text(row, city->id_fields[i], buf, sizeof(buf), &s, errstr, n) != 0) {
            goto reject;
        }
        if (!s) {
            err_set(errstr, n, "missing id field %s", city->id_fields[i]);
            goto reject;
        }
        int w = snprintf(id + used, sizeof(id) - used, "%s%s", i ? "-" : "", s);
        if (w < 0 || (size_t)w >= sizeof(id) - used) {
            err_set(errstr, n, "id is longer than %zu bytes", sizeof(id) - 1);
            goto reject;
        }
        used += (size_t)w;
    }
    incident_set_str(&inc->city, city->name);
    incident_set_str(&inc->incident_id, id);

    if (map_time(city, &city->occurred_at, row, &inc->occurred_at, errstr, n) != 0) {
        goto reject;
    }
    if (inc->occurred_at == TS_NULL) {
        err_set(errstr, n, "missing occurred time (field %s)", city->occurred_at.field);
        goto reject;
    }
    if (map_time(city, &city->reported_at, row, &inc->reported_at, errstr, n) != 0) {
        goto reject;
    }
    const json_t *upd = json_object_get(row, ":updated_at");
    inc->source_updated_at = json_is_string(upd) ? iso8601_to_us(json_string_value(upd)) : TS_NULL;
    if (inc->source_updated_at == TS_NULL) {
        err_set(errstr, n, "missing or bad :updated_at (ask with $select=:*,*)");
        goto reject;
    }

    const char *report = NULL, *code = NULL, *area = NULL, *beat = NULL, *addr = NULL;
    char b1[64], b2[64], b3[64], b4[64], b5[64];
    if ((city->report_id &&
         field_text(row, city->report_id, b1, sizeof(b1), &report, errstr, n) != 0) ||
        (city->offense_code &&
         field_text(row, city->offense_code, b2, sizeof(b2), &code, errstr, n) != 0) ||
        (city->area && field_text(row, city->area, b3, sizeof(b3), &area, errstr, n) != 0) ||
        (city->beat && field_text(row, city->beat, b4, sizeof(b4), &beat, errstr, n) != 0) ||
        (city->address && field_text(row, city->address, b5, sizeof(b5), &addr, errstr, n) != 0)) {
        goto reject;
    }
    set_clean(&inc->report_id, report);
    set_clean(&inc->offense_code, code);
    set_clean(&inc->area, area);
    set_clean(&inc->beat, beat);
    set_clean(&inc->address, addr);

    /* offense: the offense fields joined with ": " ("BATTERY: SIMPLE"). */
    char offense[1024] = "";
    for (size_t i = 0; i < city->n_offense_fields; i++) {
        if (field_text(row, city->offense_fields[i], buf, sizeof(buf), &s, errstr, n) != 0) {
            goto reject;
        }
        if (s) {
            size_t len = strlen(offense);
            snprintf(offense + len, sizeof(offense) - len, "%s%s", len ? ": " : "", s);
        }
    }
    set_clean(&inc->offense, *offense ? offense : NULL);

    if (field_text(row, city->category_from, buf, sizeof(buf), &s, errstr, n) != 0) {
        goto reject;
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
            goto reject;
        }
        against = crime_against_of(s);
    }
    incident_set_str(&inc->crime_against, against ? against : vocab_crime_against(category));

    map_coords(city, row, inc);
    if (map_bool(row, city->arrest, &inc->arrest, errstr, n) != 0 ||
        map_bool(row, city->domestic, &inc->domestic, errstr, n) != 0) {
        goto reject;
    }
    inc->ingested_at = ingested_at_us;
    if (incident_check(inc, errstr, n) != ERR_OK) {
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
