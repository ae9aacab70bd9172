/* The streaming CSV reader (producers/csv.c) and the San Diego city file: quoted fields with
 * commas, quotes and newlines, a UTF-8 BOM, header names in capitals (matched to the city
 * file's), CRLF and LF, blank lines, a last record without a newline, any split of the bytes
 * into feeds, an unterminated quote, invalid UTF-8; and the mapping of a NIBRS row. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/city.h"
#include "producers/city_map.h"
#include "producers/csv.h"

struct got {
    json_t *rows;
};

static int on_row(void *ctx, const char *json, size_t len, size_t record)
{
    struct got *g = ctx;
    json_error_t jerr;
    json_t *row = json_loadb(json, len, 0, &jerr);
    if (!row) {
        fail_msg("record %zu is not JSON: %s: %.*s", record, jerr.text, (int)len, json);
    }
    json_array_append_new(g->rows, row);
    return 0;
}

static int on_row_nul(void *ctx, const char *json, size_t len, size_t record)
{
    (void)record;
    struct got *g = ctx;
    json_t *row = json_loadb(json, len, JSON_ALLOW_NUL, NULL);
    assert_non_null(row);
    json_array_append_new(g->rows, row);
    return 0;
}

/* Parse text fed in pieces of `step` bytes; the rows, or NULL when the parse failed. */
static json_t *parse(char *const *known, size_t n_known, const char *text, size_t step)
{
    struct got g = {json_array()};
    struct csv_rows *r = csv_rows_new(known, n_known, "\"::unit\":\"2024\"", on_row, &g);
    assert_non_null(r);
    size_t len = strlen(text);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i += step) {
        rc = csv_rows_feed(r, text + i, len - i < step ? len - i : step);
    }
    if (rc == 0) {
        rc = csv_rows_finish(r);
    }
    csv_rows_destroy(r);
    if (rc != 0) {
        json_decref(g.rows);
        return NULL;
    }
    return g.rows;
}

static const char *field(const json_t *rows, size_t i, const char *name)
{
    return json_string_value(json_object_get(json_array_get(rows, i), name));
}

