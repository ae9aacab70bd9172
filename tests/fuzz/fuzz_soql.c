/* The local test server's SoQL parser (tests/server/soql.c): $select, $where, $order, $limit and
 * $offset (the input's parts, separated by NUL bytes) against a schema of every column type,
 * then the parsed filter evaluated on a few rows. */
#include "tests/fuzz/fuzz.h"
#include "tests/server/soql.h"

static const struct {
    const char *name;
    enum soql_type type;
} schema[] = {{"name", SOQL_TEXT}, {"n", SOQL_NUMBER},         {"date", SOQL_FLOATING},
              {"at", SOQL_FIXED},  {"flag", SOQL_BOOL},        {"loc", SOQL_GEO},
              {":id", SOQL_ROWID}, {":updated_at", SOQL_FIXED}};
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

static const char *rows[][N_COLS] = {
    {"Theft", "42", "2024-01-02T03:04:05.000", "2024-01-02T03:04:05.000Z", "true", "x", "row-1",
     "2024-01-02T03:04:05.123Z"},
    {NULL, NULL, NULL, NULL, NULL, NULL, "row-2", NULL},
    {"o'brien \\ \"", "-1e300", "1999-12-31T23:59:59.999", "1970-01-01T00:00:00.000Z", "false",
     NULL, "", "2038-01-19T03:14:08.000Z"},
};

static const char *value(void *ctx, int col)
{
    return ((const char **)ctx)[col];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size);
    if (!text) {
        return 0;
    }
    const char *part[5] = {NULL};
    size_t n = 0;
    for (char *p = text; n < 5 && p <= text + size; p += strlen(p) + 1) {
        part[n++] = p;
    }
    struct soql_params params = {part[0], part[1], part[2], part[3], part[4]};
    struct soql_query q;
    struct soql_error err;
    memset(&q, 0, sizeof(q));
    if (soql_query_parse(&params, resolve, NULL, &q, &err) == 0) {
        for (size_t r = 0; q.where && r < sizeof(rows) / sizeof(rows[0]); r++) {
            (void)soql_eval(q.where, value, (void *)rows[r]);
        }
        const char *literal;
        bool strict;
        if (q.where) {
            (void)soql_lower_bound(q.where, 7, &literal, &strict);
        }
        soql_query_clear(&q);
    }
    struct soql_expr *e = soql_where_parse(part[1] ? part[1] : text, NULL, NULL, &err);
    soql_expr_free(e);
    char out[128];
    (void)soql_normalise_fixed(text, out, sizeof(out));
    (void)soql_normalise_floating(text, out, sizeof(out));
    free(text);
    return 0;
}
