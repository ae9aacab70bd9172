/* The local Socrata server's row generator (gen.c) and overlay store (store.c): determinism,
 * :id and :updated_at order with ties, value encodings, location shapes, split date/time
 * columns, versions, malformed rows, and a keyset walk across changes. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/cmocka_all.h"

#include "producers/city.h"
#include "tests/server/gen.h"
#include "tests/server/soql.h"
#include "tests/server/store.h"
#include "common/timeutil.h"
#include "common/tz.h"

static const char *chicago_json =
    "{\"name\":\"chicago\",\"domain\":\"example.org\",\"dataset\":\"ijzp-q8t2\",\"time_zone\":"
    "\"America/Chicago\","
    "\"bbox\":[41.6,-87.95,42.05,-87.5],\"incident_id\":[\"id\"],\"report_id\":\"case_number\","
    "\"occurred_at\":{\"field\":\"date\"},\"reported_at\":null,\"offense_code\":\"iucr\","
    "\"offense\":[\"primary_type\",\"description\"],\"area\":\"district\",\"beat\":\"beat\","
    "\"address\":\"block\",\"latitude\":\"latitude\",\"longitude\":\"longitude\","
    "\"location\":\"location\",\"arrest\":\"arrest\",\"domestic\":\"domestic\","
    "\"category_from\":\"primary_type\",\"categories\":{\"THEFT\":\"theft\",\"BATTERY\":"
    "\"assault\",\"ARSON\":\"arson\"},"
    "\"fields\":[\"id\",\"case_number\",\"date\",\"block\",\"iucr\",\"primary_type\","
    "\"description\",\"arrest\",\"domestic\",\"beat\",\"district\",\"x_coordinate\",\"year\","
    "\"updated_on\",\"latitude\",\"longitude\",\"location\"],"
    "\"generator\":{\"id\":\"serial\",\"location_shape\":\"point\",\"values\":{\"description\":"
    "[\"SIMPLE\",\"AUTOMOBILE\"]}}}";

static const char *nyc_json =
    "{\"name\":\"nyc\",\"domain\":\"example.org\",\"dataset\":\"5uac-w243\",\"time_zone\":"
    "\"America/New_York\","
    "\"bbox\":[40.4,-74.3,40.95,-73.65],\"incident_id\":\"cmplnt_num\",\"report_id\":null,"
    "\"occurred_at\":{\"field\":\"cmplnt_fr_dt\",\"time\":\"cmplnt_fr_tm\",\"time_format\":"
    "\"HH:MM:SS\"},\"reported_at\":{\"field\":\"rpt_dt\"},\"category_from\":\"ofns_desc\","
    "\"categories\":{\"FELONY ASSAULT\":\"assault\"},\"latitude\":\"latitude\",\"longitude\":"
    "\"longitude\",\"location\":\"lat_lon\",\"fields\":[\"cmplnt_num\",\"cmplnt_fr_dt\","
    "\"cmplnt_fr_tm\",\"rpt_dt\",\"ofns_desc\",\"latitude\",\"longitude\",\"lat_lon\"],"
    "\"generator\":{\"location_shape\":\"latlon\"}}";

static const char *la_json =
    "{\"name\":\"los-angeles\",\"domain\":\"example.org\",\"dataset\":\"2nrs-mtv8\",\"time_zone\":"
    "\"America/Los_Angeles\","
    "\"bbox\":[33.7,-118.7,34.35,-118.15],\"incident_id\":[\"dr_no\"],\"occurred_at\":"
    "{\"field\":\"date_occ\",\"time\":\"time_occ\",\"time_format\":\"HHMM\"},\"latitude\":"
    "\"lat\",\"longitude\":\"lon\",\"category_from\":\"crm_cd_desc\",\"categories\":{\"X\":"
    "\"other\"},\"fields\":[\"dr_no\",\"date_occ\",\"time_occ\",\"crm_cd_desc\",\"lat\","
    "\"lon\"],\"generator\":{\"location_shape\":\"none\"}}";

static const char *seattle_json =
    "{\"name\":\"seattle\",\"domain\":\"example.org\",\"dataset\":\"tazs-3rd5\",\"time_zone\":"
    "\"America/Los_Angeles\","
    "\"bbox\":[47.4,-122.45,47.8,-122.2],\"incident_id\":[\"offense_id\"],\"report_id\":"
    "\"report_number\",\"occurred_at\":{\"field\":\"offense_date\"},\"latitude\":\"latitude\","
    "\"longitude\":\"longitude\",\"location\":\"location\",\"category_from\":"
    "\"offense_sub_category\",\"categories\":{\"ROBBERY\":\"robbery\"},\"fields\":["
    "\"report_number\",\"offense_id\",\"offense_date\",\"offense_sub_category\",\"latitude\","
    "\"longitude\",\"location\",\"incident_time\"],\"generator\":{\"location_shape\":\"legacy\","
    "\"redacted\":\"REDACTED\",\"rows_per_report\":3}}";

#define ANCHOR 1767225600000LL /* 2026-01-01T00:00:00Z */

