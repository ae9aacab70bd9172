/* The streaming row splitter: rows split across reads, strings with brackets, invalid UTF-8,
 * truncation. */
#include <stdio.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "producers/rowsplit.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rowsplit_byte_by_byte),
        cmocka_unit_test(test_rowsplit_truncated_and_garbage),
        cmocka_unit_test(test_rowsplit_invalid_utf8_isolated),
    };
    return cmocka_run_group_tests_name("rowsplit", tests, NULL, NULL);
}
