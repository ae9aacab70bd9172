/* ISO 8601 parsing and local-to-UTC conversion across daylight-saving changes. */
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "common/timeutil.h"
#include "common/tz.h"

static void test_parse_shapes(void **state)
{
    (void)state;
    assert_true(iso8601_to_us("1970-01-01T00:00:00Z") == 0);
    assert_true(iso8601_to_us("2014-10-13T00:00:00.000") == iso8601_to_us("2014-10-13"));
    assert_true(iso8601_to_us("2013-10-01T23:55:00") == 1380671700LL * 1000000);
    assert_true(iso8601_to_us("2021-02-23T16:03:12.714Z") == 1614096192714000LL);
    assert_true(iso8601_to_us("2021-02-23T18:03:12.714+02:00") == 1614096192714000LL);
    assert_true(iso8601_to_us("1969-12-31T23:59:59.5Z") == -500000);
    const char *bad[] = {"",
                         "2021",
                         "2021-13-01",
                         "2021-02-30",
                         "2021-02-23T25:00",
                         "2021-02-23T10:00:00.",
                         "2021-02-23T10:00:00 junk",
                         "yesterday"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(iso8601_to_us(bad[i]) == TS_NULL);
    }
}

static void test_format_roundtrip(void **state)
{
    (void)state;
    char buf[40];
    us_format(1614096192714000LL, false, buf, sizeof(buf));
    assert_string_equal(buf, "2021-02-23T16:03:12.714Z");
    us_format(-1, true, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
}

struct tz_case {
    const char *zone, *local, *utc;
};

/* Found by fuzzing (tests/fuzz/corpus/timeutil, checkpoint): offsets past 23:59, instants out of
 * four-digit years, and TS_NULL handed to the formatter. */
static void test_fuzz_findings(void **state)
{
    (void)state;
    char buf[64];
    assert_true(iso8601_to_us("9999-12-31-31") == TS_NULL);
    assert_true(iso8601_to_us("2024-01-01T00:00+24:00") == TS_NULL);
    assert_true(iso8601_to_us("2024-01-01T00:00+05:60") == TS_NULL);
    assert_true(iso8601_to_us("9999-12-31T23:00-02:00") == TS_NULL);
    assert_true(iso8601_to_us("0000-01-01T00:00+00:01") == TS_NULL);
    assert_true(iso8601_to_us("9999-12-31T23:59:59.999999Z") != TS_NULL);
    assert_true(iso8601_to_us("2024-01-01T00:00+23:59") != TS_NULL);
    us_format(TS_NULL, true, buf, sizeof(buf)); /* no overflow; the text is not meant to parse */
    us_format(INT64_MAX, false, buf, sizeof(buf));
    struct civil_time ct;
    us_to_civil(-1, &ct);
    assert_int_equal(ct.year, 1969);
    assert_int_equal(ct.second, 59);
    assert_int_equal(ct.micros, 999999);
}

static void test_zones_and_dst(void **state)
{
    (void)state;
    static const struct tz_case cases[] = {
        /* ordinary winter and summer */
        {"America/Chicago", "2017-11-26T23:53:00.000", "2017-11-27T05:53:00Z"},
        {"America/Chicago", "2017-07-04T12:00:00", "2017-07-04T17:00:00Z"},
        /* spring gap (02:00 -> 03:00): read with the offset before the gap */
        {"America/Chicago", "2024-03-10T02:30:00", "2024-03-10T08:30:00Z"},
        {"America/Chicago", "2024-03-10T03:00:00", "2024-03-10T08:00:00Z"},
        /* autumn overlap (01:00-02:00 twice): the first occurrence */
        {"America/Chicago", "2024-11-03T01:30:00", "2024-11-03T06:30:00Z"},
        {"America/Chicago", "2024-11-03T02:00:00", "2024-11-03T08:00:00Z"},
        {"America/Los_Angeles", "2020-01-31T20:15:00", "2020-02-01T04:15:00Z"},
        {"America/Los_Angeles", "2024-03-10T02:15:00", "2024-03-10T10:15:00Z"},
        {"America/Los_Angeles", "2024-11-03T01:15:00", "2024-11-03T08:15:00Z"},
        {"America/New_York", "2026-03-02T00:08:00", "2026-03-02T05:08:00Z"},
        {"America/New_York", "2024-11-03T01:59:59", "2024-11-03T05:59:59Z"},
        {"America/New_York", "2024-03-10T02:30:00", "2024-03-10T07:30:00Z"},
        {"America/Chicago", "2021-06-07T10:24:00.000", "2021-06-07T15:24:00Z"}, /* Austin */
        {"UTC", "2024-03-10T02:30:00", "2024-03-10T02:30:00Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct civil_time ct;
        bool has_zone;
        int off;
        int64_t us;
        assert_int_equal(iso8601_parse(cases[i].local, &ct, &has_zone, &off), 0);
        assert_false(has_zone);
        assert_int_equal(tz_local_to_utc_us(cases[i].zone, &ct, &us), 0);
        if (us != iso8601_to_us(cases[i].utc)) {
            char got[40];
            us_format(us, false, got, sizeof(got));
            fail_msg("%s %s: got %s, want %s", cases[i].zone, cases[i].local, got, cases[i].utc);
        }
    }
}

/* UTC instant -> offset in force, both sides of each transition. */
static void test_utc_offset(void **state)
{
    (void)state;
    static const struct {
        const char *zone, *utc;
        int offset_s;
    } cases[] = {
        {"America/Chicago", "2024-03-10T07:59:59Z", -6 * 3600},
        {"America/Chicago", "2024-03-10T08:00:00Z", -5 * 3600},
        {"America/Chicago", "2024-11-03T06:59:59Z", -5 * 3600},
        {"America/Chicago", "2024-11-03T07:00:00Z", -6 * 3600},
        {"America/New_York", "2025-07-01T12:00:00Z", -4 * 3600},
        {"America/Los_Angeles", "2025-01-01T12:00:00Z", -8 * 3600},
        {"UTC", "2025-07-01T12:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int off = 1;
        assert_int_equal(
            tz_utc_offset_s(cases[i].zone, iso8601_to_us(cases[i].utc) / 1000000, &off), 0);
        assert_int_equal(off, cases[i].offset_s);
    }
    int off;
    assert_int_equal(tz_utc_offset_s("Mars/Olympus_Mons", 0, &off), -1);
}

static void test_unknown_zone(void **state)
{
    (void)state;
    struct civil_time ct = {2024, 1, 1, 0, 0, 0, 0};
    int64_t us;
    assert_int_equal(tz_local_to_utc_us("Mars/Olympus_Mons", &ct, &us), -1);
    assert_int_equal(tz_local_to_utc_us("../../etc/passwd", &ct, &us), -1);
    assert_false(tz_valid(""));
    assert_true(tz_valid("America/Chicago"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_shapes),  cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_zones_and_dst), cmocka_unit_test(test_utc_offset),
        cmocka_unit_test(test_unknown_zone),  cmocka_unit_test(test_fuzz_findings),
    };
    return cmocka_run_group_tests_name("timeutil", tests, NULL, NULL);
}
