/* Time parsing and conversion. Pure functions except tz_local_to_utc_us, which consults the
 * system's IANA zone database (tzdata) through the C library. Not thread-safe across zones. */
#ifndef BLOTTER_TIMEUTIL_H
#define BLOTTER_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Local wall time in IANA zone (e.g. America/Chicago) to UTC microseconds.
 * Daylight-saving rules: a wall time that occurs twice (the autumn overlap) is the first of the
 * two (the earlier instant, still daylight time); a wall time that never occurs (the spring gap)
 * is read with the offset in force before the gap. Returns -1 for an unknown zone. */
int tz_local_to_utc_us(const char *zone, const struct civil_time *ct, int64_t *out_us);

/* The inverse direction: the offset from UTC (local - UTC, seconds) in force in zone at the UTC
 * instant utc_s, daylight saving included. Returns -1 for an unknown zone. */
int tz_utc_offset_s(const char *zone, int64_t utc_s, int *offset_s);

/* Whether the zone exists in the system's zone database. */
bool tz_valid(const char *zone);

/* Format as 2024-02-15T07:09:00.000Z (millisecond precision, what Socrata's fixed timestamps
 * use) or with 6 digits when micro is true. */
void us_format(int64_t us, bool micro, char *buf, size_t n);

int64_t now_us(void);
int64_t mono_ms(void);

#endif
