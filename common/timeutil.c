#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int64_t civil_to_us(const struct civil_time *ct)
{
    int64_t days = days_from_civil(ct->year, ct->month, ct->day);
    int64_t secs = days * 86400 + ct->hour * 3600 + ct->minute * 60 + ct->second;
    return secs * 1000000 + ct->micros;
}

void us_to_civil(int64_t us, struct civil_time *ct)
{
    /* Floor division without negating (us may be INT64_MIN, TS_NULL). */
    int64_t secs = us / 1000000 - (us % 1000000 < 0);
    int64_t days = secs / 86400 - (secs % 86400 < 0);
    int64_t rem = secs - days * 86400;
    civil_from_days(days, &ct->year, &ct->month, &ct->day);
    ct->hour = (int)(rem / 3600);
    ct->minute = (int)(rem % 3600 / 60);
    ct->second = (int)(rem % 60);
    ct->micros = (int)(us % 1000000 + (us % 1000000 < 0 ? 1000000 : 0));
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int iso8601_parse(const char *s, struct civil_time *ct, bool *has_zone, int *offset_s)
{
    const char *p = s;
    memset(ct, 0, sizeof(*ct));
    *has_zone = false;
    *offset_s = 0;
    if (!s || digits(&p, 4, &ct->year) || *p++ != '-' || digits(&p, 2, &ct->month) || *p++ != '-' ||
        digits(&p, 2, &ct->day)) {
        return -1;
    }
    if (*p == 'T' || *p == ' ') {
        p++;
        if (digits(&p, 2, &ct->hour) || *p++ != ':' || digits(&p, 2, &ct->minute)) {
            return -1;
        }
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &ct->second)) {
                return -1;
            }
            if (*p == '.' || *p == ',') {
                p++;
                int n = 0, frac = 0;
                while (isdigit((unsigned char)*p)) {
                    if (n < 6) {
                        frac = frac * 10 + (*p - '0');
                    }
                    n++;
                    p++;
                }
                if (n == 0) {
                    return -1;
                }
                for (; n < 6; n++) {
                    frac *= 10;
                }
                ct->micros = frac;
            }
        }
    }
    if (*p == 'Z' || *p == 'z') {
        *has_zone = true;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&p, 2, &oh)) {
            return -1;
        }
        if (*p == ':') {
            p++;
        }
        if (*p && digits(&p, 2, &om)) {
            return -1;
        }
        if (oh > 23 || om > 59) {
            return -1;
        }
        *has_zone = true;
        *offset_s = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0') {
        return -1;
    }
    if (ct->month < 1 || ct->month > 12 || ct->day < 1 ||
        ct->day > days_in_month(ct->year, ct->month) || ct->hour > 23 || ct->minute > 59 ||
        ct->second > 60) {
        return -1;
    }
    if (ct->second == 60) {
        ct->second = 59; /* a leap second is the last second of its minute */
    }
    return 0;
}

int64_t iso8601_to_us(const char *s)
{
    struct civil_time ct;
    bool has_zone;
    int off;
    if (iso8601_parse(s, &ct, &has_zone, &off) != 0) {
        return TS_NULL;
    }
    /* An offset may carry a year-0000 or year-9999 time out of four-digit years: refused, so
     * that every instant parsed here formats and parses back. */
    int64_t us = civil_to_us(&ct) - (int64_t)off * 1000000;
    static const struct civil_time first = {.year = 0, .month = 1, .day = 1};
    static const struct civil_time end = {.year = 10000, .month = 1, .day = 1};
    return us < civil_to_us(&first) || us >= civil_to_us(&end) ? TS_NULL : us;
}

void us_format(int64_t us, bool micro, char *buf, size_t n)
{
    struct civil_time ct;
    us_to_civil(us, &ct);
    if (micro) {
        snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", ct.year, ct.month, ct.day, ct.hour,
                 ct.minute, ct.second, ct.micros);
    } else {
        snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", ct.year, ct.month, ct.day, ct.hour,
                 ct.minute, ct.second, ct.micros / 1000);
    }
}

int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec timespec_after_ms(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