/* A city from JSON text, through the project's loader: written to <tmp>/<name>.json, loaded with
 * city_load, removed. NULL with err on failure. */
static struct city *city_from_json(const char *json, char *err, size_t err_size)
{
    json_t *root = json_loads(json, 0, NULL);
    const char *name = json_string_value(json_object_get(root, "name"));
    if (!name) {
        json_decref(root);
        snprintf(err, err_size, "test city JSON without a name");
        return NULL;
    }
    char dir[] = "/tmp/test_socrata_gen.XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        json_decref(root);
        snprintf(err, err_size, "mkdtemp failed");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s.json", dir, name);
    FILE *f = fopen(path, "w");
    struct city *city = NULL;
    if (f) {
        fputs(json, f);
        fclose(f);
        city = city_load(dir, name, err, err_size);
    } else {
        snprintf(err, err_size, "cannot write %s", path);
    }
    remove(path);
    rmdir(dir);
    json_decref(root);
    return city;
}

struct fixture {
    struct city *city;
    struct gen_city *g;
};

static void load(struct fixture *f, const char *json, uint64_t seed, uint64_t rows)
{
    char err[512];
    f->city = city_from_json(json, err, sizeof(err));
    if (!f->city) {
        fail_msg("city: %s", err);
    }
    f->g = gen_city_new(f->city, seed, rows, ANCHOR, err, sizeof(err));
    if (!f->g) {
        fail_msg("gen: %s", err);
    }
}

static void unload(struct fixture *f)
{
    gen_city_destroy(f->g);
    city_destroy(f->city);
}

/* Row i (version v, malformed 1 in k) as parsed JSON with system fields. */
static json_t *row_json(const struct gen_city *g, uint64_t i, uint32_t v, unsigned k,
                        struct buf *buf)
{
    struct gen_meta m;
    gen_base_meta(g, i, &m);
    m.version = v;
    struct gen_row r = {0};
    gen_row_make(g, &m, k, &r);
    buf->len = 0;
    gen_row_json(g, &r, true, NULL, 0, buf);
    gen_row_free(&r);
    json_error_t jerr;
    json_t *j = json_loadb(buf->p, buf->len, JSON_ALLOW_NUL, &jerr);
    return j;
}

static void test_determinism(void **state)
{
    (void)state;
    struct fixture a, b, c;
    load(&a, chicago_json, 7, 5000);
    load(&b, chicago_json, 7, 5000);
    load(&c, chicago_json, 8, 5000);
    struct buf ba = {0}, bb = {0}, bc = {0};
    int differ = 0;
    for (uint64_t i = 0; i < 5000; i += 37) {
        json_decref(row_json(a.g, i, 0, 0, &ba));
        json_decref(row_json(b.g, i, 0, 0, &bb));
        json_decref(row_json(c.g, i, 0, 0, &bc));
        assert_int_equal(ba.len, bb.len);
        assert_memory_equal(ba.p, bb.p, ba.len);
        differ += ba.len != bc.len || memcmp(ba.p, bc.p, ba.len) != 0;
    }
    assert_true(differ > 100); /* another seed, other rows */
    buf_free(&ba);
    buf_free(&bb);
    buf_free(&bc);
    unload(&a);
    unload(&b);
    unload(&c);
}

