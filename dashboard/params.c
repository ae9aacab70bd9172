#include "dashboard/params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/timeutil.h"
#include "producers/city.h"

/* ---- Times ---- */

int param_time_parse(const char *s, struct param_time *t, char *errstr, size_t errstr_size)
{
    char buf[64];
    struct civil_time ct;
    bool has_zone;
    int offset_s;

    memset(t, 0, sizeof(*t));
    if (!s || strlen(s) >= sizeof(buf)) {
        err_set(errstr, errstr_size, "not an ISO 8601 time");
        return -1;
    }
    /* A '+' of an offset that a form turned into a space. */
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *p = buf + (strlen(buf) > 10 ? 11 : strlen(buf)); *p; p++) {
        if (*p == ' ') {
            *p = '+';
        }
    }
    if (iso8601_parse(buf, &ct, &has_zone, &offset_s) != 0) {
        err_set(errstr, errstr_size,
                "'%s' is not an ISO 8601 time (YYYY-MM-DD[THH:MM[:SS]][Z|±HH:MM])", s);
        return -1;
    }
    if (ct.year < 1 || ct.year > 9999) {
        err_set(errstr, errstr_size, "'%s' is outside years 1..9999", s);
        return -1;
    }
    t->set = true;
    t->local = !has_zone;
    if (has_zone) {
        t->us = civil_to_us(&ct) - (int64_t)offset_s * 1000000;
        us_to_civil(t->us, &ct);
        snprintf(t->text, sizeof(t->text), "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", ct.year,
                 ct.month, ct.day, ct.hour, ct.minute, ct.second, ct.micros);
    } else {
        t->us = civil_to_us(&ct); /* the wall time read as UTC: only for spans */
        snprintf(t->text, sizeof(t->text), "%04d-%02d-%02d %02d:%02d:%02d.%06d", ct.year, ct.month,
                 ct.day, ct.hour, ct.minute, ct.second, ct.micros);
    }
    return 0;
}

bool param_time_span_s(const struct param_time *from, const struct param_time *to, int64_t *span_s)
{
    if (!from->set || !to->set || from->local != to->local) {
        return false;
    }
    *span_s = (to->us - from->us) / 1000000;
    return true;
}

/* ---- Names and words ---- */

int param_city_parse(const char *s, char *out, size_t out_size, char *errstr, size_t errstr_size)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= PARAM_CITY_MAX || n >= out_size) {
        err_set(errstr, errstr_size, "a city name has 1 to %d characters", PARAM_CITY_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '_')) {
            err_set(errstr, errstr_size, "'%.*s' is not a city name (a-z, 0-9, - and _)",
                    (int)(n > 80 ? 80 : n), s);
            return -1;
        }
    }
    memcpy(out, s, n + 1);
    return 0;
}

int param_city_list_parse(const char *s, char out[][PARAM_CITY_MAX], size_t max, size_t *n,
                          char *errstr, size_t errstr_size)
{
    *n = 0;
    if (!s || !*s) {
        err_set(errstr, errstr_size, "an empty list of cities");
        return -1;
    }
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[PARAM_CITY_MAX];
        if (len >= sizeof(one)) {
            err_set(errstr, errstr_size, "a city name has 1 to %d characters", PARAM_CITY_MAX - 1);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (param_city_parse(one, one, sizeof(one), errstr, errstr_size) != 0) {
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < *n && !dup; i++) {
            dup = strcmp(out[i], one) == 0;
        }
        if (!dup) {
            if (*n == max) {
                err_set(errstr, errstr_size, "more than %zu cities", max);
                return -1;
            }
            memcpy(out[(*n)++], one, len + 1);
        }
        if (!comma) {
            return 0;
        }
        p = comma + 1;
    }
}

int param_choice_parse(const char *s, const char *choices, int *index, char *errstr,
                       size_t errstr_size)
{
    size_t n = s ? strlen(s) : 0;
    int i = 0;
    for (const char *c = choices; *c; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, s, n) == 0) {
            *index = i;
            return 0;
        }
        c += len + (bar ? 1 : 0);
    }
    err_set(errstr, errstr_size, "'%.*s' is not one of %s", (int)(n > 80 ? 80 : n), s ? s : "",
            choices);
    return -1;
}

int param_category_parse(const char *s, const char **category, char *errstr, size_t errstr_size)
{
    for (const char *const *v = vocab_categories; *v; v++) {
        if (s && strcmp(*v, s) == 0) {
            *category = *v;
            return 0;
        }
    }
    err_set(errstr, errstr_size,
            "'%.*s' is not a category of the vocabulary (homicide, theft, ...)",
            (int)(s && strlen(s) > 80 ? 80 : (s ? strlen(s) : 0)), s ? s : "");
    return -1;
}

