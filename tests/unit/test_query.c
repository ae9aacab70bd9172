/* SoQL building, keyset advancement (ties on :updated_at across page boundaries), the
 * streaming row splitter (rows split across reads, strings with brackets, invalid UTF-8,
 * truncation) and checkpoint encoding. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/checkpoint.h"
#include "producers/city.h"
#include "producers/query.h"
#include "producers/socrata.h"

static struct city *chicago(void)
{
    char err[256];
    struct city *c = city_load("producers/cities", "chicago", err, sizeof(err));
    if (!c) {
        fail_msg("%s", err);
    }
    return c;
}

static void test_keyset_advance(void **state)
{
    (void)state;
    struct keyset ks = {0};
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0002"), 0);
    /* same :updated_at, larger id: forward */
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0003"), 0);
    /* same :updated_at, smaller or equal id: refused */
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0003"), -1);
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.000Z", "row-0001"), -1);
    /* earlier time refused, later time with a smaller id accepted */
    assert_int_equal(keyset_advance(&ks, "2023-12-31T23:59:59.999Z", "row-9999"), -1);
    assert_int_equal(keyset_advance(&ks, "2024-01-01T00:00:00.001Z", "row-0000"), 0);
    assert_string_equal(ks.id, "row-0000");
    /* missing or bad values leave it alone */
    assert_int_equal(keyset_advance(&ks, NULL, "row-1"), -1);
    assert_int_equal(keyset_advance(&ks, "yesterday", "row-1"), -1);
    assert_string_equal(ks.updated_at, "2024-01-01T00:00:00.001Z");
}

/* Paging a sorted list with ties: every row once, whatever the page size. Simulates what the
 * server answers to the producer's keyset predicate. */
static void test_keyset_paging_with_ties(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char upd[N][32], ids[N][16];
    for (int i = 0; i < N; i++) {
        /* runs of 37 rows share one :updated_at */
        snprintf(upd[i], sizeof(upd[i]), "2024-01-01T00:%02d:%02d.000Z", (i / 37) / 60,
                 (i / 37) % 60);
        snprintf(ids[i], sizeof(ids[i]), "row-%06d", i);
    }
    for (int limit = 1; limit <= 64; limit = limit * 2 + 1) {
        struct keyset ks = {0};
        int seen = 0;
        for (;;) {
            int got = 0;
            for (int i = 0; i < N && got < limit; i++) {
                int after = !ks.set || strcmp(upd[i], ks.updated_at) > 0 ||
                            (strcmp(upd[i], ks.updated_at) == 0 && strcmp(ids[i], ks.id) > 0);
                if (after) {
                    assert_int_equal(i, seen); /* the next row, never a skip or a repeat */
                    seen++;
                    got++;
                    assert_int_equal(keyset_advance(&ks, upd[i], ids[i]), 0);
                }
            }
            if (got < limit) {
                break;
            }
        }
        assert_int_equal(seen, N);
    }
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

struct collected {
    int rows, invalid;
    char last[256];
};

static int collect(void *ctx, json_t *row, const char *raw, size_t raw_len)
{
    struct collected *c = ctx;
    c->rows++;
    if (!row) {
        c->invalid++;
    }
    snprintf(c->last, sizeof(c->last), "%.*s", (int)raw_len, raw);
    return 0;
}

static void test_rowsplit_byte_by_byte(void **state)
{
    (void)state;
    const char *body = " [ {\"a\":\"x]}[{\\\"\",\"b\":{\"c\":[1,2]}},\n{\"a\":\"\\\\\"} ,{}]\n";
    struct collected c = {0};
    struct rowsplit *rs = rowsplit_new(collect, &c, true);
    for (size_t i = 0; body[i]; i++) {
        assert_int_equal(rowsplit_feed(rs, body + i, 1), 0);
    }
    assert_true(rowsplit_done(rs));
    assert_int_equal(c.rows, 3);
    assert_int_equal(c.invalid, 0);
    assert_string_equal(c.last, "{}");
    rowsplit_destroy(rs);
}

static void test_rowsplit_truncated_and_garbage(void **state)
{
    (void)state;
    struct collected c = {0};
    struct rowsplit *rs = rowsplit_new(collect, &c, true);
    const char *part = "[{\"a\":1},{\"a\":";
    assert_int_equal(rowsplit_feed(rs, part, strlen(part)), 0);
    assert_false(rowsplit_done(rs)); /* a truncated body is not a complete page */
    assert_int_equal(c.rows, 1);
    rowsplit_destroy(rs);

    memset(&c, 0, sizeof(c));
    rs = rowsplit_new(collect, &c, true);
    const char *err = "{\"code\":\"query.soql.no-such-column\",\"error\":true}";
    assert_int_equal(rowsplit_feed(rs, err, strlen(err)), -1);
    rowsplit_destroy(rs);

    memset(&c, 0, sizeof(c));
    rs = rowsplit_new(collect, &c, true);
    assert_int_equal(rowsplit_feed(rs, "[]", 2), 0);
    assert_true(rowsplit_done(rs));
    assert_int_equal(c.rows, 0);
    rowsplit_destroy(rs);
}

static void test_rowsplit_invalid_utf8_isolated(void **state)
{
    (void)state;
    struct collected c = {0};
    struct rowsplit *rs = rowsplit_new(collect, &c, true);
    const char body[] = "[{\"a\":\"ok \xc3\xa9\"},{\"a\":\"bad \xff\xfe byte\"},{\"a\":\"ok\"}]";
    assert_int_equal(rowsplit_feed(rs, body, sizeof(body) - 1), 0);
    assert_true(rowsplit_done(rs));
    assert_int_equal(c.rows, 3);
    assert_int_equal(c.invalid, 0); /* parsed, with \u0000 where the bad bytes were */
    rowsplit_destroy(rs);
}

static void test_checkpoint_roundtrip(void **state)
{
    (void)state;
    struct checkpoint_value v = {0}, back;
    keyset_advance(&v.ks, "2024-05-01T12:00:00.000Z", "row-\"7\"");
    v.rows = 123456789;
    v.saved_at = 1714564800000000LL;
    char *text = checkpoint_encode(&v);
    assert_int_equal(checkpoint_decode(text, strlen(text), &back), 0);
    assert_true(back.ks.set);
    assert_string_equal(back.ks.updated_at, v.ks.updated_at);
    assert_string_equal(back.ks.id, v.ks.id);
    assert_true(back.rows == v.rows);
    assert_true(back.saved_at == v.saved_at);
    free(text);
    struct checkpoint_value empty = {0};
    text = checkpoint_encode(&empty);
    assert_int_equal(checkpoint_decode(text, strlen(text), &back), 0);
    assert_false(back.ks.set);
    free(text);
    assert_int_equal(checkpoint_decode("nope", 4, &back), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyset_advance),
        cmocka_unit_test(test_keyset_paging_with_ties),
        cmocka_unit_test(test_page_url),
        cmocka_unit_test(test_rowsplit_byte_by_byte),
        cmocka_unit_test(test_rowsplit_truncated_and_garbage),
        cmocka_unit_test(test_rowsplit_invalid_utf8_isolated),
        cmocka_unit_test(test_checkpoint_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
