/* The row workers: threads that read, map, encode and publish the rows the main thread hands
 * them while it goes on fetching.
 *
 *   raw row -> read (the source kind) -> position moves in the ledger -> city mapping
 *   (or a row the kind read already, checked against the same limits)
 *           -> [backfill range? snapshot: changed?] -> Avro -> publish_incident
 *                                               (a row that fails anywhere: publish_dead_letter)
 *
 * Rows wait in a bounded queue; a full queue makes the main thread serve delivery reports
 * until a worker takes one. */
#ifndef BLOTTER_WORKERS_H
#define BLOTTER_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "producers/city.h"
#include "producers/ledger.h"
#include "producers/publish.h"
#include "producers/snapshot.h"
#include "producers/source.h"
#include "producers/stats.h"

struct workers_setup {
    int threads;
    int32_t schema_registry_id; /* the codec's framing */
    const struct city *city;
    const struct source_kind *kind;
    struct ledger *ledger;
    struct publisher *pub;
    struct producer_stats *stats;
    struct snapshot *snap;      /* a snapshot kind's: publish only new and changed rows */
    int64_t range_lo, range_hi; /* UTC; rows that occurred outside are dropped (TS_NULL: open;
                                   both TS_NULL when the kind asks the source for the range) */
    const struct source_limits *limits; /* a row past them is a dead letter; NULL: defaults */
};

struct workers;

/* Start the threads (each with a codec of its own). NULL with errstr on failure. */
struct workers *workers_start(const struct workers_setup *setup, char *errstr, size_t errstr_size);
/* Let the threads finish what is queued and join them. NULL is a no-op. */
void workers_stop(struct workers *w);

/* Main thread: hand one row of pg (counted in the ledger) to a worker: its raw text (copied),
 * or, when row is not NULL, the row already read (raw unused; the worker takes a reference and
 * checks it against the limits as it would check the text). */
void workers_submit(struct workers *w, struct page *pg, const char *raw, size_t len, json_t *row);
/* Main thread: wait until every submitted row was processed (serving delivery reports). */
void workers_drain(struct workers *w);

#endif