static void test_ids_and_updated_order(void **state)
{
    (void)state;
    struct fixture f;
    const uint64_t rows = 100000;
    load(&f, chicago_json, 1, rows);
    char prev_id[GEN_ID_LEN + 1] = "", id[GEN_ID_LEN + 1];
    int64_t prev = INT64_MIN;
    uint64_t run = 0, longest = 0, ties = 0;
    struct gen_cursor cur;
    gen_cursor_init(f.g, 0, &cur);
    for (uint64_t i = 0; i < rows; i++, gen_cursor_next(f.g, &cur)) {
        gen_format_id(i, id);
        assert_int_equal(strlen(id), GEN_ID_LEN);
        assert_true(strcmp(prev_id, id) < 0);
        uint64_t back;
        assert_true(gen_parse_id(id, &back));
        assert_true(back == i);
        memcpy(prev_id, id, sizeof(id));
        int64_t ms = gen_cursor_ms(f.g, &cur);
        if (i % 997 == 0) {
            assert_true(ms == gen_base_updated_ms(f.g, i)); /* cursor = random access */
        }
        assert_true(ms >= prev);
        run = ms == prev ? run + 1 : 1;
        ties += ms == prev;
        longest = run > longest ? run : longest;
        prev = ms;
    }
    assert_true(longest <= GEN_MAX_RUN);
    assert_true(longest >= 100); /* long ties exist */
    assert_true(ties > rows / 4);
    assert_true(gen_base_updated_ms(f.g, 0) >= ANCHOR - GEN_SPAN_MS);
    assert_true(gen_base_last_ms(f.g) < ANCHOR);
    /* binary search: the first row at or after a time */
    for (uint64_t i = 1; i < rows; i += 4999) {
        int64_t ms = gen_base_updated_ms(f.g, i);
        uint64_t lb = gen_base_lower_bound(f.g, ms);
        assert_true(lb <= i);
        assert_true(gen_base_updated_ms(f.g, lb) == ms);
        assert_true(lb == 0 || gen_base_updated_ms(f.g, lb - 1) < ms);
    }
    assert_true(gen_base_lower_bound(f.g, ANCHOR) == rows);
    assert_false(gen_parse_id("row-12", &run));
    assert_false(gen_parse_id("abc-0000000001", &run));
    unload(&f);
}

static void test_encodings_point(void **state)
{
    (void)state;
    struct fixture f;
    load(&f, chicago_json, 1, 2000);
    struct buf buf = {0};
    int omitted_block = 0, zero = 0, unclassified = 0, no_coords = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        json_t *j = row_json(f.g, i, 0, 0, &buf);
        assert_non_null(j);
        /* numbers as strings, checkboxes as booleans, nulls omitted (never JSON null) */
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            assert_false(json_is_null(v));
            assert_false(json_is_number(v));
        }
        assert_true(json_is_string(json_object_get(j, "id")));
        char want[16];
        snprintf(want, sizeof(want), "%llu", 10000000ULL + (unsigned long long)i);
        assert_string_equal(json_string_value(json_object_get(j, "id")), want);
        assert_true(json_is_boolean(json_object_get(j, "arrest")));
        const char *d = json_string_value(json_object_get(j, "date"));
        assert_int_equal(strlen(d), 23); /* 2024-02-15T07:09:00.000, no zone */
        assert_true(d[10] == 'T' && d[22] != 'Z');
        const char *u = json_string_value(json_object_get(j, ":updated_at"));
        assert_int_equal(strlen(u), 24);
        assert_true(u[23] == 'Z');
        assert_true(strcmp(json_string_value(json_object_get(j, ":created_at")), u) <= 0);
        const char *desc = json_string_value(json_object_get(j, "description"));
        assert_true(!desc || strcmp(desc, "SIMPLE") == 0 || strcmp(desc, "AUTOMOBILE") == 0);
        const char *pt = json_string_value(json_object_get(j, "primary_type"));
        assert_non_null(pt);
        unclassified += strcmp(pt, "UNCLASSIFIED OFFENSE") == 0;
        omitted_block += json_object_get(j, "block") == NULL;
        json_t *loc = json_object_get(j, "location");
        json_t *lat = json_object_get(j, "latitude");
        if (!lat) {
            no_coords++;
            assert_null(loc);
        } else if (strcmp(json_string_value(lat), "0") == 0) {
            zero++;
        } else {
            double la = atof(json_string_value(lat));
            double lo = atof(json_string_value(json_object_get(j, "longitude")));
            assert_true(la >= 41.6 && la <= 42.05 && lo >= -87.95 && lo <= -87.5);
            assert_string_equal(json_string_value(json_object_get(loc, "type")), "Point");
            json_t *c = json_object_get(loc, "coordinates");
            assert_true(json_is_number(json_array_get(c, 0)));
            assert_true(json_number_value(json_array_get(c, 0)) == lo);
            assert_true(json_number_value(json_array_get(c, 1)) == la);
        }
        json_decref(j);
    }
    assert_true(unclassified > 0 && unclassified < 40);
    assert_true(omitted_block > 0);
    assert_true(zero > 0 && no_coords > 0);
    buf_free(&buf);
    unload(&f);
}

