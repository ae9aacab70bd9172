/* IANA time zones, read from the system's zone database (TZif files, RFC 8536, under $TZDIR or
 * /usr/share/zoneinfo) once per zone and kept for the life of the process. A loaded zone is
 * immutable, so any number of threads may convert with it at once; nothing here touches the
 * TZ environment variable or the C library's notion of local time.
 *
 * Parsing TZif here, rather than linking a library for it, keeps the image's runtime packages
 * as they are (k8s/Dockerfile installs tzdata and nothing that reads it). */
#ifndef BLOTTER_TZ_H
#define BLOTTER_TZ_H

#include <stdbool.h>
#include <stdint.h>

#include "common/timeutil.h"

struct tz;

/* The zone named zone (e.g. America/Chicago; "UTC" works without a file), loaded on first use.
 * NULL for an unknown name, a name that leaves the zone folder, or a file that is not TZif. */
const struct tz *tz_get(const char *zone);
const char *tz_name(const struct tz *tz);

/* The offset from UTC (local - UTC, seconds) in force at the UTC instant utc_s, daylight
 * saving included. */
int tz_offset_at(const struct tz *tz, int64_t utc_s);

/* Local wall time to UTC microseconds. A wall time that occurs twice (the autumn overlap) is
 * the first of the two (the earlier instant, still daylight time); a wall time that never
 * occurs (the spring gap) is read with the offset in force before the gap. */
int64_t tz_to_utc_us(const struct tz *tz, const struct civil_time *ct);

/* ---- By name (each looks the zone up in the cache; -1 for an unknown zone) ---- */

int tz_local_to_utc_us(const char *zone, const struct civil_time *ct, int64_t *out_us);
int tz_utc_offset_s(const char *zone, int64_t utc_s, int *offset_s);
bool tz_valid(const char *zone);

/* ---- Pure parts, for tests ---- */

/* Parse a TZif file's bytes. NULL when they are not a TZif file. Free with tz_free. */
struct tz *tz_parse(const char *name, const unsigned char *data, size_t len);
void tz_free(struct tz *tz);

#endif