static void test_quoting_bom_and_case(void **state)
{
    (void)state;
    char *known[] = {"nibrs_uniq", "block_addr", "code_section", "latitude"};
    const char *text = "\xef\xbb\xbfNIBRS_UNIQ,Block_Addr,CODE_SECTION,latitude,extra\r\n"
                       "3463746_220,\"4000 Menlo AVE, Unit \"\"B\"\"\",\"PC 459\nPC 460\",32.7,\r\n"
                       "\r\n"
                       "3463747_221,1200 Market ST,PC 242||PC 243,,x\n"
                       "3463748_222,\"\",PC 1,32.8,y";
    for (size_t step = 1; step <= strlen(text); step = step * 3 + 1) {
        json_t *rows = parse(known, 4, text, step);
        assert_non_null(rows);
        assert_int_equal(json_array_size(rows), 3);
        assert_string_equal(field(rows, 0, "nibrs_uniq"), "3463746_220");
        assert_string_equal(field(rows, 0, "block_addr"), "4000 Menlo AVE, Unit \"B\"");
        assert_string_equal(field(rows, 0, "code_section"), "PC 459\nPC 460");
        assert_null(json_object_get(json_array_get(rows, 0), "extra")); /* empty: left out */
        assert_string_equal(field(rows, 0, "::unit"), "2024");
        assert_null(json_object_get(json_array_get(rows, 1), "latitude"));
        assert_string_equal(field(rows, 1, "extra"), "x"); /* unknown names are kept */
        assert_string_equal(field(rows, 1, "code_section"), "PC 242||PC 243");
        assert_null(json_object_get(json_array_get(rows, 2), "block_addr"));
        assert_string_equal(field(rows, 2, "latitude"), "32.8");
        json_decref(rows);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    char *known[] = {"a"};
    /* a quoted field that never ends: an error, not a silent last row */
    assert_null(parse(known, 1, "a,b\n1,\"open\n2,3\n", 7));
    /* bytes that are not UTF-8 become \u0000: the mapping dead-letters the row */
    struct got g = {json_array()};
    struct csv_rows *r = csv_rows_new(known, 1, NULL, on_row_nul, &g);
    assert_int_equal(csv_rows_feed(r, "a\nok\xff\"q\"\n", 10), 0);
    assert_int_equal(csv_rows_finish(r), 0);
    csv_rows_destroy(r);
    const json_t *v = json_object_get(json_array_get(g.rows, 0), "a");
    assert_int_equal(json_string_length(v), 6); /* o k NUL " q " */
    assert_memory_equal(json_string_value(v), "ok\0\"q\"", 6);
    json_decref(g.rows);
    json_t *rows;
    /* only a header, or nothing: no rows */
    rows = parse(known, 1, "a,b\r\n", 2);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    rows = parse(known, 1, "", 1);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
}

static void test_header_reported(void **state)
{
    (void)state;
    char *known[] = {"date_time"};
    struct got g = {json_array()};
    struct csv_rows *r = csv_rows_new(known, 1, NULL, on_row, &g);
    assert_int_equal(csv_rows_feed(r, "DATE_TIME,Other\n2024-01-01 00:00:00,1\n", 38), 0);
    assert_int_equal(csv_rows_finish(r), 0);
    json_t *h = csv_rows_header(r);
    assert_string_equal(json_string_value(json_array_get(h, 0)), "date_time");
    assert_string_equal(json_string_value(json_array_get(h, 1)), "Other");
    assert_int_equal(csv_rows_records(r), 1);
    json_decref(h);
    csv_rows_destroy(r);
    json_decref(g.rows);
}

static void test_san_diego_row(void **state)
{
    (void)state;
    char err[512] = "";
    struct city *city = city_load("producers/cities", "san-diego", err, sizeof(err));
    assert_non_null(city);
    const char *text =
        "objectid,nibrs_uniq,case_number,occured_on,approved_on,ibr_category,crime_against,"
        "ibr_offense,ibr_offense_description,beat,division,block_addr,latitude,longitude\n"
        "7,3463746_220,24-000123,2024-03-10 02:30:00,2024-03-12 08:00:00,Assault Offenses,PE,"
        "13B,Simple Assault,521,Central,4000 Menlo AVE,32.7157,-117.1611\n"
        "8,3463746_221,24-000123,2024-11-03 01:30:00,,Larceny/Theft Offenses,PR,23H,All Other "
        "Larceny,521,Central,4000 Menlo AVE,0,0\n";
    json_t *rows = parse(city->fields, city->n_fields, text, 5);
    assert_int_equal(json_array_size(rows), 2);
    struct incident inc;
    struct map_stats stats = {0};
    incident_init(&inc);
    json_t *row = json_array_get(rows, 0);
    json_object_set_new(row, "::stamp", json_string("2026-06-01T00:00:00.000Z"));
    assert_int_equal(city_map_row(city, row, 1800000000000000LL, &inc, &stats, err, sizeof(err)),
                     ERR_OK);
    char buf[40];
    /* 02:30 on the spring-forward day does not exist: read with the offset before the gap */
    us_format(inc.occurred_at, false, buf, sizeof(buf));
    assert_string_equal(buf, "2024-03-10T10:30:00.000Z");
    us_format(inc.source_updated_at, false, buf, sizeof(buf)); /* approved_on, PDT */
    assert_string_equal(buf, "2024-03-12T15:00:00.000Z");
    assert_string_equal(inc.incident_id, "3463746_220");
    assert_string_equal(inc.report_id, "24-000123");
    assert_string_equal(inc.category, "assault");
    assert_string_equal(inc.crime_against, "person");
    assert_true(inc.has_coords);
    assert_null(incident_attr(&inc, "objectid"));
    /* no approved_on: the file's stamp; 01:30 on the autumn day is the first (PDT) one;
     * 0,0 coordinates are null */
    row = json_array_get(rows, 1);
    json_object_set_new(row, "::stamp", json_string("2026-06-01T00:00:00.000Z"));
    assert_int_equal(city_map_row(city, row, 1800000000000000LL, &inc, &stats, err, sizeof(err)),
                     ERR_OK);
    us_format(inc.occurred_at, false, buf, sizeof(buf));
    assert_string_equal(buf, "2024-11-03T08:30:00.000Z");
    us_format(inc.source_updated_at, false, buf, sizeof(buf));
    assert_string_equal(buf, "2026-06-01T00:00:00.000Z");
    assert_string_equal(inc.crime_against, "property");
    assert_false(inc.has_coords);
    incident_clear(&inc);
    json_decref(rows);
    city_destroy(city);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting_bom_and_case),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_header_reported),
        cmocka_unit_test(test_san_diego_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