static void test_shapes_and_split_times(void **state)
{
    (void)state;
    struct fixture f;
    struct buf buf = {0};

    load(&f, nyc_json, 1, 300);
    for (uint64_t i = 0; i < 300; i++) {
        json_t *j = row_json(f.g, i, 0, 0, &buf);
        const char *d = json_string_value(json_object_get(j, "cmplnt_fr_dt"));
        assert_string_equal(d + 10, "T00:00:00.000");
        const char *t = json_string_value(json_object_get(j, "cmplnt_fr_tm"));
        assert_int_equal(strlen(t), 8); /* 22:30:00 */
        assert_true(t[2] == ':' && t[5] == ':');
        assert_string_equal(json_string_value(json_object_get(j, "rpt_dt")) + 16, ":00.000");
        json_t *loc = json_object_get(j, "lat_lon");
        if (loc && strcmp(json_string_value(json_object_get(j, "latitude")), "0") != 0) {
            assert_string_equal(json_string_value(json_object_get(loc, "latitude")),
                                json_string_value(json_object_get(j, "latitude")));
            assert_true(json_is_string(json_object_get(loc, "longitude")));
            assert_null(json_object_get(loc, "type"));
        }
        json_decref(j);
    }
    unload(&f);

    load(&f, la_json, 1, 300);
    for (uint64_t i = 0; i < 300; i++) {
        json_t *j = row_json(f.g, i, 0, 0, &buf);
        const char *t = json_string_value(json_object_get(j, "time_occ"));
        assert_true(strlen(t) >= 1 && strlen(t) <= 4); /* 2015, or unpadded like LA: 5, 130 */
        assert_null(json_object_get(j, "location"));
        json_decref(j);
    }
    unload(&f);

    load(&f, seattle_json, 1, 3000);
    int redacted = 0, legacy = 0, shared_reports = 0;
    char prev_report[64] = "";
    for (uint64_t i = 0; i < 3000; i++) {
        json_t *j = row_json(f.g, i, 0, 0, &buf);
        const char *lat = json_string_value(json_object_get(j, "latitude"));
        redacted += lat && strcmp(lat, "REDACTED") == 0;
        json_t *loc = json_object_get(j, "location");
        if (loc) {
            legacy++;
            const char *ha = json_string_value(json_object_get(loc, "human_address"));
            assert_non_null(ha); /* a JSON string holding JSON */
            json_t *inner = json_loads(ha, 0, NULL);
            assert_true(json_is_string(json_object_get(inner, "address")));
            json_decref(inner);
        }
        const char *rep = json_string_value(json_object_get(j, "report_number"));
        assert_non_null(rep);
        shared_reports += strcmp(rep, prev_report) == 0;
        snprintf(prev_report, sizeof(prev_report), "%s", rep);
        json_decref(j);
    }
    assert_true(redacted > 0);
    assert_true(legacy > 2500);
    assert_true(shared_reports > 300 && shared_reports < 2500);
    unload(&f);
    buf_free(&buf);
}

