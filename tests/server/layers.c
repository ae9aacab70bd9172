/* ArcGIS layers and CSV files rendered from generated rows. See layers.h. */
#define _GNU_SOURCE
#include "tests/server/layers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"
#include "common/tz.h"

static bool is_objectid(const struct gen_city *g, int col)
{
    const struct city *city = gen_city_file(g);
    const char *name = gen_col_name(g, col);
    for (size_t i = 0; i < city->n_unstable_fields; i++) {
        if (strcmp(city->unstable_fields[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_coord(const struct gen_city *g, int col)
{
    const struct city *city = gen_city_file(g);
    const char *name = gen_col_name(g, col);
    return (city->latitude && strcmp(name, city->latitude) == 0) ||
           (city->longitude && strcmp(name, city->longitude) == 0);
}

static bool is_date(const struct gen_city *g, int col)
{
    return strcmp(gen_col_type(g, col), "floating_timestamp") == 0;
}

static const char *value_of(const struct gen_city *g, const struct gen_row *r, int col)
{
    struct gen_row_ctx rc = {g, r};
    return gen_value(&rc, col);
}

/* A floating wall time of the city as epoch milliseconds (INT64_MIN when unreadable). */
static int64_t wall_ms(const struct gen_city *g, const char *s)
{
    struct civil_time ct;
    bool zone;
    int off;
    if (iso8601_parse(s, &ct, &zone, &off) != 0) {
        return INT64_MIN;
    }
    return tz_to_utc_us(gen_city_file(g)->tz, &ct) / 1000;
}

void layers_arcgis_fields(const struct gen_city *g, struct buf *out)
{
    buf_puts(out, "\"fields\":[");
    for (size_t k = 0; k < gen_n_cols(g); k++) {
        int col = (int)k;
        const char *type = is_objectid(g, col) ? "esriFieldTypeOID"
                           : is_date(g, col)   ? "esriFieldTypeDate"
                           : is_coord(g, col)  ? "esriFieldTypeDouble"
                                               : "esriFieldTypeString";
        buf_printf(out, "%s{\"name\":\"%s\",\"type\":\"%s\",\"alias\":\"%s\"}", k ? "," : "",
                   gen_col_name(g, col), type, gen_col_name(g, col));
    }
    buf_puts(out, "]");
}

void layers_arcgis_info(const struct gen_city *g, long max_records, int64_t edit_ms,
                        struct buf *out)
{
    const struct city *city = gen_city_file(g);
    buf_printf(out,
               "{\"currentVersion\":11.3,\"id\":0,\"name\":\"%s\",\"type\":\"Feature Layer\","
               "\"geometryType\":\"esriGeometryPoint\",\"objectIdField\":\"OBJECTID\","
               "\"maxRecordCount\":%ld,\"standardMaxRecordCount\":%ld,\"supportsPagination\":true,"
               "\"editingInfo\":{\"lastEditDate\":%lld,\"dataLastEditDate\":%lld},",
               city->dataset, max_records, max_records * 2, (long long)edit_ms, (long long)edit_ms);
    layers_arcgis_fields(g, out);
    buf_puts(out, "}");
}

void layers_arcgis_feature(const struct gen_city *g, const struct gen_row *r, uint64_t objectid,
                           struct buf *out)
{
    const struct city *city = gen_city_file(g);
    const char *lat = NULL, *lon = NULL;
    buf_puts(out, "{\"attributes\":{");
    bool first = true;
    for (size_t k = 0; k < gen_n_cols(g); k++) {
        int col = (int)k;
        const char *name = gen_col_name(g, col), *v = value_of(g, r, col);
        buf_printf(out, "%s\"%s\":", first ? "" : ",", name);
        first = false;
        if (is_objectid(g, col)) {
            buf_printf(out, "%llu", (unsigned long long)objectid);
        } else if (!v) {
            buf_puts(out, "null");
        } else if (is_date(g, col)) {
            int64_t ms = wall_ms(g, v);
            if (ms == INT64_MIN) { /* a malformed row's "not a date" stays a string */
                buf_put_json_string(out, v, strlen(v));
            } else {
                buf_printf(out, "%lld", (long long)ms);
            }
        } else if (is_coord(g, col)) {
            char *end;
            strtod(v, &end);
            if (*v && !*end) {
                buf_puts(out, v);
            } else {
                buf_put_json_string(out, v, strlen(v));
            }
            if (city->latitude && strcmp(name, city->latitude) == 0) {
                lat = v;
            } else {
                lon = v;
            }
        } else if (v[0] == '{') { /* a malformed row's object */
            buf_puts(out, v);
        } else {
            buf_put_json_string(out, v, strlen(v));
        }
    }
    buf_puts(out, "}");
    if (lat && lon && strcmp(lat, "0") != 0) {
        buf_printf(out, ",\"geometry\":{\"x\":%s,\"y\":%s}", lon, lat);
    }
    buf_puts(out, "}");
}

int layers_row_year(const struct gen_city *g, const struct gen_row *r)
{
    const struct city *city = gen_city_file(g);
    for (size_t k = 0; k < gen_n_cols(g); k++) {
        if (strcmp(gen_col_name(g, (int)k), city->occurred_at.field) == 0) {
            const char *v = value_of(g, r, (int)k);
            return v && isdigit((unsigned char)v[0]) ? atoi(v) : 0;
        }
    }
    return 0;
}

static void csv_field(struct buf *out, const char *v)
{
    if (!strpbrk(v, ",\"\r\n")) {
        buf_puts(out, v);
        return;
    }
    buf_putc(out, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"') {
            buf_putc(out, '"');
        }
        buf_putc(out, *p);
    }
    buf_putc(out, '"');
}

void layers_csv_header(const struct gen_city *g, bool upper, struct buf *out)
{
    buf_puts(out, "\xef\xbb\xbf");
    for (size_t k = 0; k < gen_n_cols(g); k++) {
        char name[256];
        snprintf(name, sizeof(name), "%s", gen_col_name(g, (int)k));
        for (char *p = name; upper && *p; p++) {
            *p = (char)toupper((unsigned char)*p);
        }
        if (k) {
            buf_putc(out, ',');
        }
        csv_field(out, name);
    }
    buf_puts(out, "\r\n");
}

void layers_csv_row(const struct gen_city *g, const struct gen_row *r, uint64_t objectid,
                    struct buf *out)
{
    for (size_t k = 0; k < gen_n_cols(g); k++) {
        int col = (int)k;
        const char *v = value_of(g, r, col);
        if (k) {
            buf_putc(out, ',');
        }
        if (is_objectid(g, col)) {
            buf_printf(out, "%llu", (unsigned long long)objectid);
        } else if (v && is_date(g, col) && strlen(v) >= 19 && v[10] == 'T') {
            buf_printf(out, "%.10s %.8s", v, v + 11);
        } else if (v) {
            csv_field(out, v);
        }
    }
    buf_puts(out, "\r\n");
}
