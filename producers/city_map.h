/* Mapping one source row of a city to the incident record (producers/cities/README.md says
 * what a city file can map), and the schema drift of a source's fields. Pure: no I/O. */
#ifndef BLOTTER_CITY_MAP_H
#define BLOTTER_CITY_MAP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/incident.h"
#include "producers/city.h"

struct map_stats {
    uint64_t unmapped_offense; /* rows whose offense fell back to "other" */
};

/* Map one Socrata row (a JSON object as the API returns it, with :id, :created_at, :updated_at)
 * to inc (which the caller has initialised; it is cleared first). ingested_at is set to
 * ingested_at_us. ERR_PERMANENT with a reason in errstr when the row cannot be mapped (missing
 * id or occurred time, unparsable dates, wrong types, invalid UTF-8, oversized values); the
 * caller dead-letters it. */
enum err_class city_map_row(const struct city *city, const json_t *row, int64_t ingested_at_us,
                            struct incident *inc, struct map_stats *stats, char *errstr,
                            size_t errstr_size);

/* Schema drift of one row: fields in city->fields missing from the row's fields header, and
 * fields present that the file does not list. `present` is the X-SODA2-Fields list (or the keys
 * of rows seen). Fills missing/unknown (NULL-terminated arrays of borrowed names; caller frees
 * the arrays with free()). Returns the total count. */
size_t city_drift(const struct city *city, const json_t *present, const char ***missing,
                  const char ***unknown);

#endif