static void test_versions(void **state)
{
    (void)state;
    struct fixture f;
    load(&f, chicago_json, 1, 1000);
    struct buf buf = {0};
    int changed = 0, date_moved = 0;
    for (uint64_t i = 0; i < 1000; i += 10) {
        json_t *v0 = row_json(f.g, i, 0, 0, &buf);
        json_t *v1 = row_json(f.g, i, 1, 0, &buf);
        assert_true(json_equal(json_object_get(v0, "id"), json_object_get(v1, "id")));
        json_t *b0 = json_object_get(v0, "block"), *b1 = json_object_get(v1, "block");
        assert_true(b0 == b1 || json_equal(b0, b1)); /* json_equal(NULL, NULL) is 0 */
        changed += !json_equal(v0, v1);
        date_moved += !json_equal(json_object_get(v0, "date"), json_object_get(v1, "date"));
        json_decref(v0);
        json_decref(v1);
    }
    assert_true(changed > 80);
    assert_true(date_moved > 10);
    buf_free(&buf);
    unload(&f);
}

static void test_malformed(void **state)
{
    (void)state;
    struct fixture f;
    load(&f, chicago_json, 1, 5000);
    struct buf buf = {0};
    int kinds[6] = {0};
    for (uint64_t i = 0; i < 5000; i++) {
        int k = gen_malformed_kind(f.g, i, 20);
        kinds[k]++;
        assert_int_equal(k, gen_malformed_kind(f.g, i, 20)); /* stable */
        if (k == GEN_MAL_NONE) {
            continue;
        }
        json_t *j = row_json(f.g, i, 0, 20, &buf);
        switch (k) {
        case GEN_MAL_NO_ID:
            assert_null(json_object_get(j, "id"));
            break;
        case GEN_MAL_BAD_DATE:
            assert_string_equal(json_string_value(json_object_get(j, "date")), "not a date");
            break;
        case GEN_MAL_WRONG_TYPE:
            assert_true(json_is_object(json_object_get(j, "date")));
            break;
        case GEN_MAL_BAD_UTF8:
            assert_null(j); /* not valid JSON text for a strict UTF-8 parser */
            assert_non_null(strstr(buf.p, "\xc3\x28"));
            break;
        case GEN_MAL_HUGE:
            assert_true(buf.len > 100 * 1024);
            break;
        }
        json_decref(j);
    }
    for (int k = 1; k <= 5; k++) {
        assert_true(kinds[k] > 20); /* every kind occurs, about 1 in 20 rows in all */
    }
    assert_true(kinds[0] > 4500);
    buf_free(&buf);
    unload(&f);
}

/* Occurred wall times follow the zone's daylight saving: every wall time exists (none in a
 * spring gap) and reads back, through the producer's conversion, to an instant showing it. */
static void test_daylight_saving(void **state)
{
    (void)state;
    struct fixture f;
    load(&f, nyc_json, 1, 20000);
    /* the table against the zone database */
    for (int64_t t = ANCHOR - GEN_SPAN_MS - 86400000LL * 60; t < ANCHOR + 86400000LL * 400;
         t += 7 * 3600000LL + 13 * 60000LL + 7000) {
        int off;
        assert_int_equal(tz_utc_offset_s("America/New_York", t / 1000, &off), 0);
        assert_true(gen_local_ms(f.g, t) == t + (int64_t)off * 1000);
    }
    assert_true(gen_local_ms(f.g, iso8601_to_us("2025-07-01T12:00:00Z") / 1000) ==
                iso8601_to_us("2025-07-01T08:00:00Z") / 1000);
    assert_true(gen_local_ms(f.g, iso8601_to_us("2025-01-15T12:00:00Z") / 1000) ==
                iso8601_to_us("2025-01-15T07:00:00Z") / 1000);
    /* rows */
    struct buf buf = {0};
    int summer = 0, winter = 0;
    for (uint64_t i = 0; i < 20000; i++) {
        json_t *j = row_json(f.g, i, 0, 0, &buf);
        char wall[40];
        snprintf(wall, sizeof(wall), "%.10sT%s",
                 json_string_value(json_object_get(j, "cmplnt_fr_dt")),
                 json_string_value(json_object_get(j, "cmplnt_fr_tm")));
        struct civil_time ct;
        bool has_zone;
        int off;
        assert_int_equal(iso8601_parse(wall, &ct, &has_zone, &off), 0);
        int64_t utc_us;
        assert_int_equal(tz_local_to_utc_us("America/New_York", &ct, &utc_us), 0);
        int64_t wall_ms = civil_to_us(&ct) / 1000;
        if (gen_local_ms(f.g, utc_us / 1000) != wall_ms) {
            fail_msg("row %llu: wall time %s does not exist in America/New_York",
                     (unsigned long long)i, wall);
        }
        summer += wall_ms - utc_us / 1000 == -4 * 3600000LL;
        winter += wall_ms - utc_us / 1000 == -5 * 3600000LL;
        json_decref(j);
    }
    assert_true(summer > 5000 && winter > 5000 && summer + winter == 20000);
    buf_free(&buf);
    unload(&f);
}

