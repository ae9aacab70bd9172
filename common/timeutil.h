/* Time parsing, formatting and the clocks. Pure functions but now_us and mono_ms; time zones
 * are in common/tz.h. */
#ifndef BLOTTER_TIMEUTIL_H
#define BLOTTER_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TS_NULL INT64_MIN

struct civil_time {
    int year, month, day, hour, minute, second, micros;
};

/* Parse ISO 8601: YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|+HH:MM|-HH:MM].
 * has_zone tells whether an offset or Z was given; offset_s is then its value.
 * Returns 0, or -1 when s is not such a timestamp (or names an impossible date). */
int iso8601_parse(const char *s, struct civil_time *ct, bool *has_zone, int *offset_s);

/* Civil time read as UTC, to microseconds since the epoch. */
int64_t civil_to_us(const struct civil_time *ct);
void us_to_civil(int64_t us, struct civil_time *ct);

/* Parse an ISO 8601 string; a time without a zone is taken as UTC. TS_NULL on error. */
int64_t iso8601_to_us(const char *s);

/* Format as 2024-02-15T07:09:00.000Z (millisecond precision, what Socrata's fixed timestamps
 * use) or with 6 digits when micro is true. */
void us_format(int64_t us, bool micro, char *buf, size_t n);

int64_t now_us(void);
int64_t mono_ms(void);
/* The time ms milliseconds from now on clock (CLOCK_MONOTONIC, CLOCK_REALTIME): a deadline for
 * pthread_cond_timedwait. */
struct timespec timespec_after_ms(clockid_t clock, int64_t ms);

#endif
