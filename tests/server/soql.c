#include "tests/server/soql.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timeutil.h"

#define CODE_MALFORMED "query.compiler.malformed"
#define CODE_NO_COLUMN "query.soql.no-such-column"
#define CODE_TYPE      "query.soql.type-mismatch"

__attribute__((format(printf, 3, 4))) static void set_err(struct soql_error *err, const char *code,
                                                          const char *fmt, ...)
{
    if (!err) {
        return;
    }
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* ---- Tokens ---- */

enum tok_kind { T_END, T_LPAREN, T_RPAREN, T_COMMA, T_STAR, T_OP, T_STRING, T_NUMBER, T_IDENT };

struct tok {
    enum tok_kind kind;
    enum soql_op op;
    char *text; /* T_STRING (unescaped), T_NUMBER, T_IDENT; owned */
};

struct lexer {
    const char *s, *p;
    struct tok tok; /* current token */
    struct soql_error *err;
    bool failed;
};

static bool is_ident_start(int c)
{
    return isalpha(c) || c == '_' || c == ':' || c == '@';
}

static bool is_ident_char(int c)
{
    return isalnum(c) || c == '_' || c == ':' || c == '@';
}

/* Advance to the next token; false (and err set) on a lexical error. */
static bool next(struct lexer *lx)
{
    free(lx->tok.text);
    memset(&lx->tok, 0, sizeof(lx->tok));
    while (isspace((unsigned char)*lx->p)) {
        lx->p++;
    }
    const char *p = lx->p;
    unsigned char c = (unsigned char)*p;
    if (c == '\0') {
        lx->tok.kind = T_END;
        return true;
    }
    if (c == '(' || c == ')' || c == ',' || c == '*') {
        lx->tok.kind = c == '(' ? T_LPAREN : c == ')' ? T_RPAREN : c == ',' ? T_COMMA : T_STAR;
        lx->p++;
        return true;
    }
    if (c == '=' || c == '<' || c == '>' || c == '!') {
        lx->tok.kind = T_OP;
        if (p[0] == '!' && p[1] == '=') {
            lx->tok.op = SOQL_NE, lx->p += 2;
        } else if (p[0] == '<' && p[1] == '>') {
            lx->tok.op = SOQL_NE, lx->p += 2;
        } else if (p[0] == '<' && p[1] == '=') {
            lx->tok.op = SOQL_LE, lx->p += 2;
        } else if (p[0] == '>' && p[1] == '=') {
            lx->tok.op = SOQL_GE, lx->p += 2;
        } else if (p[0] == '<') {
            lx->tok.op = SOQL_LT, lx->p += 1;
        } else if (p[0] == '>') {
            lx->tok.op = SOQL_GT, lx->p += 1;
        } else if (p[0] == '=') {
            lx->tok.op = SOQL_EQ, lx->p += p[1] == '=' ? 2 : 1;
        } else {
            set_err(lx->err, CODE_MALFORMED, "Could not parse SoQL query: unexpected '!' at %d",
                    (int)(p - lx->s) + 1);
            lx->failed = true;
            return false;
        }
        return true;
    }
    if (c == '\'') {
        size_t cap = strlen(p) + 1, n = 0;
        char *out = malloc(cap);
        if (!out) {
            set_err(lx->err, CODE_MALFORMED, "out of memory");
            lx->failed = true;
            return false;
        }
        p++;
        for (;;) {
            if (*p == '\0') {
                free(out);
                set_err(lx->err, CODE_MALFORMED,
                        "Could not parse SoQL query: unterminated string at %d",
                        (int)(lx->p - lx->s) + 1);
                lx->failed = true;
                return false;
            }
            if (*p == '\'') {
                if (p[1] == '\'') {
                    out[n++] = '\'';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            out[n++] = *p++;
        }
        out[n] = '\0';
        lx->tok.kind = T_STRING;
        lx->tok.text = out;
        lx->p = p;
        return true;
    }
    if (isdigit(c) || ((c == '-' || c == '.') && (isdigit((unsigned char)p[1]) ||
                                                  (p[1] == '.' && isdigit((unsigned char)p[2]))))) {
        const char *q = p + 1;
        while (isdigit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E' ||
               ((*q == '+' || *q == '-') && (q[-1] == 'e' || q[-1] == 'E'))) {
            q++;
        }
        char *text = strndup(p, (size_t)(q - p));
        char *end = NULL;
        errno = 0;
        if (text) {
            (void)strtod(text, &end);
        }
        if (!text || *end != '\0' || is_ident_char((unsigned char)*q)) {
            free(text);
            set_err(lx->err, CODE_MALFORMED, "Could not parse SoQL query: bad number at %d",
                    (int)(p - lx->s) + 1);
            lx->failed = true;
            return false;
        }
        lx->tok.kind = T_NUMBER;
        lx->tok.text = text;
        lx->p = q;
        return true;
    }
    if (c == '`') {
        const char *q = strchr(p + 1, '`');
        if (!q) {
            set_err(lx->err, CODE_MALFORMED,
                    "Could not parse SoQL query: unterminated `identifier` at %d",
                    (int)(p - lx->s) + 1);
            lx->failed = true;
            return false;
        }
        lx->tok.kind = T_IDENT;
        lx->tok.text = strndup(p + 1, (size_t)(q - p - 1));
        lx->p = q + 1;
        return lx->tok.text != NULL;
    }
    if (is_ident_start(c)) {
        const char *q = p + 1;
        while (is_ident_char((unsigned char)*q)) {
            q++;
        }
        lx->tok.kind = T_IDENT;
        lx->tok.text = strndup(p, (size_t)(q - p));
        lx->p = q;
        return lx->tok.text != NULL;
    }
    set_err(lx->err, CODE_MALFORMED, "Could not parse SoQL query: unexpected '%c' at %d", c,
            (int)(p - lx->s) + 1);
    lx->failed = true;
    return false;
}

static bool is_kw(const struct tok *t, const char *kw)
{
    return t->kind == T_IDENT && strcasecmp(t->text, kw) == 0;
}

static const char *tok_desc(const struct tok *t)
{
    switch (t->kind) {
    case T_END:
        return "end of input";
    case T_LPAREN:
        return "'('";
    case T_RPAREN:
        return "')'";
    case T_COMMA:
        return "','";
    case T_STAR:
        return "'*'";
    case T_OP:
        return "an operator";
    case T_STRING:
        return "a string";
    case T_NUMBER:
        return "a number";
    case T_IDENT:
        return t->text;
    }
    return "?";
}

/* ---- Normalisation ---- */

bool soql_normalise_fixed(const char *in, char *out, size_t out_size)
{
    struct civil_time ct;
    bool has_zone;
    int off;
    if (iso8601_parse(in, &ct, &has_zone, &off) != 0) {
        return false;
    }
    int64_t us = civil_to_us(&ct) - (int64_t)off * 1000000;
    us -= ((us % 1000) + 1000) % 1000; /* whole milliseconds */
    us_format(us, false, out, out_size);
    return true;
}

bool soql_normalise_floating(const char *in, char *out, size_t out_size)
{
    struct civil_time ct;
    bool has_zone;
    int off;
    if (iso8601_parse(in, &ct, &has_zone, &off) != 0 || has_zone) {
        return false;
    }
    snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", ct.year, ct.month, ct.day,
             ct.hour, ct.minute, ct.second, ct.micros / 1000);
    return true;
}

static bool parse_number(const char *s, double *out)
{
    if (!s || !*s) {
        return false;
    }
    char *end;
    *out = strtod(s, &end);
    return *end == '\0' && !isspace((unsigned char)s[0]);
}

/* ---- Expressions ---- */

void soql_expr_free(struct soql_expr *e)
{
    if (!e) {
        return;
    }
    soql_expr_free(e->left);
    soql_expr_free(e->right);
    free(e->column);
    free(e->literal);
    free(e);
}

struct parser {
    struct lexer lx;
    soql_resolve_fn resolve;
    void *ctx;
    int depth;
};

static struct soql_expr *parse_or(struct parser *ps);

static struct soql_expr *node(enum soql_node kind, struct soql_expr *l, struct soql_expr *r)
{
    struct soql_expr *e = calloc(1, sizeof(*e));
    if (!e) {
        soql_expr_free(l);
        soql_expr_free(r);
        return NULL;
    }
    e->node = kind;
    e->left = l;
    e->right = r;
    return e;
}

/* Resolve the column of a comparison and normalise its literal by the column's type. */
static bool bind_cmp(struct parser *ps, struct soql_expr *e)
{
    struct soql_error *err = ps->lx.err;
    e->col = -1;
    e->type = SOQL_TEXT;
    if (ps->resolve && !ps->resolve(ps->ctx, e->column, &e->col, &e->type)) {
        set_err(err, CODE_NO_COLUMN, "No such column: %s", e->column);
        return false;
    }
    if (!e->literal) {
        return true;
    }
    char buf[64];
    switch (e->type) {
    case SOQL_FIXED:
        if (!soql_normalise_fixed(e->literal, buf, sizeof(buf))) {
            set_err(err, CODE_TYPE, "Cannot compare %s (fixed_timestamp) with '%s'", e->column,
                    e->literal);
            return false;
        }
        break;
    case SOQL_FLOATING:
        if (!soql_normalise_floating(e->literal, buf, sizeof(buf))) {
            set_err(err, CODE_TYPE, "Cannot compare %s (floating_timestamp) with '%s'", e->column,
                    e->literal);
            return false;
        }
        break;
    case SOQL_NUMBER:
        if (!parse_number(e->literal, &e->number)) {
            set_err(err, CODE_TYPE, "Cannot compare %s (number) with '%s'", e->column, e->literal);
            return false;
        }
        e->has_number = true;
        return true;
    case SOQL_BOOL:
        if (strcasecmp(e->literal, "true") != 0 && strcasecmp(e->literal, "false") != 0) {
            set_err(err, CODE_TYPE, "Cannot compare %s (checkbox) with '%s'", e->column,
                    e->literal);
            return false;
        }
        snprintf(buf, sizeof(buf), "%s", strcasecmp(e->literal, "true") == 0 ? "true" : "false");
        break;
    case SOQL_GEO:
        set_err(err, CODE_TYPE, "Cannot compare %s (location) with a value", e->column);
        return false;
    case SOQL_TEXT:
    case SOQL_ROWID:
        if (e->literal_number) {
            e->has_number = parse_number(e->literal, &e->number);
        }
        return true;
    }
    char *copy = strdup(buf);
    if (!copy) {
        set_err(err, CODE_MALFORMED, "out of memory");
        return false;
    }
    free(e->literal);
    e->literal = copy;
    return true;
}

/* column op literal | column IS [NOT] NULL | ( expr ) */
static struct soql_expr *parse_primary(struct parser *ps)
{
    struct lexer *lx = &ps->lx;
    if (lx->tok.kind == T_LPAREN) {
        if (++ps->depth > 64) {
            set_err(lx->err, CODE_MALFORMED, "Could not parse SoQL query: nested too deeply");
            return NULL;
        }
        if (!next(lx)) {
            return NULL;
        }
        struct soql_expr *e = parse_or(ps);
        if (!e) {
            return NULL;
        }
        if (lx->tok.kind != T_RPAREN) {
            set_err(lx->err, CODE_MALFORMED, "Could not parse SoQL query: expected ')' but got %s",
                    tok_desc(&lx->tok));
            soql_expr_free(e);
            return NULL;
        }
        ps->depth--;
        if (!next(lx)) {
            soql_expr_free(e);
            return NULL;
        }
        return e;
    }
    if (lx->tok.kind != T_IDENT || is_kw(&lx->tok, "AND") || is_kw(&lx->tok, "OR") ||
        is_kw(&lx->tok, "NOT") || is_kw(&lx->tok, "NULL") || is_kw(&lx->tok, "IS")) {
        set_err(lx->err, CODE_MALFORMED, "Could not parse SoQL query: expected a column but got %s",
                tok_desc(&lx->tok));
        return NULL;
    }
    struct soql_expr *e = node(SOQL_CMP, NULL, NULL);
    if (!e) {
        set_err(lx->err, CODE_MALFORMED, "out of memory");
        return NULL;
    }
    e->column = lx->tok.text;
    lx->tok.text = NULL;
    if (!next(lx)) {
        goto fail;
    }
    if (is_kw(&lx->tok, "IS")) {
        if (!next(lx)) {
            goto fail;
        }
        e->op = SOQL_IS_NULL;
        if (is_kw(&lx->tok, "NOT")) {
            e->op = SOQL_NOT_NULL;
            if (!next(lx)) {
                goto fail;
            }
        }
        if (!is_kw(&lx->tok, "NULL")) {
            set_err(lx->err, CODE_MALFORMED,
                    "Could not parse SoQL query: expected NULL after IS but got %s",
                    tok_desc(&lx->tok));
            goto fail;
        }
    } else if (lx->tok.kind == T_OP) {
        e->op = lx->tok.op;
        if (!next(lx)) {
            goto fail;
        }
        if (lx->tok.kind == T_STRING || lx->tok.kind == T_NUMBER) {
            e->literal_number = lx->tok.kind == T_NUMBER;
            e->literal = lx->tok.text;
            lx->tok.text = NULL;
        } else if (is_kw(&lx->tok, "true") || is_kw(&lx->tok, "false")) {
            e->literal = strdup(is_kw(&lx->tok, "true") ? "true" : "false");
            if (!e->literal) {
                goto fail;
            }
        } else {
            set_err(lx->err, CODE_MALFORMED,
                    "Could not parse SoQL query: expected a value after the operator but got %s",
                    tok_desc(&lx->tok));
            goto fail;
        }
    } else {
        set_err(lx->err, CODE_MALFORMED,
                "Could not parse SoQL query: expected an operator after %s but got %s", e->column,
                tok_desc(&lx->tok));
        goto fail;
    }
    if (!next(lx)) {
        goto fail;
    }
    if (!bind_cmp(ps, e)) {
        goto fail;
    }
    return e;
fail:
    soql_expr_free(e);
    return NULL;
}

static struct soql_expr *parse_not(struct parser *ps)
{
    if (is_kw(&ps->lx.tok, "NOT")) {
        if (++ps->depth > 64) {
            set_err(ps->lx.err, CODE_MALFORMED, "Could not parse SoQL query: nested too deeply");
            return NULL;
        }
        if (!next(&ps->lx)) {
            return NULL;
        }
        struct soql_expr *inner = parse_not(ps);
        ps->depth--;
        if (!inner) {
            return NULL;
        }
        return node(SOQL_NOT, inner, NULL);
    }
    return parse_primary(ps);
}

static struct soql_expr *parse_and(struct parser *ps)
{
    struct soql_expr *e = parse_not(ps);
    while (e && is_kw(&ps->lx.tok, "AND")) {
        if (!next(&ps->lx)) {
            soql_expr_free(e);
            return NULL;
        }
        struct soql_expr *r = parse_not(ps);
        if (!r) {
            soql_expr_free(e);
            return NULL;
        }
        e = node(SOQL_AND, e, r);
    }
    return e;
}

static struct soql_expr *parse_or(struct parser *ps)
{
    struct soql_expr *e = parse_and(ps);
    while (e && is_kw(&ps->lx.tok, "OR")) {
        if (!next(&ps->lx)) {
            soql_expr_free(e);
            return NULL;
        }
        struct soql_expr *r = parse_and(ps);
        if (!r) {
            soql_expr_free(e);
            return NULL;
        }
        e = node(SOQL_OR, e, r);
    }
    return e;
}

struct soql_expr *soql_where_parse(const char *s, soql_resolve_fn resolve, void *ctx,
                                   struct soql_error *err)
{
    struct parser ps = {.lx = {.s = s, .p = s, .err = err}, .resolve = resolve, .ctx = ctx};
    struct soql_expr *e = NULL;
    if (!next(&ps.lx)) {
        goto out;
    }
    if (ps.lx.tok.kind == T_END) {
        set_err(err, CODE_MALFORMED, "Could not parse SoQL query: empty $where");
        goto out;
    }
    e = parse_or(&ps);
    if (e && ps.lx.tok.kind != T_END) {
        set_err(err, CODE_MALFORMED,
                "Could not parse SoQL query: unexpected %s after the condition",
                tok_desc(&ps.lx.tok));
        soql_expr_free(e);
        e = NULL;
    }
out:
    free(ps.lx.tok.text);
    return e;
}

/* ---- Evaluation ---- */

static int compare(const struct soql_expr *e, const char *v)
{
    if (e->type == SOQL_NUMBER || (e->literal_number && e->has_number)) {
        double d;
        if (parse_number(v, &d) && e->has_number) {
            return d < e->number ? -1 : d > e->number ? 1 : 0;
        }
        if (e->type == SOQL_NUMBER) {
            return 2; /* not comparable */
        }
    }
    int c = strcmp(v, e->literal);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int soql_eval(const struct soql_expr *e, soql_value_fn value, void *ctx)
{
    switch (e->node) {
    case SOQL_AND: {
        int l = soql_eval(e->left, value, ctx);
        if (l == 0) {
            return 0;
        }
        int r = soql_eval(e->right, value, ctx);
        if (r == 0) {
            return 0;
        }
        return l == 1 && r == 1 ? 1 : -1;
    }
    case SOQL_OR: {
        int l = soql_eval(e->left, value, ctx);
        if (l == 1) {
            return 1;
        }
        int r = soql_eval(e->right, value, ctx);
        if (r == 1) {
            return 1;
        }
        return l == 0 && r == 0 ? 0 : -1;
    }
    case SOQL_NOT: {
        int v = soql_eval(e->left, value, ctx);
        return v < 0 ? -1 : !v;
    }
    case SOQL_CMP:
        break;
    }
    const char *v = value(ctx, e->col);
    if (e->op == SOQL_IS_NULL) {
        return v == NULL;
    }
    if (e->op == SOQL_NOT_NULL) {
        return v != NULL;
    }
    if (!v) {
        return -1;
    }
    int c = compare(e, v);
    if (c == 2) {
        return -1;
    }
    switch (e->op) {
    case SOQL_EQ:
        return c == 0;
    case SOQL_NE:
        return c != 0;
    case SOQL_LT:
        return c < 0;
    case SOQL_LE:
        return c <= 0;
    case SOQL_GT:
        return c > 0;
    case SOQL_GE:
        return c >= 0;
    default:
        return -1;
    }
}

/* Is bound a (lit_a, strict_a) tighter (larger) than b? */
static bool tighter(const char *a, bool strict_a, const char *b, bool strict_b)
{
    int c = strcmp(a, b);
    return c > 0 || (c == 0 && strict_a && !strict_b);
}

bool soql_lower_bound(const struct soql_expr *e, int col, const char **literal, bool *strict)
{
    const char *l1, *l2;
    bool s1, s2;
    switch (e->node) {
    case SOQL_CMP:
        if (e->col != col || !e->literal || e->has_number) {
            return false;
        }
        if (e->op == SOQL_GT || e->op == SOQL_GE || e->op == SOQL_EQ) {
            *literal = e->literal;
            *strict = e->op == SOQL_GT;
            return true;
        }
        return false;
    case SOQL_AND: {
        bool b1 = soql_lower_bound(e->left, col, &l1, &s1);
        bool b2 = soql_lower_bound(e->right, col, &l2, &s2);
        if (b1 && (!b2 || tighter(l1, s1, l2, s2))) {
            *literal = l1, *strict = s1;
            return true;
        }
        if (b2) {
            *literal = l2, *strict = s2;
            return true;
        }
        return false;
    }
    case SOQL_OR:
        if (!soql_lower_bound(e->left, col, &l1, &s1) ||
            !soql_lower_bound(e->right, col, &l2, &s2)) {
            return false;
        }
        if (tighter(l1, s1, l2, s2)) {
            *literal = l2, *strict = s2;
        } else {
            *literal = l1, *strict = s1;
        }
        return true;
    case SOQL_NOT:
        return false;
    }
    return false;
}

/* ---- Whole query ---- */

void soql_query_clear(struct soql_query *q)
{
    free(q->columns);
    soql_expr_free(q->where);
    memset(q, 0, sizeof(*q));
}

static bool is_count_star(const char *s, size_t len)
{
    /* count ( * ) with optional spaces, case-insensitive */
    char buf[32];
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < sizeof(buf); i++) {
        if (!isspace((unsigned char)s[i])) {
            buf[n++] = (char)tolower((unsigned char)s[i]);
        }
    }
    buf[n] = '\0';
    return strcmp(buf, "count(*)") == 0;
}

static int parse_select(const char *s, soql_resolve_fn resolve, void *ctx, struct soql_query *q,
                        struct soql_error *err)
{
    q->select = SOQL_SELECT_STAR;
    if (!s) {
        return 0;
    }
    size_t cap = 8;
    q->columns = malloc(cap * sizeof(int));
    if (!q->columns) {
        set_err(err, CODE_MALFORMED, "out of memory");
        return -1;
    }
    bool star = false, sys = false, count = false;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++, len--;
        }
        while (len && isspace((unsigned char)p[len - 1])) {
            len--;
        }
        if (len == 0) {
            set_err(err, CODE_MALFORMED, "Could not parse SoQL query: empty item in $select");
            return -1;
        }
        if (len == 1 && p[0] == '*') {
            star = true;
        } else if (len == 2 && p[0] == ':' && p[1] == '*') {
            sys = true;
        } else if (is_count_star(p, len)) {
            count = true;
        } else {
            char name[256];
            bool quoted = len >= 2 && p[0] == '`' && p[len - 1] == '`';
            size_t start = quoted ? 1 : 0, n = quoted ? len - 2 : len;
            if (n == 0 || n >= sizeof(name)) {
                set_err(err, CODE_MALFORMED, "Could not parse SoQL query: bad $select item");
                return -1;
            }
            memcpy(name, p + start, n);
            name[n] = '\0';
            for (size_t i = 0; i < n && !quoted; i++) {
                if (!is_ident_char((unsigned char)name[i])) {
                    set_err(err, CODE_MALFORMED,
                            "Could not parse SoQL query: unsupported $select item '%s'", name);
                    return -1;
                }
            }
            int col;
            enum soql_type type;
            if (!resolve(ctx, name, &col, &type)) {
                set_err(err, CODE_NO_COLUMN, "No such column: %s", name);
                return -1;
            }
            if (q->n_columns == cap) {
                int *grown = realloc(q->columns, cap * 2 * sizeof(int));
                if (!grown) {
                    set_err(err, CODE_MALFORMED, "out of memory");
                    return -1;
                }
                q->columns = grown;
                cap *= 2;
            }
            q->columns[q->n_columns++] = col;
        }
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    if (count && (star || sys || q->n_columns)) {
        set_err(err, CODE_MALFORMED,
                "Could not parse SoQL query: count(*) cannot be mixed with columns without $group");
        return -1;
    }
    if (count) {
        q->select = SOQL_SELECT_COUNT;
    } else if (star || sys) {
        if (q->n_columns) {
            set_err(err, CODE_MALFORMED,
                    "Could not parse SoQL query: '*' cannot be mixed with column names here");
            return -1;
        }
        if (!star) {
            set_err(err, CODE_MALFORMED, "Could not parse SoQL query: ':*' needs '*' too");
            return -1;
        }
        q->select = SOQL_SELECT_STAR;
        q->select_system = sys;
    } else {
        q->select = SOQL_SELECT_LIST;
    }
    return 0;
}

static int parse_order(const char *s, soql_resolve_fn resolve, void *ctx, struct soql_query *q,
                       struct soql_error *err)
{
    if (!s) {
        return 0;
    }
    struct lexer lx = {.s = s, .p = s, .err = err};
    int rc = -1;
    if (!next(&lx)) {
        goto out;
    }
    for (;;) {
        if (lx.tok.kind != T_IDENT) {
            set_err(err, CODE_MALFORMED,
                    "Could not parse SoQL query: expected a column in $order but got %s",
                    tok_desc(&lx.tok));
            goto out;
        }
        if (q->n_order == SOQL_MAX_ORDER) {
            set_err(err, CODE_MALFORMED, "Could not parse SoQL query: too many $order columns");
            goto out;
        }
        struct soql_order_item *it = &q->order[q->n_order++];
        enum soql_type type;
        if (!resolve(ctx, lx.tok.text, &it->col, &type)) {
            set_err(err, CODE_NO_COLUMN, "No such column: %s", lx.tok.text);
            goto out;
        }
        if (!next(&lx)) {
            goto out;
        }
        if (is_kw(&lx.tok, "ASC") || is_kw(&lx.tok, "DESC")) {
            it->desc = is_kw(&lx.tok, "DESC");
            if (!next(&lx)) {
                goto out;
            }
        }
        if (lx.tok.kind == T_END) {
            break;
        }
        if (lx.tok.kind != T_COMMA) {
            set_err(err, CODE_MALFORMED, "Could not parse SoQL query: unexpected %s in $order",
                    tok_desc(&lx.tok));
            goto out;
        }
        if (!next(&lx)) {
            goto out;
        }
    }
    rc = 0;
out:
    free(lx.tok.text);
    return rc;
}

static int parse_long(const char *s, const char *what, long min, long max, long *out,
                      struct soql_error *err)
{
    char *end;
    errno = 0;
    while (s && isspace((unsigned char)*s)) {
        s++;
    }
    long v = s && *s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end != '\0' || errno != 0 || v < min) {
        set_err(err, CODE_MALFORMED, "Could not parse SoQL query: bad %s '%s'", what, s ? s : "");
        return -1;
    }
    if (v > max) {
        set_err(err, CODE_MALFORMED, "length must be <= %ld", max);
        return -1;
    }
    *out = v;
    return 0;
}

int soql_query_parse(const struct soql_params *p, soql_resolve_fn resolve, void *ctx,
                     struct soql_query *q, struct soql_error *err)
{
    memset(q, 0, sizeof(*q));
    q->limit = SOQL_LIMIT_DEFAULT;
    if (parse_select(p->select, resolve, ctx, q, err) != 0) {
        goto fail;
    }
    if (p->where) {
        q->where = soql_where_parse(p->where, resolve, ctx, err);
        if (!q->where) {
            goto fail;
        }
    }
    if (parse_order(p->order, resolve, ctx, q, err) != 0) {
        goto fail;
    }
    if (p->limit && parse_long(p->limit, "$limit", 0, SOQL_LIMIT_MAX, &q->limit, err) != 0) {
        goto fail;
    }
    if (p->offset && parse_long(p->offset, "$offset", 0, INT32_MAX, &q->offset, err) != 0) {
        goto fail;
    }
    return 0;
fail:
    soql_query_clear(q);
    return -1;
}
