/* SoQL building and keyset advancement. See query.h. */
#include "producers/query.h"

#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"

/* Append a single-quoted SoQL literal ('' doubles a quote). */
static void append_literal(char *buf, size_t n, const char *s)
{
    size_t len = strlen(buf);
    if (len + 1 < n) {
        buf[len++] = '\'';
    }
    for (; *s && len + 3 < n; s++) {
        if (*s == '\'') {
            buf[len++] = '\'';
        }
        buf[len++] = *s;
    }
    if (len + 1 < n) {
        buf[len++] = '\'';
    }
    buf[len] = 0;
}

static void append(char *buf, size_t n, const char *s)
{
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s", s);
}

static void floating(int64_t us, char *buf, size_t n)
{
    struct civil_time ct;
    us_to_civil(us, &ct);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.000", ct.year, ct.month, ct.day, ct.hour,
             ct.minute, ct.second);
}

void query_range_where(const struct city *city, int64_t since_us, int64_t until_us, char *buf,
                       size_t n)
{
    char t[40];
    buf[0] = 0;
    if (since_us != INT64_MIN) {
        floating(since_us, t, sizeof(t));
        append(buf, n, city->occurred_at.field);
        append(buf, n, " >= ");
        append_literal(buf, n, t);
    }
    if (until_us != INT64_MIN) {
        floating(until_us, t, sizeof(t));
        append(buf, n, *buf ? " AND " : "");
        append(buf, n, city->occurred_at.field);
        append(buf, n, " < ");
        append_literal(buf, n, t);
    }
}

int query_escape(char *buf, size_t n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p);
        if (o + (plain ? 1 : 3) >= n) {
            return -1;
        }
        if (plain) {
            buf[o++] = (char)*p;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[*p >> 4];
            buf[o++] = hex[*p & 15];
        }
    }
    buf[o] = 0;
    return 0;
}

static int param(char *buf, size_t n, const char *name, const char *value)
{
    char esc[4096];
    if (query_escape(esc, sizeof(esc), value) != 0) {
        return -1;
    }
    size_t len = strlen(buf);
    int w = snprintf(buf + len, n - len, "%s%s=%s", strchr(buf, '?') ? "&" : "?", name, esc);
    return w < 0 || (size_t)w >= n - len ? -1 : 0;
}

static int resource(char *buf, size_t n, const char *base, const struct city *city)
{
    int w = snprintf(buf, n, "%s/resource/%s.json", base, city->dataset);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

int query_page_url(char *buf, size_t n, const char *base, const struct city *city,
                   const struct keyset *after, const char *range_where, int limit)
{
    char where[2048] = "", lim[16];
    if (range_where && *range_where) {
        snprintf(where, sizeof(where), "(%s)", range_where);
    }
    if (after && after->set) {
        append(where, sizeof(where), *where ? " AND " : "");
        append(where, sizeof(where), "(:updated_at > ");
        append_literal(where, sizeof(where), after->updated_at);
        append(where, sizeof(where), " OR (:updated_at = ");
        append_literal(where, sizeof(where), after->updated_at);
        append(where, sizeof(where), " AND :id > ");
        append_literal(where, sizeof(where), after->id);
        append(where, sizeof(where), "))");
    }
    snprintf(lim, sizeof(lim), "%d", limit);
    if (resource(buf, n, base, city) || param(buf, n, "$select", ":*,*") ||
        (*where && param(buf, n, "$where", where)) || param(buf, n, "$order", ":updated_at,:id") ||
        param(buf, n, "$limit", lim)) {
        return -1;
    }
    return 0;
}

int query_count_url(char *buf, size_t n, const char *base, const struct city *city,
                    const char *range_where)
{
    if (resource(buf, n, base, city) || param(buf, n, "$select", "count(*)") ||
        (range_where && *range_where && param(buf, n, "$where", range_where))) {
        return -1;
    }
    return 0;
}
