#define _GNU_SOURCE
#include "cityfile.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static const char *opt_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A string or a list of strings as a borrowed array (NULL-free). -1 on a wrong type. */
static int str_list(json_t *v, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (json_is_string(v)) {
        *out = malloc(sizeof(char *));
        if (!*out) {
            return -1;
        }
        (*out)[0] = json_string_value(v);
        *n = 1;
        return 0;
    }
    if (!json_is_array(v)) {
        return -1;
    }
    *out = calloc(json_array_size(v) + 1, sizeof(char *));
    if (!*out) {
        return -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item)) {
            return -1;
        }
        (*out)[(*n)++] = json_string_value(item);
    }
    return 0;
}

static int read_time(json_t *v, struct sc_time *t, char *errstr, size_t errstr_size,
                     const char *key)
{
    memset(t, 0, sizeof(*t));
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_object(v) || !opt_str(v, "field")) {
        err_set(errstr, errstr_size, "%s: expected {\"field\": ...} or null", key);
        return -1;
    }
    t->field = opt_str(v, "field");
    t->time_field = opt_str(v, "time");
    if (t->time_field) {
        const char *f = opt_str(v, "time_format");
        if (f && strcmp(f, "HHMM") == 0) {
            t->time_format = SC_TIME_HHMM;
        } else if (f && strcmp(f, "HH:MM:SS") == 0) {
            t->time_format = SC_TIME_HH_MM_SS;
        } else if (f && strcmp(f, "HH:MM") == 0) {
            t->time_format = SC_TIME_HH_MM;
        } else {
            err_set(errstr, errstr_size, "%s: unknown time_format", key);
            return -1;
        }
    }
    return 0;
}