/* The "generator" hints of a city file, read from city->generator. */
static void test_generator_hints(void **state)
{
    (void)state;
    char err[512];
    static const struct {
        const char *generator, *error; /* error: NULL when valid */
    } cases[] = {
        {"{\"location_shape\":\"hexagon\"}", "generator.location_shape"},
        {"{\"id\":\"uuid\"}", "generator.id"},
        {"{\"rows_per_report\":0}", "generator.rows_per_report"},
        {"{\"values\":[]}", "generator.values"},
        {"{\"redacted\":1}", "generator.redacted"},
        {"{\"values\":{\"incident_time\":[1]}}", "generator.values.incident_time"},
        {"{\"id\":\"serial\",\"rows_per_report\":3}", NULL},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        /* seattle_json with another generator object */
        json_t *root = json_loads(seattle_json, 0, NULL);
        json_object_set_new(root, "generator", json_loads(cases[k].generator, 0, NULL));
        char *text = json_dumps(root, 0);
        struct city *city = city_from_json(text, err, sizeof(err));
        assert_non_null(city);
        err[0] = '\0';
        struct gen_city *g = gen_city_new(city, 1, 10, ANCHOR, err, sizeof(err));
        if (cases[k].error) {
            assert_null(g);
            if (!strstr(err, cases[k].error)) {
                fail_msg("%s: error \"%s\", want %s", cases[k].generator, err, cases[k].error);
            }
        } else {
            assert_non_null(g);
            assert_string_equal(gen_col_type(g, 1), "text"); /* offense_id */
        }
        gen_city_destroy(g);
        city_destroy(city);
        free(text);
        json_decref(root);
    }
    /* no generator object: defaults (no location shape even with a location field) */
    json_t *root = json_loads(seattle_json, 0, NULL);
    json_object_del(root, "generator");
    char *text = json_dumps(root, 0);
    struct city *city = city_from_json(text, err, sizeof(err));
    assert_non_null(city);
    struct gen_hints h;
    assert_int_equal(gen_hints_read(city, &h, err, sizeof(err)), 0);
    assert_int_equal(h.location_shape, LOC_NONE);
    assert_int_equal(h.rows_per_report, 1);
    assert_null(h.values);
    assert_null(h.redacted);
    city_destroy(city);
    free(text);
    json_decref(root);
    /* seattle as written */
    city = city_from_json(seattle_json, err, sizeof(err));
    assert_int_equal(gen_hints_read(city, &h, err, sizeof(err)), 0);
    assert_int_equal(h.location_shape, LOC_LEGACY);
    assert_int_equal(h.rows_per_report, 3);
    assert_string_equal(h.redacted, "REDACTED");
    city_destroy(city);
}

/* Base rows do not depend on the day the server starts. */
static void test_anchor(void **state)
{
    (void)state;
    assert_true(gen_anchor_ms(GEN_ANCHOR_MS + 86400000LL * 300 + 12345) == GEN_ANCHOR_MS);
    assert_true(gen_anchor_ms(GEN_ANCHOR_MS) == GEN_ANCHOR_MS);
    /* a clock before the anchor: the start of its UTC day, so base rows stay in the past */
    int64_t early = GEN_ANCHOR_MS - 86400000LL * 10 - 5000;
    assert_true(gen_anchor_ms(early) == GEN_ANCHOR_MS - 86400000LL * 11);
}

/* ---- Store: a keyset walk over base rows, updates and appends ---- */

