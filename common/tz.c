/* TZif files (RFC 8536) and their POSIX TZ footer. See tz.h. */
#define _GNU_SOURCE
#include "common/tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The footer's rule: std offset [dst [offset] [,start[/time],end[/time]]] ---- */

enum rule_kind {
    RULE_JULIAN1 = 0 /* Jn: 1..365, no Feb 29 */,
    RULE_DAY0 /* n: 0..365 */,
    RULE_MONTH /* Mm.w.d */
};

struct rule_date {
    enum rule_kind kind;
    int n, month, week, wday;
    int time_s; /* local time of day of the change; may be negative or past 24 h */
};

struct posix_tz {
    bool valid;
    int std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    struct rule_date start, end;
};

struct tz {
    char *name;
    int64_t *at;   /* transition instants (UTC seconds), ascending */
    uint8_t *type; /* type index in force from at[i] */
    size_t n_at;
    int32_t *offsets; /* per type: seconds east of UTC */
    size_t n_types;
    struct posix_tz rule; /* after the last transition (or always, without transitions) */
};

static const char *skip_name(const char *p)
{
    if (*p == '<') {
        const char *e = strchr(p, '>');
        return e ? e + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
        p++;
    }
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into *s (as written: POSIX offsets count west). */
static const char *parse_hms(const char *p, int *s)
{
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
    }
    if (*p < '0' || *p > '9') {
        return NULL;
    }
    while (*p >= '0' && *p <= '9') {
        h = h * 10 + (*p++ - '0');
    }
    if (*p == ':') {
        m = (int)strtol(p + 1, (char **)&p, 10);
        if (*p == ':') {
            sec = (int)strtol(p + 1, (char **)&p, 10);
        }
    }
    *s = sign * (h * 3600 + m * 60 + sec);
    return p;
}

static const char *parse_date(const char *p, struct rule_date *d)
{
    char *end;
    memset(d, 0, sizeof(*d));
    if (*p == 'M') {
        d->kind = RULE_MONTH;
        d->month = (int)strtol(p + 1, &end, 10);
        if (*end != '.') {
            return NULL;
        }
        d->week = (int)strtol(end + 1, &end, 10);
        if (*end != '.') {
            return NULL;
        }
        d->wday = (int)strtol(end + 1, &end, 10);
        if (d->month < 1 || d->month > 12 || d->week < 1 || d->week > 5 || d->wday < 0 ||
            d->wday > 6) {
            return NULL;
        }
    } else {
        d->kind = *p == 'J' ? RULE_JULIAN1 : RULE_DAY0;
        d->n = (int)strtol(p + (*p == 'J'), &end, 10);
        if (end == p + (*p == 'J')) {
            return NULL;
        }
    }
    p = end;
    d->time_s = 2 * 3600;
    if (*p == '/') {
        p = parse_hms(p + 1, &d->time_s);
    }
    return p;
}

static bool parse_posix(const char *s, struct posix_tz *r)
{
    const char *p = skip_name(s);
    int off;
    memset(r, 0, sizeof(*r));
    if (!p || !(p = parse_hms(p, &off))) {
        return false;
    }
    r->std_off = -off;
    if (*p == '\0') {
        return r->valid = true;
    }
    if (!(p = skip_name(p))) {
        return false;
    }
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &off))) {
            return false;
        }
        r->dst_off = -off;
    }
    if (*p == '\0') { /* no rule given: the United States' since 2007 */
        p = ",M3.2.0,M11.1.0";
    }
    if (*p != ',' || !(p = parse_date(p + 1, &r->start)) || *p != ',' ||
        !(p = parse_date(p + 1, &r->end)) || *p) {
        return false;
    }
    return r->valid = true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* UTC seconds of 00:00 on a day of year y, read as UTC. */
static int64_t day_s(int y, int month, int day)
{
    return civil_to_us(&(struct civil_time){y, month, day, 0, 0, 0, 0}) / 1000000;
}

