/* The warehouse writer's pure parts: the version order, the in-batch dedup and the COPY text
 * encoding (the checks a record must pass are in test_incident.c). No PostgreSQL needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "consumers/warehouse.h"

static void test_version_order(void **state)
{
    (void)state;
    /* Update time first. */
    assert_true(warehouse_version_cmp(2, 1, 1, 99) > 0);
    assert_true(warehouse_version_cmp(1, 99, 2, 1) < 0);
    /* Equal times: the hash, as a signed 64-bit integer (as PostgreSQL's bigint). */
    assert_true(warehouse_version_cmp(5, 7, 5, 3) > 0);
    assert_true(warehouse_version_cmp(5, 0x8000000000000000ULL, 5, 1) < 0); /* negative */
    assert_true(warehouse_version_cmp(5, 0xFFFFFFFFFFFFFFFFULL, 5, 0) < 0); /* -1 < 0 */
    assert_int_equal(warehouse_version_cmp(5, 7, 5, 7), 0);
}

static void make(struct incident *inc, const char *city, const char *id, int64_t updated,
                 const char *category)
{
    incident_init(inc);
    incident_set_str(&inc->city, city);
    incident_set_str(&inc->incident_id, id);
    inc->occurred_at = 1704067200000000LL;
    inc->source_updated_at = updated;
    incident_set_str(&inc->category, category);
    incident_set_str(&inc->crime_against, "property");
}

static void test_newest_per_key(void **state)
{
    (void)state;
    struct incident inc[7];
    make(&inc[0], "chicago", "b", 10, "theft");
    make(&inc[1], "chicago", "a", 10, "theft");
    make(&inc[2], "chicago", "b", 30, "theft"); /* newest b */
    make(&inc[3], "chicago", "b", 20, "theft");
    make(&inc[4], "seattle", "a", 5, "theft");  /* other city, same id */
    make(&inc[5], "chicago", "c", 40, "theft"); /* c: tie on time, hash decides */
    make(&inc[6], "chicago", "c", 40, "assault");
    struct warehouse_item items[7];
    uint64_t hashes[7];
    for (int i = 0; i < 7; i++) {
        hashes[i] = incident_content_hash(&inc[i]);
        items[i] = (struct warehouse_item){.inc = &inc[i], .hash = hashes[i]};
    }
    size_t keep[7];
    size_t n = warehouse_newest(items, 7, keep);
    assert_int_equal(n, 4);
    /* Ordered by (city, id): chicago/a, chicago/b, chicago/c, seattle/a. */
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 2);
    size_t c_winner = warehouse_version_cmp(40, hashes[5], 40, hashes[6]) > 0 ? 5 : 6;
    assert_int_equal(keep[2], c_winner);
    assert_int_equal(keep[3], 4);
    /* The same answer whatever the input order. */
    struct warehouse_item rev[7];
    for (int i = 0; i < 7; i++) {
        rev[i] = items[6 - i];
    }
    n = warehouse_newest(rev, 7, keep);
    assert_int_equal(n, 4);
    assert_ptr_equal(rev[keep[1]].inc, &inc[2]);
    assert_ptr_equal(rev[keep[2]].inc, &inc[c_winner]);
    assert_int_equal(warehouse_newest(items, 0, keep), 0);
    for (int i = 0; i < 7; i++) {
        incident_clear(&inc[i]);
    }
}

static void test_timestamps(void **state)
{
    (void)state;
    char buf[48];
    warehouse_format_ts(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01 00:00:00.000000+00");
    warehouse_format_ts(1614096192714001LL, buf, sizeof(buf));
    assert_string_equal(buf, "2021-02-23 16:03:12.714001+00");
    warehouse_format_ts(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31 23:59:59.999999+00");
    warehouse_format_ts(-62135596800000000LL, buf, sizeof(buf));
    assert_string_equal(buf, "0001-01-01 00:00:00.000000+00");
}

static void test_copy_row(void **state)
{
    (void)state;
    struct incident inc;
    struct buf b = {0};
    make(&inc, "chicago", "JH\t1\\2", 1614096192714000LL, "theft");
    incident_set_str(&inc.offense, "line1\nline2\r\"q\" caf\xc3\xa9");
    incident_set_str(&inc.area, "015");
    inc.reported_at = TS_NULL;
    inc.has_coords = true;
    inc.latitude = 41.5;
    inc.longitude = -87.25;
    inc.arrest = TRI_TRUE;
    inc.domestic = TRI_NULL;
    incident_add_attr(&inc, "note", "tab\there \"q\" back\\slash\x01");
    inc.ingested_at = TS_NULL;
    assert_int_equal(warehouse_copy_row(&b, 7, &inc, 0xFFFFFFFFFFFFFFFEULL, 0), 0);
    const char *want =
        "7\tchicago\tJH\\t1\\\\2\t\\N\t2024-01-01 00:00:00.000000+00\t\\N\t"
        "2021-02-23 16:03:12.714000+00\t\\N\tline1\\nline2\\r\"q\" caf\xc3\xa9\ttheft\tproperty\t"
        "015\t\\N\t\\N\t41.5\t-87.25\tt\t\\N\t"
        "{\"note\":\"tab\\\\u0009here \\\\\"q\\\\\" back\\\\\\\\slash\\\\u0001\"}\t"
        "1970-01-01 00:00:00.000000+00\t-2\n";
    assert_string_equal(b.p, want);

    /* Null coordinates (and non-finite ones) are \N; a second row appends. */
    size_t first = b.len;
    inc.has_coords = false;
    inc.arrest = TRI_FALSE;
    inc.ingested_at = 1;
    assert_int_equal(warehouse_copy_row(&b, 8, &inc, 5, 0), 0);
    assert_non_null(strstr(b.p + first, "\t\\N\t\\N\tf\t\\N\t"));
    assert_non_null(strstr(b.p + first, "1970-01-01 00:00:00.000001+00\t5\n"));
    buf_free(&b);
    incident_clear(&inc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_order),
        cmocka_unit_test(test_newest_per_key),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_copy_row),
    };
    return cmocka_run_group_tests_name("warehouse", tests, NULL, NULL);
}