static void test_store_keyset_walk(void **state)
{
    (void)state;
    char err[512];
    struct city *city = city_from_json(chicago_json, err, sizeof(err));
    assert_non_null(city);
    const uint64_t rows = 20000;
    struct store_city *s = store_city_new(gen_city_new(city, 3, rows, ANCHOR, err, sizeof(err)), 3);
    assert_non_null(s);
    store_update(s, 300, ANCHOR + 1000);
    store_append(s, 200, ANCHOR + 2000);
    store_update(s, 50, ANCHOR + 3000); /* some update rows updated or appended before */
    store_replace(s, ANCHOR - 1);       /* stamped after the last change anyway: strictly ordered */
    store_append(s, 10, ANCHOR + 1);

    unsigned char *seen = calloc(rows + 210, 1);
    char u[32] = "", id[32] = "";
    uint64_t total = 0;
    struct buf out = {0};
    for (;;) {
        char where[160];
        snprintf(where, sizeof(where),
                 "(:updated_at > '%s' OR (:updated_at = '%s' AND :id > '%s'))", u, u, id);
        struct soql_params p = {":*,*", u[0] ? where : NULL, ":updated_at,:id", "3000", NULL};
        struct soql_query q;
        struct soql_error qerr;
        assert_int_equal(soql_query_parse(&p, gen_resolve, (void *)store_gen(s), &q, &qerr), 0);
        enum store_order order;
        assert_true(store_order_of(&q, &order));
        assert_int_equal(order, STORE_ORDER_UPDATED);
        out.len = 0;
        struct store_result res;
        store_query(s, &q, order, INT64_MAX, &out, 0, NULL, NULL, &res);
        soql_query_clear(&q);
        json_t *page = json_loadb(out.p, out.len, 0, NULL);
        assert_non_null(page);
        size_t n = json_array_size(page);
        assert_int_equal(n, res.rows);
        for (size_t j = 0; j < n; j++) {
            json_t *r = json_array_get(page, j);
            const char *ru = json_string_value(json_object_get(r, ":updated_at"));
            const char *ri = json_string_value(json_object_get(r, ":id"));
            int c = strcmp(ru, u);
            assert_true(c > 0 || (c == 0 && strcmp(ri, id) > 0)); /* strictly increasing */
            uint64_t idx;
            assert_true(gen_parse_id(ri, &idx));
            assert_true(idx < rows + 210);
            assert_int_equal(seen[idx], 0);
            seen[idx] = 1;
            snprintf(u, sizeof(u), "%s", ru);
            snprintf(id, sizeof(id), "%s", ri);
        }
        json_decref(page);
        total += n;
        if (n < 3000) {
            break;
        }
    }
    assert_true(total == rows + 210);
    struct store_stats st;
    store_stats(s, &st);
    assert_true(st.new_rows == 210);
    assert_true(st.replace_ms >= ANCHOR + 3000);

    /* count(*) and the :id walk agree */
    struct soql_params p = {"count(*)", "n_missing IS NULL", NULL, NULL, NULL};
    struct soql_query q;
    struct soql_error qerr;
    assert_int_equal(soql_query_parse(&p, gen_resolve, (void *)store_gen(s), &q, &qerr), -1);
    p.where = ":id >= 'row-0000019990'";
    assert_int_equal(soql_query_parse(&p, gen_resolve, (void *)store_gen(s), &q, &qerr), 0);
    struct store_result res;
    out.len = 0;
    store_query(s, &q, STORE_ORDER_ID, INT64_MAX, &out, 0, NULL, NULL, &res);
    assert_string_equal(out.p, "[{\"count\":\"220\"}]\n");
    soql_query_clear(&q);

    free(seen);
    buf_free(&out);
    store_city_destroy(s);
    city_destroy(city);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),     cmocka_unit_test(test_ids_and_updated_order),
        cmocka_unit_test(test_encodings_point), cmocka_unit_test(test_shapes_and_split_times),
        cmocka_unit_test(test_versions),        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_daylight_saving), cmocka_unit_test(test_generator_hints),
        cmocka_unit_test(test_anchor),          cmocka_unit_test(test_store_keyset_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
