/* The producer's pass loop: one pass asks the source kind for page after page from the
 * acknowledged position until a page says it is the last, hands the rows to the workers, and
 * retries a page that failed transiently with backoff (producers/source.h, common/backoff.h);
 * between calls it serves delivery reports and saves the checkpoint (at most once a second,
 * and only past acknowledged rows: producers/ledger.h). Passes repeat every poll interval, or
 * once (--once, a backfill). */
#ifndef BLOTTER_PASS_H
#define BLOTTER_PASS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "producers/city.h"
#include "producers/ledger.h"
#include "producers/publish.h"
#include "producers/settings.h"
#include "producers/snapshot.h"
#include "producers/source.h"
#include "producers/stats.h"
#include "producers/workers.h"

/* The stages of one producer, wired by producer_main.c. */
struct producer {
    const struct producer_settings *set;
    const struct city *city;
    const struct source_kind *kind;
    struct source *src;
    struct ledger *ledger;
    struct workers *workers;
    struct publisher *pub;
    struct producer_stats *stats;
    struct snapshot *snap; /* a snapshot kind's (producers/snapshot.h), else NULL */
    char state_topic[256];
    char key[512]; /* the checkpoint's key: the city, or the city and the backfill range */
    int64_t last_save_ms;
    bool drift_reported;
};

/* Passes until done (--once or a backfill: one complete pass; else until a stop is requested),
 * then wait for every delivery report and save the final checkpoint. The exit code: 0, or 1
 * when a pass failed for good or messages stayed undelivered. */
int pass_loop(struct producer *p);

#endif
