/* The warehouse writer's pure parts: the version order, the in-batch dedup and the COPY binary
 * encoding (the checks a record must pass are in test_incident.c). No PostgreSQL needed. */
#include <math.h>
#include <stdint.h>
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

/* One row of binary COPY, split into its fields (len -1: null); returns the bytes it took. */
struct field {
    long len;
    const unsigned char *p;
};

static uint64_t be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static size_t split_row(const unsigned char *p, struct field *f, size_t max)
{
    const unsigned char *start = p;
    size_t n = (size_t)be(p, 2);
    p += 2;
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        f[i].len = (long)(int32_t)(uint32_t)be(p, 4);
        p += 4;
        f[i].p = p;
        if (f[i].len > 0) {
            p += f[i].len;
        }
    }
    return (size_t)(p - start);
}

static void assert_field_text(const struct field *f, const char *want)
{
    if (!want) {
        assert_int_equal(f->len, -1);
        return;
    }
    assert_int_equal(f->len, (long)strlen(want));
    assert_memory_equal(f->p, want, strlen(want));
}

static void assert_field_int(const struct field *f, int bytes, uint64_t want)
{
    assert_int_equal(f->len, bytes);
    assert_true(be(f->p, bytes) == want);
}

static uint64_t double_bits(double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof(v));
    return v;
}

static void test_copy_row(void **state)
{
    (void)state;
    struct incident inc;
    struct buf b = {0};
    struct field f[32];
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
    incident_add_attr(&inc, "none", "x");
    free(inc.attrs[1].value); /* a null value (the decoder's null) */
    inc.attrs[1].value = NULL;
    inc.ingested_at = TS_NULL;

    assert_int_equal(warehouse_copy_header(&b), 0);
    assert_int_equal(b.len, 19);
    assert_memory_equal(b.p, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    size_t row = b.len;
    assert_int_equal(warehouse_copy_row(&b, 7, &inc, 0xFFFFFFFFFFFFFFFEULL, 0), 0);
    size_t used = split_row((const unsigned char *)b.p + row, f, 32);
    assert_int_equal(used, b.len - row);
    assert_int_equal(be((const unsigned char *)b.p + row, 2), 21); /* seq, 19 columns, hash */
    assert_field_int(&f[0], 4, 7);
    assert_field_text(&f[1], "chicago");
    assert_field_text(&f[2], "JH\t1\\2"); /* no escaping in binary */
    assert_field_text(&f[3], NULL);
    /* timestamptz: microseconds since 2000-01-01 UTC. */
    assert_field_int(&f[4], 8, (uint64_t)(1704067200000000LL - 946684800000000LL));
    assert_field_text(&f[5], NULL);
    assert_field_int(&f[6], 8, (uint64_t)(1614096192714000LL - 946684800000000LL));
    assert_field_text(&f[7], NULL);
    assert_field_text(&f[8], "line1\nline2\r\"q\" caf\xc3\xa9");
    assert_field_text(&f[9], "theft");
    assert_field_text(&f[10], "property");
    assert_field_text(&f[11], "015");
    assert_field_text(&f[12], NULL);
    assert_field_text(&f[13], NULL);
    assert_field_int(&f[14], 8, double_bits(41.5));
    assert_field_int(&f[15], 8, double_bits(-87.25));
    assert_field_int(&f[16], 1, 1);
    assert_field_text(&f[17], NULL);
    /* jsonb: version 1, then the JSON text. */
    const char *json =
        "\001{\"note\":\"tab\\u0009here \\\"q\\\" back\\\\slash\\u0001\",\"none\":null}";
    assert_field_text(&f[18], json);
    /* An unstamped ingested_at takes the default (0: 1970), before 2000: negative. */
    assert_field_int(&f[19], 8, (uint64_t)(-946684800000000LL));
    assert_field_int(&f[20], 8, 0xFFFFFFFFFFFFFFFEULL);

    /* Null coordinates (and non-finite ones) are null; false is 0; a second row appends. */
    row = b.len;
    inc.has_coords = false;
    inc.arrest = TRI_FALSE;
    inc.domestic = TRI_TRUE;
    inc.ingested_at = 1;
    assert_int_equal(warehouse_copy_row(&b, 8, &inc, 5, 0), 0);
    split_row((const unsigned char *)b.p + row, f, 32);
    assert_field_int(&f[0], 4, 8);
    assert_field_text(&f[14], NULL);
    assert_field_text(&f[15], NULL);
    assert_field_int(&f[16], 1, 0);
    assert_field_int(&f[17], 1, 1);
    assert_field_int(&f[19], 8, (uint64_t)(1 - 946684800000000LL));
    assert_field_int(&f[20], 8, 5);
    inc.has_coords = true;
    inc.latitude = NAN;
    row = b.len;
    assert_int_equal(warehouse_copy_row(&b, 9, &inc, 5, 0), 0);
    split_row((const unsigned char *)b.p + row, f, 32);
    assert_field_text(&f[14], NULL);
    assert_field_int(&f[15], 8, double_bits(-87.25));

    row = b.len;
    assert_int_equal(warehouse_copy_trailer(&b), 0);
    assert_int_equal(b.len - row, 2);
    assert_memory_equal(b.p + row, "\377\377", 2);
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