int param_long_parse(const char *s, long lo, long hi, long *out, char *errstr, size_t errstr_size)
{
    char *end;
    errno = 0;
    long v = s && *s && !isspace((unsigned char)*s) ? strtol(s, &end, 10) : 0;
    if (!s || !*s || isspace((unsigned char)*s) || *end || errno) {
        err_set(errstr, errstr_size, "not an integer");
        return -1;
    }
    if (v < lo || v > hi) {
        err_set(errstr, errstr_size, "%ld is outside %ld..%ld", v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int param_bbox_parse(const char *s, double bbox[4], char *errstr, size_t errstr_size)
{
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        if (!p || !*p || isspace((unsigned char)*p)) {
            goto bad;
        }
        bbox[i] = strtod(p, &end);
        if (end == p || errno || !isfinite(bbox[i]) || (i < 3 ? *end != ',' : *end != '\0')) {
            goto bad;
        }
        p = end + 1;
    }
    if (bbox[0] < -90 || bbox[2] > 90 || bbox[1] < -180 || bbox[3] > 180) {
        err_set(errstr, errstr_size, "latitudes lie in -90..90 and longitudes in -180..180");
        return -1;
    }
    if (bbox[0] > bbox[2] || bbox[1] > bbox[3]) {
        err_set(errstr, errstr_size, "lat_min > lat_max or lon_min > lon_max");
        return -1;
    }
    return 0;
bad:
    err_set(errstr, errstr_size, "expected lat_min,lon_min,lat_max,lon_max");
    return -1;
}

/* ---- Cursor ---- */

int param_cursor_encode(int64_t occurred_us, const char *city, const char *incident_id, char *out,
                        size_t out_size)
{
    char raw[PARAM_CITY_MAX + 256 + 32];
    int n = snprintf(raw, sizeof(raw), "%lld\n%s\n%s", (long long)occurred_us, city, incident_id);
    if (n < 0 || (size_t)n >= sizeof(raw) || strlen(city) >= PARAM_CITY_MAX ||
        strlen(incident_id) >= 256 || strchr(incident_id, '\n') || strchr(city, '\n') ||
        (size_t)n * 2 + 1 > out_size) {
        return -1;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) {
        out[2 * i] = hex[(unsigned char)raw[i] >> 4];
        out[2 * i + 1] = hex[(unsigned char)raw[i] & 15];
    }
    out[2 * n] = '\0';
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int param_cursor_parse(const char *s, struct param_cursor *c, char *errstr, size_t errstr_size)
{
    char raw[PARAM_CITY_MAX + 256 + 32];
    size_t n = s ? strlen(s) : 0;
    memset(c, 0, sizeof(*c));
    if (n == 0 || n % 2 || n / 2 >= sizeof(raw)) {
        goto bad;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            goto bad;
        }
        raw[i] = (char)(hi << 4 | lo);
    }
    raw[n / 2] = '\0';
    char *nl1 = strchr(raw, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (!nl2) {
        goto bad;
    }
    *nl1 = *nl2 = '\0';
    char *end;
    errno = 0;
    long long us = strtoll(raw, &end, 10);
    if (!*raw || *end || errno || strlen(nl2 + 1) >= sizeof(c->incident_id) ||
        param_city_parse(nl1 + 1, c->city, sizeof(c->city), NULL, 0) != 0) {
        goto bad;
    }
    c->occurred_us = us;
    snprintf(c->incident_id, sizeof(c->incident_id), "%s", nl2 + 1);
    c->set = true;
    return 0;
bad:
    memset(c, 0, sizeof(*c));
    err_set(errstr, errstr_size, "not a cursor this API returned (next_cursor)");
    return -1;
}

/* ---- Responses ---- */

size_t param_json_string(const char *s, char *out, size_t size)
{
    size_t o = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 < size) {                                                                        \
            out[o] = (ch);                                                                         \
        }                                                                                          \
        o++;                                                                                       \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            PUT('\\');
            PUT((char)*p);
        } else if (*p < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            for (const char *e = esc; *e; e++) {
                PUT(*e);
            }
        } else {
            PUT((char)*p);
        }
    }
    PUT('"');
#undef PUT
    if (size) {
        out[o < size ? o : size - 1] = '\0';
    }
    return o;
}

char *param_error_json(const char *parameter, const char *message)
{
    size_t np = param_json_string(parameter ? parameter : "", NULL, 0) + 1;
    size_t nm = param_json_string(message ? message : "", NULL, 0) + 1;
    char *jp = malloc(np), *jm = malloc(nm), *out = NULL;
    if (jp && jm) {
        param_json_string(parameter ? parameter : "", jp, np);
        param_json_string(message ? message : "", jm, nm);
        size_t n = np + nm + 32;
        out = malloc(n);
        if (out) {
            snprintf(out, n, "{\"error\":%s,\"parameter\":%s}\n", jm, jp);
        }
    }
    free(jp);
    free(jm);
    return out;
}

int param_buf_put(struct param_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int param_csv_field(struct param_buf *b, const char *s)
{
    if (!s) {
        return 0;
    }
    if (!strpbrk(s, ",\"\r\n")) {
        return param_buf_put(b, s, strlen(s));
    }
    if (param_buf_put(b, "\"", 1) != 0) {
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if ((*p == '"' && param_buf_put(b, "\"", 1) != 0) || param_buf_put(b, p, 1) != 0) {
            return -1;
        }
    }
    return param_buf_put(b, "\"", 1);
}

void param_buf_free(struct param_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
