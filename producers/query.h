/* SoQL for incremental keyset paging on (:updated_at, :id) (the Socrata kind's questions). Pure. */
#ifndef BLOTTER_QUERY_H
#define BLOTTER_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producers/checkpoint.h"
#include "producers/city.h"

/* The occurred-time filter of a backfill: [since, until) as the city's floating wall time
 * (since_us/until_us are read as wall time, INT64_MIN = open). Empty when both are open. */
void query_range_where(const struct city *city, int64_t since_us, int64_t until_us, char *buf,
                       size_t n);

/* URL of the next page: base (https://<domain> or the configured base URL) /resource/<dataset>.json
 * with $select=:*,*, $where = range AND after ks, $order=:updated_at,:id, $limit. -1 if it does
 * not fit. */
int query_page_url(char *buf, size_t n, const char *base, const struct city *city,
                   const struct keyset *after, const char *range_where, int limit);

/* URL counting the rows of range_where (for backfill progress): $select=count(*). */
int query_count_url(char *buf, size_t n, const char *base, const struct city *city,
                    const char *range_where);

/* Percent-encode s into buf for a query string. -1 if it does not fit. */
int query_escape(char *buf, size_t n, const char *s);

#endif
