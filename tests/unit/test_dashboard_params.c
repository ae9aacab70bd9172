/* The dashboard's request parameters: times (instants and local wall times), cities, choices,
 * categories, integers, bounding boxes, the keyset cursor, JSON and CSV escaping. */
#include <stdlib.h>
#include <string.h>

#include "cmocka_all.h"

#include "dashboard/params.h"

static void test_times(void **state)
{
    (void)state;
    struct param_time t;
    char err[256];
    assert_int_equal(param_time_parse("2024-05-01T13:00:00Z", &t, err, sizeof(err)), 0);
    assert_true(t.set && !t.local);
    assert_string_equal(t.text, "2024-05-01 13:00:00.000000+00");
    /* An offset becomes UTC; a '+' turned into a space by a form is read as '+'. */
    assert_int_equal(param_time_parse("2024-05-01T08:00:00-05:00", &t, err, sizeof(err)), 0);
    assert_string_equal(t.text, "2024-05-01 13:00:00.000000+00");
    assert_int_equal(param_time_parse("2024-05-01T15:00 02:00", &t, err, sizeof(err)), 0);
    assert_string_equal(t.text, "2024-05-01 13:00:00.000000+00");
    /* No zone: each city's wall time. */
    assert_int_equal(param_time_parse("2024-03-10", &t, err, sizeof(err)), 0);
    assert_true(t.local);
    assert_string_equal(t.text, "2024-03-10 00:00:00.000000");
    assert_int_equal(param_time_parse("2024-03-10T02:30:00.25", &t, err, sizeof(err)), 0);
    assert_string_equal(t.text, "2024-03-10 02:30:00.250000");
    const char *bad[] = {"",
                         "yesterday",
                         "2024-13-01",
                         "2024-02-30",
                         "2024-05-01T25:00",
                         "0000-01-01",
                         "2024-05-01T13:00:00Zjunk",
                         "1714568400"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(param_time_parse(bad[i], &t, err, sizeof(err)), -1);
        assert_true(strlen(err) > 0);
    }
    struct param_time a, b;
    int64_t span;
    param_time_parse("2024-05-01T00:00:00Z", &a, err, sizeof(err));
    param_time_parse("2024-05-02T00:00:00Z", &b, err, sizeof(err));
    assert_true(param_time_span_s(&a, &b, &span));
    assert_int_equal(span, 86400);
    param_time_parse("2024-05-02", &b, err, sizeof(err));
    assert_false(param_time_span_s(&a, &b, &span)); /* instant against wall time */
}

