/* Generated rows of one city, shaped like the real Socrata dataset. Pure: every row is a
 * function of (seed, city, row index, version, the row's timestamps), nothing is stored, so a
 * city can have 10^8 rows.
 *
 * Base rows 0..rows-1 have :updated_at non-decreasing in the index, in runs of 1..500 rows
 * sharing one value (keyset paging must handle ties), spread over three years before the anchor.
 * :id is "row-" + 10 zero-padded digits of the index, so string order = index order. The
 * occurred time is hours to weeks before the row's first :updated_at (its origin), written as
 * wall time in the city's zone (daylight saving included).
 *
 * The city comes from producers/city.c (the one reader of city files); the "generator" object
 * of the file holds the hints read here (struct gen_hints). */
#ifndef BLOTTER_SOCRATA_GEN_H
#define BLOTTER_SOCRATA_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "producers/city.h"
#include "tests/server/soql.h"

/* Column ids of the system fields (data fields are 0..n_cols-1). */
#define GEN_COL_ID      (-1)
#define GEN_COL_CREATED (-2)
#define GEN_COL_UPDATED (-3)

#define GEN_ID_PREFIX "row-"
#define GEN_ID_LEN    14 /* "row-" + 10 digits */

#define GEN_SPAN_MS (3LL * 365 * 86400 * 1000) /* base rows' :updated_at span */
#define GEN_MAX_RUN 500                        /* longest run of equal :updated_at */

/* The city file's "generator" hints (producers/cities/README.md). */
struct gen_hints {
    enum location_shape location_shape; /* LOC_NONE also when the city has no location field */
    json_t *values;                     /* field -> sample values (borrowed), or NULL */
    const char *redacted;               /* text standing for hidden coordinates, or NULL */
    int rows_per_report;                /* most consecutive rows sharing a report id (1..100) */
};
/* Read city->generator (absent: defaults). -1 with errstr on a wrong type or value; "id" must
 * be "serial" (the only id scheme) when present. */
int gen_hints_read(const struct city *city, struct gen_hints *h, char *errstr, size_t errstr_size);

/* The anchor the server uses: GEN_ANCHOR_MS, a fixed instant, so that the base rows do not
 * depend on the day the server starts; only a clock before it falls back to the start of the
 * current UTC day (base rows' :updated_at stay in the past either way). */
#define GEN_ANCHOR_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
int64_t gen_anchor_ms(int64_t now_ms);

struct gen_city;

/* Build the generator of a city (borrowing city, which must outlive it). anchor_ms: base rows'
 * :updated_at lie in [anchor - 3 years, anchor - 1 hour). NULL with errstr on failure (bad
 * generator hints, no fields). */
struct gen_city *gen_city_new(const struct city *city, uint64_t seed, uint64_t rows,
                              int64_t anchor_ms, char *errstr, size_t errstr_size);
void gen_city_destroy(struct gen_city *g);

const struct city *gen_city_file(const struct gen_city *g);
/* The wall time (ms, read as UTC) in the city's zone at instant utc_ms. Thread-safe (the
 * city's zone, common/tz.h). */
int64_t gen_local_ms(const struct gen_city *g, int64_t utc_ms);
uint64_t gen_rows(const struct gen_city *g);
size_t gen_n_cols(const struct gen_city *g);
const char *gen_col_name(const struct gen_city *g, int col);
/* The SODA type name of a column (X-SODA2-Types): text, number, floating_timestamp, checkbox,
 * point, location, fixed_timestamp, meta_data. */
const char *gen_col_type(const struct gen_city *g, int col);
/* Resolver for soql_query_parse (ctx: the gen_city). */
bool gen_resolve(void *ctx, const char *name, int *col, enum soql_type *type);

/* ---- Time of base rows ---- */

/* :updated_at (ms) of base row i (< rows). */
int64_t gen_base_updated_ms(const struct gen_city *g, uint64_t i);
/* First base row i with :updated_at >= ms (rows if none). Binary search. */
uint64_t gen_base_lower_bound(const struct gen_city *g, int64_t ms);
/* Last :updated_at of the base rows (0 when rows == 0). */
int64_t gen_base_last_ms(const struct gen_city *g);

