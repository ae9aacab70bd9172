/* The SoQL subset: parsing, precedence, quoting, normalisation, evaluation and errors. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/cmocka_all.h"

#include "tests/server/soql.h"

/* A tiny schema: :id, :updated_at, date (floating), name (text), n (number), flag (checkbox),
 * loc (geo). */
static const struct {
    const char *name;
    enum soql_type type;
} schema[] = {{":id", SOQL_ROWID}, {":updated_at", SOQL_FIXED}, {"date", SOQL_FLOATING},
              {"name", SOQL_TEXT}, {"n", SOQL_NUMBER},          {"flag", SOQL_BOOL},
              {"loc", SOQL_GEO}};
#define N_COLS (sizeof(schema) / sizeof(schema[0]))

static bool resolve(void *ctx, const char *name, int *col, enum soql_type *type)
{
    (void)ctx;
    for (size_t k = 0; k < N_COLS; k++) {
        if (strcmp(schema[k].name, name) == 0) {
            *col = (int)k;
            *type = schema[k].type;
            return true;
        }
    }
    return false;
}

struct row {
    const char *v[N_COLS];
};

static const char *value(void *ctx, int col)
{
    return ((struct row *)ctx)->v[col];
}

static const struct row sample = {{"row-0000000042", "2024-02-15T07:09:00.000Z",
                                   "2024-02-15T00:00:00.000", "O'BRIEN ST", "42", "true",
                                   "{\"type\":\"Point\"}"}};

/* Evaluate where against sample; -2 when it does not parse. */
static int eval(const char *where, const struct row *r)
{
    struct soql_error err = {0};
    struct soql_expr *e = soql_where_parse(where, resolve, NULL, &err);
    if (!e) {
        return -2;
    }
    int v = soql_eval(e, value, (void *)r);
    soql_expr_free(e);
    return v;
}

static void test_operators(void **state)
{
    (void)state;
    const struct {
        const char *where;
        int want;
    } cases[] = {
        {"n = 42", 1},
        {"n = '42'", 1},
        {"n != 42", 0},
        {"n <> 41", 1},
        {"n < 100", 1}, /* numeric, not string, comparison: "42" > "100" as strings */
        {"n <= 42", 1},
        {"n > 42", 0},
        {"n >= 42.0", 1},
        {"name = 'O''BRIEN ST'", 1},
        {"name > 'N'", 1},
        {"name < 'N'", 0},
        {"date = '2024-02-15'", 1},
        {"date > '2024-02-15'", 0},
        {"date >= '2024-02-15T00:00:00'", 1},
        {"date < '2024-02-15T00:00:00.001'", 1},
        {":updated_at = '2024-02-15T07:09:00Z'", 1},
        {":updated_at = '2024-02-15T07:09:00.000Z'", 1},
        {":updated_at > '2024-02-15'", 1},
        {":updated_at < '2024-02-15T08:09:00+01:00'", 0},
        {":updated_at <= '2024-02-15T08:09:00+01:00'", 1},
        {":id > 'row-0000000041'", 1},
        {":id > 'row-0000000042'", 0},
        {"flag = true", 1},
        {"flag = 'TRUE'", 1},
        {"flag != false", 1},
        {"loc IS NOT NULL", 1},
        {"loc IS NULL", 0},
        {"name is not null", 1},
    };
    for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
        int got = eval(cases[j].where, &sample);
        if (got != cases[j].want) {
            fail_msg("%s: got %d want %d", cases[j].where, got, cases[j].want);
        }
    }
}

static void test_logic_and_nulls(void **state)
{
    (void)state;
    struct row r = sample;
    r.v[3] = NULL; /* name null */
    assert_int_equal(eval("name IS NULL", &r), 1);
    assert_int_equal(eval("name = 'x'", &r), -1);
    assert_int_equal(eval("NOT name = 'x'", &r), -1); /* unknown stays unknown */
    assert_int_equal(eval("name = 'x' OR n = 42", &r), 1);
    assert_int_equal(eval("name = 'x' AND n = 41", &r), 0);
    assert_int_equal(eval("name = 'x' AND n = 42", &r), -1);
    /* precedence: NOT > AND > OR */
    assert_int_equal(eval("n = 1 AND n = 2 OR n = 42", &sample), 1);
    assert_int_equal(eval("n = 1 AND (n = 2 OR n = 42)", &sample), 0);
    assert_int_equal(eval("NOT n = 1 AND n = 42", &sample), 1);
    assert_int_equal(eval("NOT (n = 42 OR n = 1)", &sample), 0);
    assert_int_equal(eval("not not n = 42", &sample), 1);
    assert_int_equal(eval("((((n = 42))))", &sample), 1);
    /* the producer's keyset condition */
    const char *ks = "(:updated_at > '2024-02-15T07:09:00.000Z' OR "
                     "(:updated_at = '2024-02-15T07:09:00.000Z' AND :id > 'row-0000000041'))";
    assert_int_equal(eval(ks, &sample), 1);
    r = sample;
    r.v[0] = "row-0000000041";
    assert_int_equal(eval(ks, &r), 0);
}

