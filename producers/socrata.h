/* Fetch one Socrata page with libcurl, streaming: each row of the JSON array is handed to a
 * callback as soon as it has arrived, so memory stays flat whatever the page size. */
#ifndef BLOTTER_SOCRATA_H
#define BLOTTER_SOCRATA_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* ---- Splitting a JSON array into its elements (pure) ---- */

/* Called with each complete element of the top-level array: the parsed value (NULL when the
 * element is not valid JSON) and its raw text. Return non-zero to stop. Text that is not valid
 * UTF-8 has each bad byte replaced by the escape \u0000 before parsing, so the row can still be
 * inspected (and rejected with a reason) instead of failing the whole page. */
typedef int (*rowsplit_cb)(void *ctx, json_t *row, const char *raw, size_t raw_len);

struct rowsplit;
/* parse = false: cb gets row NULL and the raw text only (for parsing elsewhere, row_parse). */
struct rowsplit *rowsplit_new(rowsplit_cb cb, void *ctx, bool parse);
void rowsplit_destroy(struct rowsplit *rs);
/* Feed bytes. -1 on a syntax error outside elements (not an array) or when cb asked to stop. */
int rowsplit_feed(struct rowsplit *rs, const char *data, size_t len);
/* Parse one row's raw text; text that is not valid UTF-8 is retried with each bad byte replaced
 * by \u0000 (then *scrubbed holds that text, malloc'ed, for the caller to free). NULL when the
 * text is not JSON. */
json_t *row_parse(const char *raw, size_t len, char **scrubbed, size_t *scrubbed_len);
/* Whether the closing ] has been seen (the page is complete). */
bool rowsplit_done(const struct rowsplit *rs);
size_t rowsplit_rows(const struct rowsplit *rs);

/* ---- Fetching ---- */

struct socrata_page {
    long status;          /* HTTP status, 0 when no response */
    bool out_of_date;     /* X-SODA2-Data-Out-Of-Date: true */
    bool timed_out;       /* the request hit its timeout or stalled */
    long retry_after_s;   /* Retry-After, -1 when absent */
    json_t *fields;       /* X-SODA2-Fields as a JSON array, or NULL */
    size_t rows;          /* elements delivered to the callback */
    double seconds;       /* request duration */
    char error_body[512]; /* start of a non-200 body */
};

struct socrata;
/* app_token may be NULL. timeout_s bounds one request; stop (may be NULL) aborts transfers when
 * it becomes true. */
struct socrata *socrata_new(const char *app_token, long timeout_s,
                            const volatile sig_atomic_t *stop);
void socrata_destroy(struct socrata *s);

/* GET url; rows of a 200 response go to cb as they arrive. ERR_OK when the whole array arrived;
 * ERR_TRANSIENT for 202, 429, 5xx, timeouts, connection errors and truncated or malformed bodies
 * (retry the same page); ERR_FATAL for other statuses (400: the query or the dataset is wrong).
 * page->fields is owned by the caller (json_decref). */
enum err_class socrata_get(struct socrata *s, const char *url, rowsplit_cb cb, void *ctx,
                           bool parse, struct socrata_page *page, char *errstr, size_t errstr_size);

#endif