/* Sequential walk over base rows: O(1) per step. */
struct gen_cursor {
    uint64_t i, run;
};
void gen_cursor_init(const struct gen_city *g, uint64_t i, struct gen_cursor *c);
void gen_cursor_next(const struct gen_city *g, struct gen_cursor *c);
int64_t gen_cursor_ms(const struct gen_city *g, const struct gen_cursor *c);

/* ---- Rows ---- */

struct gen_meta {
    uint64_t index;
    uint32_t version;   /* 0 for the base version */
    int64_t origin_ms;  /* the first :updated_at of the row: base time, or creation time */
    int64_t created_ms; /* :created_at */
    int64_t updated_ms; /* :updated_at */
};

/* The meta of base row i, version 0. */
void gen_base_meta(const struct gen_city *g, uint64_t i, struct gen_meta *m);
/* The same when its :updated_at is known (from a gen_cursor): O(1). */
void gen_base_meta_at(const struct gen_city *g, uint64_t i, int64_t updated_ms, struct gen_meta *m);

enum gen_kind { GEN_OMIT = 0, GEN_STR, GEN_RAW };

struct gen_val {
    uint32_t off, len; /* into arena; NUL-terminated there */
    uint8_t kind;
};

/* One generated row; reuse it across rows (gen_row_free at the end). */
struct gen_row {
    struct gen_val *vals;
    size_t n_vals;
    struct buf arena; /* the values, one after another */
    char id[GEN_ID_LEN + 1], created[32], updated[32];
    int malformed; /* 0, or the malformation kind 1..5 */
};
void gen_row_free(struct gen_row *r);

/* Malformed rows (malformed_k > 0: about 1 in k rows, chosen by index only, so the same rows
 * stay malformed): 1 id field missing, 2 occurred date "not a date", 3 an object where a string
 * is expected, 4 invalid UTF-8 in a text field, 5 a 100 KB string. */
enum {
    GEN_MAL_NONE = 0,
    GEN_MAL_NO_ID,
    GEN_MAL_BAD_DATE,
    GEN_MAL_WRONG_TYPE,
    GEN_MAL_BAD_UTF8,
    GEN_MAL_HUGE,
    /* Hostile rows (malformed_k with GEN_HOSTILE set: about 1 in k rows, the same way): a 3 MB
     * string, invalid UTF-8, nesting 100 deep, 2,000 fields, a 3,000-byte incident id, a lone
     * surrogate escape, an escaped NUL, and one good row whose text is every hard case valid
     * text has (GEN_EXACT_TEXT: it must reach the warehouse byte for byte). */
    GEN_HOS_HUGE,
    GEN_HOS_BAD_UTF8,
    GEN_HOS_DEEP,
    GEN_HOS_MANY_FIELDS,
    GEN_HOS_LONG_ID,
    GEN_HOS_SURROGATE,
    GEN_HOS_NUL,
    GEN_HOS_EXACT,
    GEN_HOS__END
};
#define GEN_HOSTILE 0x40000000u
/* The JSON text of the exact row's text field: control characters, backslashes, COPY's \N,
 * the string NULL, quotes, an emoji, right-to-left text, U+2028. */
#define GEN_EXACT_TEXT                                                                             \
    "\"\\u0001\\t tab\\\\N NULL \\\"q\\\" 'x' \\\\ \xf0\x9f\x98\x80 "                              \
    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d "                                                            \
    "\\u2028 \\u202e end\\r\\n\""
int gen_malformed_kind(const struct gen_city *g, uint64_t index, unsigned malformed_k);

void gen_row_make(const struct gen_city *g, const struct gen_meta *m, unsigned malformed_k,
                  struct gen_row *r);

/* Value of a column for soql_eval (ctx: struct gen_row_ctx). */
struct gen_row_ctx {
    const struct gen_city *g;
    const struct gen_row *r;
};
const char *gen_value(void *ctx, int col);

/* Append the row as a JSON object: system fields when system, then either every data field
 * (cols NULL) or the listed columns in order. Null (omitted) values are left out. */
void gen_row_json(const struct gen_city *g, const struct gen_row *r, bool system, const int *cols,
                  size_t n_cols, struct buf *out);

/* Format an :id / parse one back (false when s is not an id of this server). */
void gen_format_id(uint64_t index, char out[GEN_ID_LEN + 1]);
bool gen_parse_id(const char *s, uint64_t *index);
/* Fixed timestamp 2024-02-15T07:09:00.000Z. */
void gen_format_fixed(int64_t ms, char *out, size_t out_size);

#endif