/* The local instant (seconds, read as UTC) at which rule date d falls in year y. */
static int64_t rule_local_s(const struct rule_date *d, int y)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t jan1 = day_s(y, 1, 1), at;
    if (d->kind == RULE_JULIAN1) {
        at = jan1 + (int64_t)(d->n - 1 + (leap(y) && d->n >= 60)) * 86400;
    } else if (d->kind == RULE_DAY0) {
        at = jan1 + (int64_t)d->n * 86400;
    } else {
        int64_t first = day_s(y, d->month, 1);
        int wday_first = (int)(((first / 86400) % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
        int day = 1 + (d->wday - wday_first + 7) % 7 + (d->week - 1) * 7;
        int len = mdays[d->month - 1] + (d->month == 2 && leap(y));
        while (day > len) {
            day -= 7;
        }
        at = first + (int64_t)(day - 1) * 86400;
    }
    return at + d->time_s;
}

static int posix_offset(const struct posix_tz *r, int64_t t)
{
    if (!r->has_dst) {
        return r->std_off;
    }
    struct civil_time ct;
    us_to_civil((t + r->std_off) * 1000000, &ct);
    int64_t start = rule_local_s(&r->start, ct.year) - r->std_off; /* begins in standard time */
    int64_t end = rule_local_s(&r->end, ct.year) - r->dst_off;     /* ends in daylight time */
    bool dst = start < end ? t >= start && t < end : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static bool read_header(const unsigned char *p, size_t len, struct tzif_header *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        return false;
    }
    uint32_t *v[] = {&h->isutcnt, &h->isstdcnt, &h->leapcnt, &h->timecnt, &h->typecnt, &h->charcnt};
    for (int i = 0; i < 6; i++) {
        *v[i] = be32(p + 20 + 4 * i);
    }
    return h->typecnt > 0 && h->typecnt <= 256 && h->timecnt < (1u << 24) &&
           h->charcnt < (1u << 16) && h->leapcnt < (1u << 16);
}

static size_t block_size(const struct tzif_header *h, size_t time_size)
{
    return (size_t)h->timecnt * time_size + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

/* Fill tz from the data block at p (64-bit times when wide). */
static bool read_block(struct tz *tz, const struct tzif_header *h, const unsigned char *p,
                       bool wide)
{
    size_t ts = wide ? 8 : 4;
    tz->n_at = h->timecnt;
    tz->n_types = h->typecnt;
    tz->at = calloc(h->timecnt + 1, sizeof(*tz->at));
    tz->type = calloc(h->timecnt + 1, 1);
    tz->offsets = calloc(h->typecnt, sizeof(*tz->offsets));
    if (!tz->at || !tz->type || !tz->offsets) {
        return false;
    }
    for (size_t i = 0; i < h->timecnt; i++) {
        tz->at[i] = wide ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
    }
    p += h->timecnt * ts;
    for (size_t i = 0; i < h->timecnt; i++) {
        tz->type[i] = p[i];
        if (p[i] >= h->typecnt) {
            return false;
        }
    }
    p += h->timecnt;
    for (size_t i = 0; i < h->typecnt; i++) {
        tz->offsets[i] = (int32_t)be32(p + i * 6);
    }
    return true;
}

struct tz *tz_parse(const char *name, const unsigned char *data, size_t len)
{
    struct tzif_header h;
    struct tz *tz = calloc(1, sizeof(*tz));
    if (!tz || !(tz->name = strdup(name)) || !read_header(data, len, &h)) {
        goto fail;
    }
    const unsigned char *p = data + 44;
    size_t v1 = block_size(&h, 4);
    if (len < 44 + v1) {
        goto fail;
    }
    if (data[4] < '2') { /* version 1: 32-bit times, no footer */
        if (!read_block(tz, &h, p, false)) {
            goto fail;
        }
        return tz;
    }
    p += v1;
    size_t left = len - 44 - v1;
    if (!read_header(p, left, &h) || left < 44 + block_size(&h, 8) ||
        !read_block(tz, &h, p + 44, true)) {
        goto fail;
    }
    const unsigned char *foot = p + 44 + block_size(&h, 8), *end = data + len;
    if (foot < end && *foot == '\n') {
        const unsigned char *nl = memchr(foot + 1, '\n', (size_t)(end - foot - 1));
        if (nl && nl > foot + 1) {
            char rule[128];
            snprintf(rule, sizeof(rule), "%.*s", (int)(nl - foot - 1), (const char *)foot + 1);
            parse_posix(rule, &tz->rule); /* an unreadable rule: the last transition holds */
        }
    }
    return tz;
fail:
    tz_free(tz);
    return NULL;
}

void tz_free(struct tz *tz)
{
    if (tz) {
        free(tz->name);
        free(tz->at);
        free(tz->type);
        free(tz->offsets);
        free(tz);
    }
}

const char *tz_name(const struct tz *tz)
{
    return tz->name;
}

int tz_offset_at(const struct tz *tz, int64_t utc_s)
{
    if (tz->n_at == 0 || utc_s >= tz->at[tz->n_at - 1]) {
        if (tz->rule.valid) {
            return posix_offset(&tz->rule, utc_s);
        }
        return tz->offsets[tz->n_at ? tz->type[tz->n_at - 1] : 0];
    }
    if (utc_s < tz->at[0]) {
        return tz->offsets[0]; /* before the first transition: time type 0 (RFC 8536) */
    }
    size_t lo = 0, hi = tz->n_at - 1; /* at[lo] <= utc_s < at[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= utc_s) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return tz->offsets[tz->type[lo]];
}

int64_t tz_to_utc_us(const struct tz *tz, const struct civil_time *ct)
{
    struct civil_time whole = *ct;
    whole.micros = 0;
    int64_t wall_s = civil_to_us(&whole) / 1000000;
    /* Candidates: the wall time read with each offset in force a day around it. */
    int offs[2] = {tz_offset_at(tz, wall_s - 86400), tz_offset_at(tz, wall_s + 86400)};
    int64_t best = 0;
    bool found = false;
    for (int i = 0; i < 2; i++) {
        int64_t t = wall_s - offs[i];
        if (tz_offset_at(tz, t) == offs[i] && (!found || t < best)) {
            best = t;
            found = true;
        }
    }
    if (!found) {
        best = wall_s - offs[0]; /* the spring gap: the offset before the transition */
    }
    return best * 1000000 + ct->micros;
}

/* ---- The cache ---- */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz **cache;
static size_t n_cache;

static struct tz *load(const char *zone)
{
    char path[512];
    const char *dir = getenv("TZDIR");
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (strcmp(zone, "UTC") == 0) { /* without tzdata: UTC is still UTC */
            struct tz *utc = calloc(1, sizeof(*utc));
            if (utc && (utc->name = strdup(zone)) && (utc->offsets = calloc(1, sizeof(int32_t)))) {
                utc->n_types = 1;
                return utc;
            }
            tz_free(utc);
        }
        return NULL;
    }
    unsigned char *data = malloc(1 << 20);
    size_t len = data ? fread(data, 1, 1 << 20, f) : 0;
    fclose(f);
    struct tz *tz = data ? tz_parse(zone, data, len) : NULL;
    free(data);
    return tz;
}

const struct tz *tz_get(const char *zone)
{
    if (!zone || !*zone || zone[0] == '/' || strstr(zone, "..") || strlen(zone) > 200) {
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    struct tz *found = NULL;
    for (size_t i = 0; i < n_cache && !found; i++) {
        if (strcmp(cache[i]->name, zone) == 0) {
            found = cache[i];
        }
    }
    if (!found && (found = load(zone)) != NULL) {
        struct tz **grown = realloc(cache, (n_cache + 1) * sizeof(*cache));
        if (grown) {
            cache = grown;
            cache[n_cache++] = found;
        } else {
            tz_free(found);
            found = NULL;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

int tz_local_to_utc_us(const char *zone, const struct civil_time *ct, int64_t *out_us)
{
    const struct tz *tz = tz_get(zone);
    if (!tz) {
        return -1;
    }
    *out_us = tz_to_utc_us(tz, ct);
    return 0;
}

int tz_utc_offset_s(const char *zone, int64_t utc_s, int *offset_s)
{
    const struct tz *tz = tz_get(zone);
    if (!tz) {
        return -1;
    }
    *offset_s = tz_offset_at(tz, utc_s);
    return 0;
}

bool tz_valid(const char *zone)
{
    return tz_get(zone) != NULL;
}