static void expect_error(const char *where, const char *code, const char *needle)
{
    struct soql_error err = {0};
    struct soql_expr *e = soql_where_parse(where, resolve, NULL, &err);
    if (e) {
        soql_expr_free(e);
        fail_msg("%s: parsed", where);
    }
    if (!err.code || strcmp(err.code, code) != 0 || !strstr(err.message, needle)) {
        fail_msg("%s: got %s / %s", where, err.code ? err.code : "(null)", err.message);
    }
}

static void test_errors(void **state)
{
    (void)state;
    const char *M = "query.compiler.malformed";
    expect_error("", M, "empty");
    expect_error("n =", M, "expected a value");
    expect_error("n 42", M, "expected an operator");
    expect_error("(n = 42", M, "expected ')'");
    expect_error("n = 42)", M, "unexpected ')'");
    expect_error("name = 'open", M, "unterminated string");
    expect_error("n = 42 AND", M, "expected a column");
    expect_error("n IS 42", M, "expected NULL");
    expect_error("n = 42 # x", M, "unexpected '#'");
    expect_error("n ! 3", M, "unexpected '!'");
    expect_error("n = 4x", M, "bad number");
    expect_error("nope = 1", "query.soql.no-such-column", "No such column: nope");
    expect_error(":updated_at > 'yesterday'", "query.soql.type-mismatch", "fixed_timestamp");
    expect_error("date > 'soon'", "query.soql.type-mismatch", "floating_timestamp");
    expect_error("n > 'many'", "query.soql.type-mismatch", "number");
    expect_error("flag = 'maybe'", "query.soql.type-mismatch", "checkbox");
    expect_error("loc = 'x'", "query.soql.type-mismatch", "location");
}

static void test_normalise(void **state)
{
    (void)state;
    char buf[40];
    assert_true(soql_normalise_fixed("2024-01-01", buf, sizeof(buf)));
    assert_string_equal(buf, "2024-01-01T00:00:00.000Z");
    assert_true(soql_normalise_fixed("2024-01-01T00:00:00Z", buf, sizeof(buf)));
    assert_string_equal(buf, "2024-01-01T00:00:00.000Z");
    assert_true(soql_normalise_fixed("2024-01-01T01:00:00.123+01:00", buf, sizeof(buf)));
    assert_string_equal(buf, "2024-01-01T00:00:00.123Z");
    assert_true(soql_normalise_floating("2015-01-10T12:00:00", buf, sizeof(buf)));
    assert_string_equal(buf, "2015-01-10T12:00:00.000");
    assert_false(soql_normalise_floating("2015-01-10T12:00:00Z", buf, sizeof(buf)));
    assert_false(soql_normalise_fixed("not a date", buf, sizeof(buf)));
}

static void test_lower_bound(void **state)
{
    (void)state;
    struct soql_error err = {0};
    const char *lit;
    bool strict;
    struct soql_expr *e = soql_where_parse(
        "(:updated_at > '2024-02-15' OR (:updated_at = '2024-02-15' AND :id > 'row-0000000009'))"
        " AND n > 3",
        resolve, NULL, &err);
    assert_non_null(e);
    assert_true(soql_lower_bound(e, 1, &lit, &strict));
    assert_string_equal(lit, "2024-02-15T00:00:00.000Z");
    assert_false(strict);                                /* the loosest disjunct (=) wins */
    assert_false(soql_lower_bound(e, 0, &lit, &strict)); /* :id bounded in one branch only */
    soql_expr_free(e);

    e = soql_where_parse(":updated_at >= '2024-01-01' AND :updated_at > '2024-03-01'", resolve,
                         NULL, &err);
    assert_true(soql_lower_bound(e, 1, &lit, &strict));
    assert_string_equal(lit, "2024-03-01T00:00:00.000Z"); /* the tightest conjunct */
    assert_true(strict);
    soql_expr_free(e);

    e = soql_where_parse("NOT :updated_at < '2024-01-01' OR n = 1", resolve, NULL, &err);
    assert_false(soql_lower_bound(e, 1, &lit, &strict));
    soql_expr_free(e);
}

