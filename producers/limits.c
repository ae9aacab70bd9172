/* What one row may hold. See limits.h. */
#include "producers/limits.h"

#include <stdbool.h>
#include <string.h>

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

/* ---- A row read already ---- */

enum past { PAST_NONE, PAST_BYTES, PAST_DEPTH };

/* The length of a string as compact JSON text: quotes, and escapes as jansson writes them. */
static size_t string_text_len(const char *s, size_t len)
{
    size_t n = 2 + len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
            c == '\t') {
            n += 1;
        } else if (c < 0x20) {
            n += 5; /* \u00XX */
        }
    }
    return n;
}

static size_t integer_text_len(json_int_t v)
{
    size_t n = v < 0 ? 2 : 1;
    for (; v <= -10 || v >= 10; v /= 10) {
        n++;
    }
    return n;
}

/* Add v's text length to *size, stopping once past max_row_bytes or max_json_depth (depth: of
 * the arrays and objects around v). */
static enum past walk(const struct source_limits *lim, const json_t *v, int depth, size_t *size)
{
    const char *key;
    const json_t *m;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (depth + 1 > lim->max_json_depth) {
            return PAST_DEPTH;
        }
        *size += 2;
        if (json_is_object(v)) {
            *size += json_object_size(v) ? json_object_size(v) - 1 : 0; /* commas */
            json_object_foreach((json_t *)v, key, m)
            {
                *size += string_text_len(key, strlen(key)) + 1;
                enum past p = walk(lim, m, depth + 1, size);
                if (p != PAST_NONE) {
                    return p;
                }
            }
        } else {
            *size += json_array_size(v) ? json_array_size(v) - 1 : 0;
            json_array_foreach(v, i, m)
            {
                enum past p = walk(lim, m, depth + 1, size);
                if (p != PAST_NONE) {
                    return p;
                }
            }
        }
        break;
    case JSON_STRING:
        *size += string_text_len(json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        *size += integer_text_len(json_integer_value(v));
        break;
    case JSON_REAL:
        *size += 24; /* %.17g at its longest: -1.2345678901234567e-308 */
        break;
    case JSON_TRUE:
    case JSON_NULL:
        *size += 4;
        break;
    case JSON_FALSE:
        *size += 5;
        break;
    }
    return *size > lim->max_row_bytes ? PAST_BYTES : PAST_NONE;
}

const char *limits_check_tree(const struct source_limits *lim, const json_t *row, char *why,
                              size_t n)
{
    size_t size = 0;
    switch (walk(lim, row, 0, &size)) {
    case PAST_BYTES:
        err_set(why, n, "row is longer than max_row_bytes (%zu)", lim->max_row_bytes);
        return why;
    case PAST_DEPTH:
        err_set(why, n, "row nests deeper than max_json_depth (%d)", lim->max_json_depth);
        return why;
    case PAST_NONE:
        break;
    }
    return NULL;
}

/* ---- Either ---- */

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
