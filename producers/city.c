/* City files: reading and checking producers/cities/<name>.json. See city.h. */
#define _GNU_SOURCE
#include "producers/city.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"
#include "common/tz.h"

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
/* The keys that name one source field (or null), and where they go. */
static int opt_fields(struct city *city, char *errstr, size_t n)
{
    const struct {
        const char *key;
        char **out;
    } keys[] = {
        {"report_id", &city->report_id},
        {"offense_code", &city->offense_code},
        {"area", &city->area},
        {"beat", &city->beat},
        {"address", &city->address},
        {"latitude", &city->latitude},
        {"longitude", &city->longitude},
        {"location", &city->location},
        {"arrest", &city->arrest},
        {"domestic", &city->domestic},
        {"crime_against_from", &city->crime_against_from},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (opt_field(city->root, keys[i].key, keys[i].out, errstr, n) != 0) {
            return -1;
        }
    }
    return 0;
}

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
        } else if (fmt && strcmp(fmt, "H") == 0) {
            t->time_format = TIME_H;
        } else {
            err_set(errstr, n, "\"%s\".time_format must be HHMM, HH:MM:SS, HH:MM or H", key);
            return -1;
        }
    }
    return 0;
}

static int load_source(struct city *city, char *errstr, size_t n)
{
    struct city_source *src = &city->source;
    const json_t *v = json_object_get(city->root, "source");
    src->page_size = 0;
    if (!v || json_is_null(v)) {
        src->kind = strdup("socrata");
        return 0;
    }
    const char *kind = json_string_value(json_object_get(v, "kind"));
    if (!json_is_object(v) || !kind) {
        err_set(errstr, n,
                "\"source\" must be {\"kind\": \"socrata\" | \"arcgis\" | \"csv\", ...}");
        return -1;
    }
    src->kind = strdup(kind);
    const struct {
        const char *key;
        char **out;
    } keys[] = {{"path", &src->path},
                {"where", &src->where},
                {"order_by", &src->order_by},
                {"repeat_key", &src->repeat_key}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (opt_field(v, keys[i].key, keys[i].out, errstr, n) != 0) {
            return -1;
        }
    }
    const json_t *ps = json_object_get(v, "page_size"), *fy = json_object_get(v, "first_year");
    src->page_size = json_is_integer(ps) ? (int)json_integer_value(ps) : 0;
    src->first_year = json_is_integer(fy) ? (int)json_integer_value(fy) : 0;
    if (strcmp(kind, "socrata") == 0) {
        return 0;
    }
    if (strcmp(kind, "arcgis") != 0 && strcmp(kind, "csv") != 0) {
        err_set(errstr, n, "source.kind %s is not one of socrata, arcgis, csv", kind);
        return -1;
    }
    if (!src->path || src->path[0] != '/') {
        err_set(errstr, n, "source.path must be the URL's path (starting with /)");
        return -1;
    }
    if (strcmp(kind, "arcgis") == 0) {
        if (!src->order_by) {
            err_set(errstr, n, "source.order_by is required for arcgis (a deterministic order)");
            return -1;
        }
        if (src->page_size < 0 || src->page_size > 50000) {
            err_set(errstr, n, "source.page_size must be 1..50000");
            return -1;
        }
    } else if (!strstr(src->path, "{year}") || src->first_year < 1900 || src->first_year > 9999) {
        err_set(errstr, n, "csv: source.path must hold {year} and source.first_year a year");
        return -1;
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
        load_time(root, "updated_at", false, &city->updated_at, e, sizeof(e)) ||
        field_list(json_object_get(root, "category_from"), "category_from", &city->category_fields,
                   &city->n_category_fields, e, sizeof(e)) ||
        field_list(json_object_get(root, "unstable_fields"), "unstable_fields",
                   &city->unstable_fields, &city->n_unstable_fields, e, sizeof(e)) ||
        opt_fields(city, e, sizeof(e)) || load_source(city, e, sizeof(e)) ||
        load_categories(city, e, sizeof(e))) {
        err_set(errstr, n, "%s%s", prefix, *e ? e : "\"incident_id\" is required");
        goto fail;
    }
    if (!city->n_category_fields) {
        err_set(errstr, n, "%s\"category_from\" is required", prefix);
        goto fail;
    }
    city->category_from = city->category_fields[0];
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
    free(city->updated_at.field);
    free(city->updated_at.time_field);
    free_list(city->category_fields, city->n_category_fields);
    free_list(city->unstable_fields, city->n_unstable_fields);
    char *singles[] = {city->offense_code,
                       city->area,
                       city->beat,
                       city->address,
                       city->latitude,
                       city->longitude,
                       city->location,
                       city->arrest,
                       city->domestic,
                       city->crime_against_from,
                       city->source.kind,
                       city->source.path,
                       city->source.where,
                       city->source.order_by,
                       city->source.repeat_key};
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