static int parse(const char *select, const char *where, const char *order, const char *limit,
                 const char *offset, struct soql_query *q, struct soql_error *err)
{
    struct soql_params p = {select, where, order, limit, offset};
    return soql_query_parse(&p, resolve, NULL, q, err);
}

static void test_query(void **state)
{
    (void)state;
    struct soql_query q;
    struct soql_error err = {0};
    assert_int_equal(parse(NULL, NULL, NULL, NULL, NULL, &q, &err), 0);
    assert_int_equal(q.select, SOQL_SELECT_STAR);
    assert_false(q.select_system);
    assert_int_equal(q.limit, 1000);
    assert_int_equal(q.offset, 0);
    soql_query_clear(&q);

    assert_int_equal(parse(":*, *", "n > 1", ":updated_at, :id ASC", "50000", "10", &q, &err), 0);
    assert_true(q.select_system);
    assert_non_null(q.where);
    assert_int_equal(q.n_order, 2);
    assert_int_equal(q.order[0].col, 1);
    assert_int_equal(q.order[1].col, 0);
    assert_false(q.order[1].desc);
    assert_int_equal(q.limit, 50000);
    assert_int_equal(q.offset, 10);
    soql_query_clear(&q);

    assert_int_equal(parse("COUNT( * )", NULL, NULL, NULL, NULL, &q, &err), 0);
    assert_int_equal(q.select, SOQL_SELECT_COUNT);
    soql_query_clear(&q);

    assert_int_equal(parse("name, :id,`n`", NULL, "n DESC", NULL, NULL, &q, &err), 0);
    assert_int_equal(q.select, SOQL_SELECT_LIST);
    assert_int_equal(q.n_columns, 3);
    assert_int_equal(q.columns[0], 3);
    assert_int_equal(q.columns[1], 0);
    assert_int_equal(q.columns[2], 4);
    assert_true(q.order[0].desc);
    soql_query_clear(&q);

    const struct {
        const char *select, *where, *order, *limit, *offset, *code, *needle;
    } bad[] = {
        {"nope", NULL, NULL, NULL, NULL, "query.soql.no-such-column", "nope"},
        {"count(*), name", NULL, NULL, NULL, NULL, "query.compiler.malformed", "count"},
        {"max(n)", NULL, NULL, NULL, NULL, "query.compiler.malformed", "unsupported"},
        {"name,", NULL, NULL, NULL, NULL, "query.compiler.malformed", "empty"},
        {":*", NULL, NULL, NULL, NULL, "query.compiler.malformed", "needs"},
        {NULL, "n >", NULL, NULL, NULL, "query.compiler.malformed", "expected a value"},
        {NULL, NULL, "nope", NULL, NULL, "query.soql.no-such-column", "nope"},
        {NULL, NULL, "n SIDEWAYS", NULL, NULL, "query.compiler.malformed", "unexpected"},
        {NULL, NULL, NULL, "50001", NULL, "query.compiler.malformed", "length must be <= 50000"},
        {NULL, NULL, NULL, "-1", NULL, "query.compiler.malformed", "$limit"},
        {NULL, NULL, NULL, "ten", NULL, "query.compiler.malformed", "$limit"},
        {NULL, NULL, NULL, NULL, "x", "query.compiler.malformed", "$offset"},
    };
    for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
        memset(&err, 0, sizeof(err));
        if (parse(bad[j].select, bad[j].where, bad[j].order, bad[j].limit, bad[j].offset, &q,
                  &err) == 0) {
            soql_query_clear(&q);
            fail_msg("case %zu parsed", j);
        }
        if (strcmp(err.code, bad[j].code) != 0 || !strstr(err.message, bad[j].needle)) {
            fail_msg("case %zu: %s / %s", j, err.code, err.message);
        }
        assert_null(q.where);
        assert_null(q.columns);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),   cmocka_unit_test(test_logic_and_nulls),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_lower_bound), cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
