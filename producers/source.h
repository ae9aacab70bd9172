/* A source kind: what the producer needs to know about one kind of open-data API, and no more.
 * A kind knows how to ask for the rows after a position and how to read what comes back; the
 * pass loop, the checkpoint and its ledger, the row workers, dead letters, metrics and backfill
 * are shared by every kind (producers/pass.c, ledger.c, workers.c, publish.c).
 *
 * Adding a kind: implement struct source_kind over producers/http.c (producers/socrata.c,
 * arcgis_source.c, csv_source.c are the ones there are), list it in producers/source.c; a
 * position that is not a keyset (an offset, per-file validators) goes into the keyset's state
 * text (producers/checkpoint.h), which the kind returns with each complete page. A kind hands
 * the city mapping a flat JSON object per row; the city file keeps the data: field mapping,
 * zone, ids, taxonomy.
 *
 * A snapshot kind (ArcGIS layers, yearly CSV files: the publisher rewrites a whole unit) adds
 * to each row "::unit" (the file or layer) and "::stamp" (the walk: an ISO 8601 UTC time that
 * grows with every walk of the unit); the workers then publish only rows whose content changed
 * since the snapshot (producers/snapshot.h), and a complete walk counts the rows that
 * vanished from its unit. */
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

/* What one response and one row may hold (settings max_response_mb, stall_s, max_row_bytes,
 * max_field_bytes, max_json_depth, max_fields). A response past them fails its page (retried); a
 * row past them is a dead letter with its reason, and no more of it than max_row_bytes is ever
 * held. */
struct source_limits {
    long max_response_bytes; /* one body after decompression */
    long stall_s;            /* below a byte a second this long: the request fails */
    size_t max_row_bytes, max_field_bytes, max_fields;
    int max_json_depth;
};

/* Defaults of the settings (tests and tools that have no settings). */
#define SOURCE_LIMITS_DEFAULT                                                                      \
    {                                                                                              \
        1024L << 20, 30, 1 << 20, 65536, 1000, 32                                                  \
    }

struct source_options {
    const char *base_url;       /* replaces the scheme and host of the city's URLs; NULL or "" */
    const char *app_token;      /* sent as the kind's token header; NULL or "" */
    long timeout_s;             /* one request */
    int64_t since_us, until_us; /* backfill range as the city's wall time; TS_NULL open */
    const volatile sig_atomic_t *stop;  /* aborts a transfer when set */
    const struct source_limits *limits; /* NULL: SOURCE_LIMITS_DEFAULT */
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
    /* A kind whose position is its state: the state once this page is complete (owned by the
     * source, valid until the next fetch), or NULL to leave it as the rows moved it. */
    const char *state;
    /* A snapshot kind: the unit and walk of the page's rows, whether the page begins the
     * walk at the unit's first row, and whether it ends it (every row of the unit taken). */
    const char *unit, *stamp;
    bool walk_begin, walk_end;
};

/* Called with each row as soon as it has arrived (the page may still be streaming): its raw
 * text (row NULL), or, from a kind that reads whole pages, the row already read (raw NULL; the
 * callee takes a reference of its own, and the kind no longer changes the row: the workers
 * read it from their threads). Non-zero stops the page. */
typedef int (*source_row_fn)(void *ctx, const char *raw, size_t len, json_t *row);

struct source_kind {
    const char *name;    /* as a city file would name it */
    bool snapshot;       /* rows carry ::unit and ::stamp: publish only what changed */
    bool range_in_query; /* the kind asks the source for the backfill range (else the workers
                            drop rows outside it) */

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

/* The limits opt gives, or the defaults. */
const struct source_limits *source_limits_of(const struct source_options *opt);
/* http_new with opt's stop and limits (every kind's transport). */
struct http;
struct http *source_http_new(const char *const *headers, long timeout_s,
                             const struct source_options *opt);

/* The kind of a city (its file's source.kind; city_load accepts only kinds there are). */
const struct source_kind *source_kind_of(const struct city *city);

/* A kind by name, NULL when there is none. */
const struct source_kind *source_kind_find(const char *name);

#endif
