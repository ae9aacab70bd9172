/* SoQL building: the keyset predicate, the backfill range, the count URL (the keyset itself is
 * tested in test_checkpoint.c, the row splitter in test_rowsplit.c). */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/checkpoint.h"
#include "producers/city.h"
#include "producers/query.h"

static struct city *chicago(void)
{
    char err[256];
    struct city *c = city_load("producers/cities", "chicago", err, sizeof(err));
    if (!c) {
        fail_msg("%s", err);
    }
    return c;
}

static void test_page_url(void **state)
{
    (void)state;
    struct city *c = chicago();
    char url[4096], where[512];
    struct keyset ks = {0};
    assert_int_equal(query_page_url(url, sizeof(url), "http://127.0.0.1:18080", c, &ks, "", 5000),
                     0);
    assert_string_equal(url, "http://127.0.0.1:18080/resource/ijzp-q8t2.json?$select=%3A%2A%2C%2A"
                             "&$order=%3Aupdated_at%2C%3Aid&$limit=5000");
    keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-o'1");
    query_range_where(c, 1704067200000000LL, INT64_MIN, where, sizeof(where));
    assert_string_equal(where, "date >= '2024-01-01T00:00:00.000'");
    query_range_where(c, 1704067200000000LL, 1706745600000000LL, where, sizeof(where));
    assert_string_equal(where,
                        "date >= '2024-01-01T00:00:00.000' AND date < '2024-02-01T00:00:00.000'");
    assert_int_equal(
        query_page_url(url, sizeof(url), "https://data.cityofchicago.org", c, &ks, where, 50000),
        0);
    /* the where clause, decoded: the range AND the keyset, quotes doubled */
    const char *w = strstr(url, "$where=");
    assert_non_null(w);
    char decoded[2048];
    size_t o = 0;
    for (const char *q = w + 7; *q && *q != '&'; q++) {
        if (*q == '%') {
            char hex[3] = {q[1], q[2], 0};
            decoded[o++] = (char)strtol(hex, NULL, 16);
            q += 2;
        } else {
            decoded[o++] = *q;
        }
    }
    decoded[o] = 0;
    assert_string_equal(decoded, "(date >= '2024-01-01T00:00:00.000' AND date < "
                                 "'2024-02-01T00:00:00.000') AND (:updated_at > "
                                 "'2024-01-01T00:00:00.000Z' OR (:updated_at = "
                                 "'2024-01-01T00:00:00.000Z' AND :id > 'row-o''1'))");
    assert_int_equal(query_count_url(url, sizeof(url), "http://h", c, ""), 0);
    assert_string_equal(url, "http://h/resource/ijzp-q8t2.json?$select=count%28%2A%29");
    /* too small a buffer is an error, not a truncated URL */
    assert_int_equal(query_page_url(url, 40, "http://h", c, &ks, "", 10), -1);
    city_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
