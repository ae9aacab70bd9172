/* The subset of SoQL that Blotter's producer sends, parsed into an AST and evaluated against a
 * row. Pure: no I/O, no global state.
 *
 *   $select  *  |  :*,*  |  name, name, ...  |  count(*)
 *   $where   comparisons (= != <> < <= > >=) between a column and a 'quoted string' (with ''
 *            escaping), a number, or true/false; column IS [NOT] NULL; AND, OR, NOT, parentheses.
 *            Precedence: NOT > AND > OR. Keywords are case-insensitive.
 *   $order   name [ASC|DESC], ...
 *   $limit   default 1000, at most 50000 (larger: 400 "length must be <= 50000", like SODA 2.0)
 *   $offset  default 0
 *
 * Columns are resolved through a caller's resolver (soql_query_parse), which also gives each
 * column's type. Literals compared with fixed timestamps (:created_at, :updated_at) are
 * normalised to 2024-01-01T00:00:00.000Z (accepting ...Z, no milliseconds, or a bare date);
 * literals compared with floating timestamps to 2024-01-01T00:00:00.000. Values are compared
 * as strings, except numbers (a number column or a number literal) which compare numerically
 * when both sides parse. Comparisons with a null value are unknown (SQL three-valued logic): a
 * row matches only when the whole condition is true. */
#ifndef BLOTTER_SOCRATA_SOQL_H
#define BLOTTER_SOCRATA_SOQL_H

#include <stdbool.h>
#include <stddef.h>

enum soql_type {
    SOQL_TEXT = 0,
    SOQL_NUMBER,
    SOQL_FLOATING, /* floating_timestamp: local wall time, no zone */
    SOQL_FIXED,    /* fixed_timestamp (UTC, Z) */
    SOQL_BOOL,     /* checkbox */
    SOQL_GEO,      /* point / location: only IS [NOT] NULL */
    SOQL_ROWID,    /* :id */
};

/* Socrata-shaped error: code is a Socrata error tag. */
struct soql_error {
    const char *code; /* "query.compiler.malformed", "query.soql.no-such-column", ... */
    char message[256];
};

enum soql_op { SOQL_EQ, SOQL_NE, SOQL_LT, SOQL_LE, SOQL_GT, SOQL_GE, SOQL_IS_NULL, SOQL_NOT_NULL };
enum soql_node { SOQL_CMP, SOQL_AND, SOQL_OR, SOQL_NOT };

struct soql_expr {
    enum soql_node node;
    /* SOQL_CMP */
    enum soql_op op;
    char *column; /* as written */
    int col;      /* resolved column id */
    enum soql_type type;
    char *literal;       /* normalised literal text; NULL for IS [NOT] NULL */
    bool literal_number; /* the literal was an unquoted number */
    double number;       /* its value when it (or a number column's literal) parses */
    bool has_number;
    /* SOQL_AND / SOQL_OR / SOQL_NOT (right unused) */
    struct soql_expr *left, *right;
};

/* Resolve a column name to an id and a type; return false for an unknown column. */
typedef bool (*soql_resolve_fn)(void *ctx, const char *name, int *col, enum soql_type *type);
/* The value of a column in the current row as text (checkbox: "true"/"false"; fixed timestamps
 * in the normalised form), or NULL when null. */
typedef const char *(*soql_value_fn)(void *ctx, int col);

enum soql_select_kind { SOQL_SELECT_STAR = 0, SOQL_SELECT_COUNT, SOQL_SELECT_LIST };

struct soql_order_item {
    int col;
    bool desc;
};

#define SOQL_MAX_ORDER     8
#define SOQL_LIMIT_MAX     50000
#define SOQL_LIMIT_DEFAULT 1000

struct soql_query {
    enum soql_select_kind select;
    bool select_system; /* STAR: ":*" was given */
    int *columns;       /* SELECT_LIST: resolved column ids, in request order */
    size_t n_columns;
    struct soql_expr *where; /* NULL: every row */
    struct soql_order_item order[SOQL_MAX_ORDER];
    size_t n_order;
    long limit, offset;
};

/* The raw parameters (NULL when absent). */
struct soql_params {
    const char *select, *where, *order, *limit, *offset;
};

/* Parse and resolve every parameter into q (caller-owned, release with soql_query_clear).
 * Returns 0, or -1 with err filled (q is then cleared). */
int soql_query_parse(const struct soql_params *p, soql_resolve_fn resolve, void *ctx,
                     struct soql_query *q, struct soql_error *err);
void soql_query_clear(struct soql_query *q);

/* Parse a $where text alone (resolve may be NULL: columns stay unresolved, col = -1, type
 * TEXT). NULL with err on a syntax error or an unknown column. */
struct soql_expr *soql_where_parse(const char *s, soql_resolve_fn resolve, void *ctx,
                                   struct soql_error *err);
void soql_expr_free(struct soql_expr *e);

/* 1 true, 0 false, -1 unknown (null involved). */
int soql_eval(const struct soql_expr *e, soql_value_fn value, void *ctx);

/* A lower bound on column col implied by e for every matching row: whether there is one, the
 * normalised literal (borrowed from e) and whether it is strict (>). Derived through AND (the
 * tightest conjunct) and OR (the loosest disjunct); = and >= give inclusive bounds. */
bool soql_lower_bound(const struct soql_expr *e, int col, const char **literal, bool *strict);

/* Normalise a fixed-timestamp literal to YYYY-MM-DDTHH:MM:SS.mmmZ (out >= 25 bytes). */
bool soql_normalise_fixed(const char *in, char *out, size_t out_size);
/* Normalise a floating-timestamp literal to YYYY-MM-DDTHH:MM:SS.mmm (out >= 24 bytes). */
bool soql_normalise_floating(const char *in, char *out, size_t out_size);

#endif
