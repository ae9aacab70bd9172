/* Streaming CSV (RFC 4180: quoted fields, embedded commas, quotes and newlines, CRLF or LF)
 * into rows for the city mapping: each record after the header becomes the text of a flat JSON
 * object {header: value} (empty fields left out, as a null). Parsing is libcsv's (Debian's
 * libcsv-dev: a small, long-stable push parser that takes the bytes as they arrive, so a file
 * is never held whole); this file adds what a CSV of an open-data portal needs on top: a UTF-8
 * byte-order mark is dropped, header names are matched to the city file's field names without
 * regard to case (San Diego's headers changed case between years), bytes that are not UTF-8
 * become \u0000 (the mapping dead-letters such a row with its reason), and a field's size is
 * bounded. Pure: no I/O, so unit tests and fuzz harnesses can call it. */
#ifndef BLOTTER_CSV_H
#define BLOTTER_CSV_H

#include <stdbool.h>
#include <stddef.h>

/* A record larger than 1 MiB is handed on as {CSV_REFUSED: "why"} (never held whole, never
 * failing the file): the row workers make it a dead letter (producers/limits.h). */
#define CSV_REFUSED "::refused"

/* Called with each data record as a JSON object text (NUL-terminated, valid until it returns)
 * and its 1-based record number (the header is record 0). Non-zero stops the parse. */
typedef int (*csv_row_fn)(void *ctx, const char *json, size_t len, size_t record);

struct csv_rows;

/* known: the field names to match header names to (case-insensitively; a header name no
 * known name matches is kept as it is), may be NULL. extra: text appended inside every object
 * (e.g. "\"::unit\":\"2024\""), or NULL. */
struct csv_rows *csv_rows_new(char *const *known, size_t n_known, const char *extra, csv_row_fn cb,
                              void *ctx);
void csv_rows_destroy(struct csv_rows *r);

/* Feed bytes. -1 when the callback stopped, the text is not CSV or memory ran out
 * (csv_rows_error says which). */
int csv_rows_feed(struct csv_rows *r, const char *data, size_t len);
/* The end of the input: the last record (without a final newline) is handed on. -1 on an
 * unterminated quoted field or an earlier error. */
int csv_rows_finish(struct csv_rows *r);
const char *csv_rows_error(const struct csv_rows *r);

/* The header as a JSON array of the (matched) names, owned by the caller; NULL before it. */
struct json_t;
struct json_t *csv_rows_header(const struct csv_rows *r);
size_t csv_rows_records(const struct csv_rows *r);

#endif