static void test_cities(void **state)
{
    (void)state;
    char out[PARAM_CITY_MAX], err[256];
    assert_int_equal(param_city_parse("los-angeles", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "los-angeles");
    const char *bad[] = {
        "",         "Chicago",
        "new york", "chi;drop",
        "a'b",      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(param_city_parse(bad[i], out, sizeof(out), err, sizeof(err)), -1);
    }
    char list[4][PARAM_CITY_MAX];
    size_t n;
    assert_int_equal(param_city_list_parse("nyc,chicago,nyc", list, 4, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2); /* duplicates dropped, order kept */
    assert_string_equal(list[0], "nyc");
    assert_string_equal(list[1], "chicago");
    assert_int_equal(param_city_list_parse("nyc,,chicago", list, 4, &n, err, sizeof(err)), -1);
    assert_int_equal(param_city_list_parse("a,b,c,d,e", list, 4, &n, err, sizeof(err)), -1);
    assert_int_equal(param_city_list_parse("", list, 4, &n, err, sizeof(err)), -1);
}

static void test_choices_and_numbers(void **state)
{
    (void)state;
    int idx;
    long v;
    const char *cat;
    char err[256];
    assert_int_equal(param_choice_parse("week", "hour|day|week|month", &idx, err, sizeof(err)), 0);
    assert_int_equal(idx, 2);
    assert_int_equal(param_choice_parse("wee", "hour|day|week|month", &idx, err, sizeof(err)), -1);
    assert_int_equal(param_choice_parse("", "hour|day", &idx, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "hour|day"));
    assert_int_equal(param_category_parse("motor_vehicle_theft", &cat, err, sizeof(err)), 0);
    assert_string_equal(cat, "motor_vehicle_theft");
    assert_int_equal(param_category_parse("THEFT", &cat, err, sizeof(err)), -1);
    assert_int_equal(param_long_parse("50", 1, 100, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 50);
    const char *bad[] = {"0", "101", "-3", "5x", " 5", "", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(param_long_parse(bad[i], 1, 100, &v, err, sizeof(err)), -1);
    }
}

static void test_bbox(void **state)
{
    (void)state;
    double b[4];
    char err[256];
    assert_int_equal(param_bbox_parse("41.6,-87.95,42.05,-87.5", b, err, sizeof(err)), 0);
    assert_true(b[0] == 41.6 && b[1] == -87.95 && b[2] == 42.05 && b[3] == -87.5);
    const char *bad[] = {"",         "1,2,3",      "1,2,3,4,5", "a,b,c,d",  "91,0,92,1",
                         "0,0,-1,1", "0,-181,1,0", "nan,0,1,1", "1,2,3,4 ", "1e999,0,1,1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(param_bbox_parse(bad[i], b, err, sizeof(err)), -1);
    }
}

static void test_cursor(void **state)
{
    (void)state;
    char enc[1024], err[256];
    struct param_cursor c;
    assert_int_equal(
        param_cursor_encode(1714568400123456LL, "chicago", "row-0000000042", enc, sizeof(enc)), 0);
    assert_int_equal(param_cursor_parse(enc, &c, err, sizeof(err)), 0);
    assert_true(c.set);
    assert_true(c.occurred_us == 1714568400123456LL);
    assert_string_equal(c.city, "chicago");
    assert_string_equal(c.incident_id, "row-0000000042");
    /* Ids may hold anything but a newline; negative times (before 1970) round-trip. */
    assert_int_equal(param_cursor_encode(-5, "nyc", "a,b \"c\"", enc, sizeof(enc)), 0);
    assert_int_equal(param_cursor_parse(enc, &c, err, sizeof(err)), 0);
    assert_string_equal(c.incident_id, "a,b \"c\"");
    assert_true(c.occurred_us == -5);
    assert_int_equal(param_cursor_encode(1, "nyc", "two\nlines", enc, sizeof(enc)), -1);
    assert_int_equal(param_cursor_encode(1, "nyc", "x", enc, 8), -1); /* too small */
    const char *bad[] = {"",           "zz",
                         "abc",        "00",
                         "31", /* "1": no fields */
                         "310a4e5943", /* "1\nNYC": upper case city */ "780a6e79630a78"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(param_cursor_parse(bad[i], &c, err, sizeof(err)), -1);
        assert_false(c.set);
    }
}

static void test_json_and_csv(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(param_json_string("a\"b\\c\n", out, sizeof(out)), 15);
    assert_string_equal(out, "\"a\\\"b\\\\c\\u000a\"");
    assert_int_equal(param_json_string("abcdef", out, 4), 8); /* cut, like snprintf */
    assert_string_equal(out, "\"ab");
    char *e = param_error_json("from", "'x' is not \"a time\"");
    assert_string_equal(e, "{\"error\":\"'x' is not \\\"a time\\\"\",\"parameter\":\"from\"}\n");
    free(e);
    struct param_buf b = {0};
    const char *fields[] = {"plain", "a,b", "say \"hi\"", "two\nlines", NULL, ""};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(param_csv_field(&b, fields[i]), 0);
        param_buf_put(&b, "|", 1);
    }
    assert_string_equal(b.p, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|||");
    param_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_cities),
        cmocka_unit_test(test_choices_and_numbers),
        cmocka_unit_test(test_bbox),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_json_and_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
