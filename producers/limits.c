/* What one row may hold. See limits.h. */
#include "producers/limits.h"

#include <stdbool.h>

#include "common/err.h"

static const struct source_limits default_limits = SOURCE_LIMITS_DEFAULT;

const struct source_limits *limits_or_default(const struct source_limits *lim)
{
    return lim ? lim : &default_limits;
}

/* Whether JSON text nests arrays and objects deeper than max (strings skipped). */
static bool nests_deeper(const char *raw, size_t len, int max)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = raw[i];
        if (in_string) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max) {
                return true;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return false;
}

/* Why the row's text is past the limits before it is parsed, or NULL. */
const char *limits_check_raw(const struct source_limits *lim, const char *raw, size_t len,
                             char *why, size_t n)
{
    if (len > lim->max_row_bytes) {
        err_set(why, n, "row is longer than max_row_bytes (%zu)", lim->max_row_bytes);
        return why;
    }
    if (nests_deeper(raw, len, lim->max_json_depth)) {
        err_set(why, n, "row nests deeper than max_json_depth (%d)", lim->max_json_depth);
        return why;
    }
    return NULL;
}

/* Why the parsed row is past the limits, or NULL. */
const char *limits_check_row(const struct source_limits *lim, const json_t *row, char *why,
                             size_t n)
{
    if (json_is_object(row) && json_object_size(row) > lim->max_fields) {
        err_set(why, n, "row has %zu fields (max_fields %zu)", json_object_size(row),
                lim->max_fields);
        return why;
    }
    const char *refused = json_string_value(json_object_get(row, "::refused"));
    if (refused) { /* the kind's own verdict (csv.h: a record too large to hold) */
        err_set(why, n, "%s", refused);
        return why;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)row, key, v)
    {
        if (json_is_string(v) && json_string_length(v) > lim->max_field_bytes) {
            err_set(why, n, "field %.100s: %zu bytes (limit %zu, max_field_bytes)", key,
                    json_string_length(v), lim->max_field_bytes);
            return why;
        }
    }
    return NULL;
}
