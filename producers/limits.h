/* The checks of one row against the source limits (struct source_limits, producers/source.h):
 * before it is parsed (its size, its nesting: a row past them is never parsed) and after (its
 * fields, each field's size). Pure: the row workers call them, unit tests and fuzzers too. */
#ifndef BLOTTER_LIMITS_H
#define BLOTTER_LIMITS_H

#include <jansson.h>
#include <stddef.h>

#include "producers/source.h"

/* lim, or the defaults (SOURCE_LIMITS_DEFAULT) when NULL. */
const struct source_limits *limits_or_default(const struct source_limits *lim);

/* Why the row's JSON text is past lim (max_row_bytes, max_json_depth), into why; or NULL. */
const char *limits_check_raw(const struct source_limits *lim, const char *raw, size_t len,
                             char *why, size_t why_size);
/* The same for a row read already (a kind that parses whole pages): its compact JSON text's
 * length as jansson would write it (a real counted at its longest, 24 bytes) against
 * max_row_bytes, its nesting against max_json_depth; or NULL. Stops walking once past. */
const char *limits_check_tree(const struct source_limits *lim, const json_t *row, char *why,
                              size_t why_size);
/* Why the parsed row is past lim (max_fields, max_field_bytes) or refused by its kind (a
 * "::refused" field holding the reason), into why; or NULL. */
const char *limits_check_row(const struct source_limits *lim, const json_t *row, char *why,
                             size_t why_size);

#endif
