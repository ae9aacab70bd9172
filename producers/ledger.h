/* The page ledger: which fetched pages still have messages in flight, and the newest position
 * whose rows Kafka has all acknowledged (what the checkpoint may say). Pure: no I/O.
 *
 * A page (one attempt at fetching one page) is begun by the main thread, which then counts
 * each of its rows as handed on (ledger_row_out). The row workers move the page's end position
 * over each row they read (ledger_page_advance), and every message of the page ends with
 * ledger_row_done, from librdkafka's delivery report or because producing failed. The main
 * thread ends the page (ledger_page_end: complete or abandoned) and calls ledger_advance, which
 * moves the acknowledged position over every leading complete page whose messages are all
 * delivered. So the checkpoint never passes a row Kafka has not acknowledged.
 *
 * An abandoned attempt (a transfer that failed and was fetched again) advances nothing: its
 * rows are covered by the later attempt, whose messages follow its own on the same partitions.
 * Until its own messages have their reports it blocks the pages after it: a later attempt may
 * skip rows that the snapshot (producers/snapshot.h) says the abandoned one already sent. A message
 * that failed marks its page failed and the ledger "rewound": the pass starts again from the
 * acknowledged position. */
#ifndef BLOTTER_LEDGER_H
#define BLOTTER_LEDGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producers/checkpoint.h"

struct ledger;
struct page;

/* The acknowledged position starts at start (or zeroes when NULL). */
struct ledger *ledger_new(const struct checkpoint_value *start);
void ledger_destroy(struct ledger *l);
/* Start again from v (a checkpoint just loaded), before any page was begun. */
void ledger_resume(struct ledger *l, const struct checkpoint_value *v);

/* ---- Main thread ---- */

/* A new attempt at the page after position `from`; it is the current page until ended. NULL
 * on out of memory. */
struct page *ledger_page_begin(struct ledger *l, const struct keyset *from);
/* One more row of the current page is handed on (its message will end with ledger_row_done). */
void ledger_row_out(struct page *pg);
/* The page's transfer is over: complete (every row of it arrived) or abandoned. */
void ledger_page_end(struct ledger *l, struct page *pg, bool complete);
/* The kind's position state once the page is complete (struct keyset's state; main thread,
 * before ledger_page_end). A complete page that sets it moves the acknowledged position even
 * when it had no rows (a file that did not change, an empty walk). */
void ledger_page_state(struct ledger *l, struct page *pg, const char *state);
/* The end position of a page whose rows have all been read (after the workers drained). */
struct keyset ledger_page_position(struct ledger *l, const struct page *pg);

/* Move the acknowledged position over the pages that are done; true when it moved. */
bool ledger_advance(struct ledger *l);
/* The acknowledged position and its row count; saved_at is the caller's. */
const struct checkpoint_value *ledger_acked(const struct ledger *l);
/* Whether the acknowledged position moved since ledger_saved was last called. */
bool ledger_dirty(const struct ledger *l);
void ledger_saved(struct ledger *l, int64_t saved_at_us);
/* Whether pages are still in flight (messages without a delivery report). */
bool ledger_busy(const struct ledger *l);
/* A new pass: what earlier passes left in flight only drains now (advances nothing). Clears
 * the rewind flag. */
void ledger_new_pass(struct ledger *l);
/* Whether a message failed since the pass began: re-read from the acknowledged position. */
bool ledger_rewound(const struct ledger *l);

/* ---- Any thread ---- */

/* A worker read a row of pg: move its end position with advance (the source kind's). */
void ledger_page_advance(struct ledger *l, struct page *pg,
                         void (*advance)(struct keyset *pos, const json_t *row), const json_t *row);
/* A message of pg ended: delivered, or not (then the page failed and the ledger rewinds).
 * After the last one the page may be freed by the main thread: do not touch pg again. */
void ledger_row_done(struct ledger *l, struct page *pg, bool delivered);

#endif
