/* The zone reader: TZif transitions and the POSIX rule after them, checked against the C
 * library's own reading of the same files (this test alone may switch TZ: it is one thread). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/cmocka_all.h"

#include "common/tz.h"

static int libc_offset(const char *zone, int64_t t)
{
    setenv("TZ", zone, 1);
    tzset();
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return (int)tm.tm_gmtoff;
}

static void test_against_libc(void **state)
{
    (void)state;
    static const char *zones[] = {"America/Chicago",
                                  "America/Los_Angeles",
                                  "America/New_York",
                                  "America/Toronto",
                                  "Australia/Sydney",
                                  "Australia/Lord_Howe",
                                  "Asia/Kolkata",
                                  "Europe/Dublin",
                                  "Europe/London",
                                  "America/Sao_Paulo",
                                  "UTC"};
    uint64_t x = 88172645463325252ULL;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        const struct tz *tz = tz_get(zones[z]);
        assert_non_null(tz);
        assert_ptr_equal(tz_get(zones[z]), tz); /* read once */
        /* 1902..2199, about weekly, at pseudo-random seconds: both the transitions of the
         * file and the footer's rule after them. */
        for (int64_t t = -2145916800LL; t < 7258118400LL; t += 604800) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int64_t at = t + (int64_t)(x % 604800);
            int want = libc_offset(zones[z], at), got = tz_offset_at(tz, at);
            if (want != got) {
                fail_msg("%s at %lld: got %d, libc says %d", zones[z], (long long)at, got, want);
            }
        }
    }
    unsetenv("TZ");
    tzset();
}

/* A version-2 TZif file with no transitions, one type (std_off) and the given footer. */
static size_t make_tzif(unsigned char *out, int32_t std_off, const char *footer)
{
    unsigned char *p = out;
    for (int v = 0; v < 2; v++) {
        memcpy(p, "TZif2", 5);
        memset(p + 5, 0, 39);
        p[20 + 4 * 4 + 3] = 1; /* typecnt */
        p[20 + 5 * 4 + 3] = 4; /* charcnt */
        p += 44;
        p[0] = (unsigned char)((uint32_t)std_off >> 24);
        p[1] = (unsigned char)((uint32_t)std_off >> 16);
        p[2] = (unsigned char)((uint32_t)std_off >> 8);
        p[3] = (unsigned char)std_off;
        p[4] = 0, p[5] = 0;
        memcpy(p + 6, "XXX", 4);
        p += 10;
    }
    p += sprintf((char *)p, "\n%s\n", footer);
    return (size_t)(p - out);
}

static void test_posix_rules(void **state)
{
    (void)state;
    static const struct {
        const char *footer;
        const char *utc;
        int offset_s;
    } cases[] = {
        {"EST5EDT,M3.2.0,M11.1.0", "2030-03-10T06:59:59Z", -5 * 3600},
        {"EST5EDT,M3.2.0,M11.1.0", "2030-03-10T07:00:00Z", -4 * 3600},
        {"EST5EDT,M3.2.0,M11.1.0", "2030-11-03T05:59:59Z", -4 * 3600},
        {"EST5EDT,M3.2.0,M11.1.0", "2030-11-03T06:00:00Z", -5 * 3600},
        {"<+0530>-5:30", "2030-07-01T00:00:00Z", 5 * 3600 + 1800},
        /* southern hemisphere: daylight time spans the new year */
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2031-01-15T00:00:00Z", 11 * 3600},
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2031-07-15T00:00:00Z", 10 * 3600},
        /* Jn and n day forms, and a time after 24:00 */
        {"XXX3YYY,J60/0,J300/0", "2031-03-02T00:00:00Z", -2 * 3600},
        {"XXX3YYY,59/0,299/0", "2032-02-28T12:00:00Z", -3 * 3600},
        {"XXX3YYY,59/0,299/0", "2032-03-01T12:00:00Z", -2 * 3600},
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2031-06-01T00:00:00Z", -2 * 3600},
        {"UTC0", "2031-06-01T00:00:00Z", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char data[256];
        size_t len = make_tzif(data, 0, cases[i].footer);
        struct tz *tz = tz_parse("test", data, len);
        assert_non_null(tz);
        int got = tz_offset_at(tz, iso8601_to_us(cases[i].utc) / 1000000);
        if (got != cases[i].offset_s) {
            fail_msg("%s at %s: got %d, want %d", cases[i].footer, cases[i].utc, got,
                     cases[i].offset_s);
        }
        tz_free(tz);
    }
    /* No footer: the only type holds; garbage is not a zone. */
    unsigned char data[256];
    size_t len = make_tzif(data, 3600, "");
    struct tz *tz = tz_parse("test", data, len);
    assert_non_null(tz);
    assert_int_equal(tz_offset_at(tz, 0), 3600);
    tz_free(tz);
    assert_null(tz_parse("x", (const unsigned char *)"not a zone file at all", 22));
    assert_null(tz_parse("x", data, 30));
}

static void test_names(void **state)
{
    (void)state;
    assert_null(tz_get("Mars/Olympus_Mons"));
    assert_null(tz_get("../../etc/passwd"));
    assert_null(tz_get("/etc/passwd"));
    assert_null(tz_get(""));
    assert_null(tz_get(NULL));
    assert_string_equal(tz_name(tz_get("America/Chicago")), "America/Chicago");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_libc),
        cmocka_unit_test(test_posix_rules),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("tz", tests, NULL, NULL);
}