static struct sc_city *from_root(json_t *root, char *errstr, size_t errstr_size)
{
    struct sc_city *c = calloc(1, sizeof(*c));
    if (!c) {
        json_decref(root);
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->root = root;
    c->name = opt_str(root, "name");
    c->dataset = opt_str(root, "dataset");
    c->time_zone = opt_str(root, "time_zone");
    if (!c->name || !c->dataset) {
        err_set(errstr, errstr_size, "missing name or dataset");
        goto fail;
    }
    json_t *bbox = json_object_get(root, "bbox");
    if (!json_is_array(bbox) || json_array_size(bbox) != 4) {
        err_set(errstr, errstr_size, "bbox: expected [lat_min, lon_min, lat_max, lon_max]");
        goto fail;
    }
    for (size_t i = 0; i < 4; i++) {
        c->bbox[i] = json_number_value(json_array_get(bbox, i));
    }
    if (str_list(json_object_get(root, "incident_id"), &c->id_fields, &c->n_id_fields) != 0 ||
        c->n_id_fields == 0) {
        err_set(errstr, errstr_size, "incident_id: expected a field or a list of fields");
        goto fail;
    }
    if (str_list(json_object_get(root, "fields"), &c->fields, &c->n_fields) != 0 ||
        c->n_fields == 0) {
        err_set(errstr, errstr_size, "fields: expected a list of field names");
        goto fail;
    }
    if (read_time(json_object_get(root, "occurred_at"), &c->occurred_at, errstr, errstr_size,
                  "occurred_at") != 0 ||
        read_time(json_object_get(root, "reported_at"), &c->reported_at, errstr, errstr_size,
                  "reported_at") != 0) {
        goto fail;
    }
    if (!c->occurred_at.field) {
        err_set(errstr, errstr_size, "occurred_at is required");
        goto fail;
    }
    c->report_id = opt_str(root, "report_id");
    c->offense_code = opt_str(root, "offense_code");
    c->area = opt_str(root, "area");
    c->beat = opt_str(root, "beat");
    c->address = opt_str(root, "address");
    c->latitude = opt_str(root, "latitude");
    c->longitude = opt_str(root, "longitude");
    c->location = opt_str(root, "location");
    c->arrest = opt_str(root, "arrest");
    c->domestic = opt_str(root, "domestic");
    c->category_from = opt_str(root, "category_from");
    c->crime_against_from = opt_str(root, "crime_against_from");
    json_t *cats = json_object_get(root, "categories");
    if (json_is_object(cats)) {
        c->categories = calloc(json_object_size(cats) + 1, sizeof(char *));
        if (!c->categories) {
            err_set(errstr, errstr_size, "out of memory");
            goto fail;
        }
        const char *key;
        json_t *val;
        json_object_foreach(cats, key, val)
        {
            c->categories[c->n_categories++] = key;
        }
    }
    c->rows_per_report = 1;
    json_t *gen = json_object_get(root, "generator");
    if (json_is_object(gen)) {
        const char *shape = opt_str(gen, "location_shape");
        if (!shape || strcmp(shape, "none") == 0) {
            c->location_shape = SC_LOC_NONE;
        } else if (strcmp(shape, "point") == 0) {
            c->location_shape = SC_LOC_POINT;
        } else if (strcmp(shape, "latlon") == 0) {
            c->location_shape = SC_LOC_LATLON;
        } else if (strcmp(shape, "legacy") == 0) {
            c->location_shape = SC_LOC_LEGACY;
        } else {
            err_set(errstr, errstr_size, "generator.location_shape: unknown shape %s", shape);
            goto fail;
        }
        json_t *values = json_object_get(gen, "values");
        c->values = json_is_object(values) ? values : NULL;
        c->redacted = opt_str(gen, "redacted");
        json_t *rpr = json_object_get(gen, "rows_per_report");
        if (json_is_integer(rpr) && json_integer_value(rpr) >= 1 &&
            json_integer_value(rpr) <= 100) {
            c->rows_per_report = (int)json_integer_value(rpr);
        }
    }
    if (!c->location) {
        c->location_shape = SC_LOC_NONE;
    }
    return c;
fail:
    sc_city_destroy(c);
    return NULL;
}

struct sc_city *sc_city_parse(const char *json, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    if (!root || !json_is_object(root)) {
        err_set(errstr, errstr_size, "bad JSON: %s (line %d)", jerr.text, jerr.line);
        json_decref(root);
        return NULL;
    }
    return from_root(root, errstr, errstr_size);
}

struct sc_city *sc_city_load(const char *dir, const char *name, char *errstr, size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root || !json_is_object(root)) {
        err_set(errstr, errstr_size, "%s: %s (line %d)", path, jerr.text, jerr.line);
        json_decref(root);
        return NULL;
    }
    struct sc_city *c = from_root(root, errstr, errstr_size);
    if (!c) {
        char reason[512];
        snprintf(reason, sizeof(reason), "%s", errstr);
        err_set(errstr, errstr_size, "%s: %s", path, reason);
    }
    return c;
}

void sc_city_destroy(struct sc_city *c)
{
    if (!c) {
        return;
    }
    free(c->id_fields);
    free(c->fields);
    free(c->categories);
    json_decref(c->root);
    free(c);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **sc_city_names(const char *dir, char *errstr, size_t errstr_size)
{
    DIR *d = opendir(dir);
    if (!d) {
        err_set(errstr, errstr_size, "cannot open %s", dir);
        return NULL;
    }
    size_t n = 0, cap = 8;
    char **names = calloc(cap + 1, sizeof(char *));
    struct dirent *de;
    while (names && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || de->d_name[0] == '.' || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }
        if (n == cap) {
            char **grown = realloc(names, (cap * 2 + 1) * sizeof(char *));
            if (!grown) {
                sc_city_names_free(names);
                names = NULL;
                break;
            }
            names = grown;
            cap *= 2;
        }
        names[n] = strndup(de->d_name, len - 5);
        names[++n] = NULL;
    }
    closedir(d);
    if (!names) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    qsort(names, n, sizeof(char *), cmp_str);
    return names;
}

void sc_city_names_free(char **names)
{
    if (!names) {
        return;
    }
    for (char **p = names; *p; p++) {
        free(*p);
    }
    free(names);
}
