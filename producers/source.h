/* A source kind: what the producer needs to know about one kind of open-data API, and no more.
 * A kind knows how to ask for the rows after a position and how to read what comes back; the
 * pass loop, the checkpoint and its ledger, the row workers, dead letters, metrics and backfill
 * are shared by every kind (producers/pass.c, ledger.c, workers.c, publish.c).
 *
 * Adding a kind: implement struct source_kind in producers/<kind>.c over producers/http.c
 * (producers/socrata.c is the one there is), list it in producers/source.c, and, when the
 * kind's position is not a keyset (an offset, per-file validators), add it to struct
 * checkpoint_value (producers/checkpoint.h). A kind hands the city mapping a flat JSON object
 * per row; the city file keeps the data: field mapping, zone, ids, taxonomy. */
#ifndef BLOTTER_SOURCE_H
#define BLOTTER_SOURCE_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "producers/checkpoint.h"
#include "producers/city.h"

struct source; /* one kind's state for one city */

struct source_options {
    const char *base_url;       /* replaces the scheme and host of the city's URLs; NULL or "" */
    const char *app_token;      /* sent as the kind's token header; NULL or "" */
    long timeout_s;             /* one request */
    int64_t since_us, until_us; /* backfill range as the city's wall time; TS_NULL open */
    const volatile sig_atomic_t *stop; /* aborts a transfer when set */
};

/* What one request for a page brought. */
struct source_page {
    long status;        /* HTTP status, 0 when no response */
    bool timed_out;     /* the request timed out or stalled */
    long retry_after_s; /* the server's Retry-After, -1 when absent */
    const char *hold;   /* non-NULL: the source said "do not advance" (why), retry the page */
    bool last;          /* no rows follow this page: the pass is complete */
    size_t rows;        /* rows handed on */
    double seconds;     /* the request's duration */
    json_t *fields;     /* the field list the source announced (schema drift), or NULL;
                           owned by the caller (json_decref) */
};

/* Called with each row's raw text as soon as it has arrived (the page may still be
 * streaming). Non-zero stops the page. */
typedef int (*source_row_fn)(void *ctx, const char *raw, size_t len);

struct source_kind {
    const char *name; /* as a city file would name it */

    struct source *(*open)(const struct city *city, const struct source_options *opt, char *errstr,
                           size_t errstr_size);
    void (*close)(struct source *src);

    /* Ask for the page of at most limit rows after position `after`, handing each row to
     * on_row. ERR_OK when the page arrived whole (then page->last or not); ERR_TRANSIENT: retry
     * the same page (page->status/timed_out say why); ERR_FATAL: the query is wrong. */
    enum err_class (*fetch)(struct source *src, const struct keyset *after, int limit,
                            source_row_fn on_row, void *ctx, struct source_page *page, char *errstr,
                            size_t errstr_size);

    /* Read one row: the JSON object the city's mapping reads (NULL when the text is not a row;
     * *clean may then hold a corrected copy of the text to dead-letter instead of the raw one,
     * malloc'ed), and move *pos to the row's position (rows of a page arrive in order; a
     * position never moves back). Pure; called from the row workers. */
    json_t *(*read_row)(const char *raw, size_t len, char **clean, size_t *clean_len);
    void (*advance)(struct keyset *pos, const json_t *row);

    /* Rows in the backfill range, for progress (-1 when unknown); may be NULL. */
    int64_t (*count)(struct source *src);
};

/* The kind of a city. City files name no kind yet, so every city is Socrata. */
const struct source_kind *source_kind_of(const struct city *city);

/* A kind by name, NULL when there is none. */
const struct source_kind *source_kind_find(const char *name);

#endif
