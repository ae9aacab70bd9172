/* One city's dataset as the local server sees it: the generated base rows plus an in-memory
 * overlay of changes (updated rows get version v+1 and a new :updated_at; new rows get indexes
 * >= rows), and the query executor that walks them in (:updated_at, :id) or :id order.
 *
 * Thread-safe: queries take a read lock, changes a write lock. Changes are stamped with the
 * caller's clock, made strictly increasing per city, so they are totally ordered.
 *
 * Memory: a hash map index -> overlay entry and an append-only log of entries in :updated_at
 * order (an entry that changes again moves to the end; its old log slot is dead). */
#ifndef BLOTTER_SOCRATA_STORE_H
#define BLOTTER_SOCRATA_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/server/gen.h"
#include "tests/server/soql.h"

struct store_city;

/* Takes ownership of g (destroyed with the store, also on failure). seed drives the choice of
 * updated rows. */
struct store_city *store_city_new(struct gen_city *g, uint64_t seed);
void store_city_destroy(struct store_city *s);

const struct gen_city *store_gen(const struct store_city *s);

/* ---- Changes ---- */

/* Append n new rows / update n existing rows (chosen deterministically from the sequence of
 * changes so far), stamped now_ms or later. */
void store_append(struct store_city *s, uint64_t n, int64_t now_ms);
void store_update(struct store_city *s, uint64_t n, int64_t now_ms);
/* A publisher's full replace: every row's :updated_at becomes one new time; content unchanged. */
void store_replace(struct store_city *s, int64_t now_ms);
/* Delete n existing rows (chosen like updates): they vanish from every query. */
void store_delete(struct store_city *s, uint64_t n, int64_t now_ms);
/* Visit every visible row in index order (under the read lock; fn must not change the store).
 * fn gets the row's meta and the malformed setting; non-zero stops the walk. */
typedef int (*store_row_fn)(void *ctx, const struct gen_meta *m, unsigned malformed_k);
void store_each(struct store_city *s, store_row_fn fn, void *ctx);
/* From now on about 1 in k rows (chosen by index) is served malformed; 0 turns it off. */
void store_set_malformed(struct store_city *s, unsigned k);

struct store_stats {
    uint64_t rows, new_rows, overlay, log_slots;
    int64_t last_change_ms, replace_ms, last_modified_ms;
    unsigned malformed_k;
};
void store_stats(struct store_city *s, struct store_stats *st);

/* ---- Queries ---- */

enum store_order { STORE_ORDER_UPDATED = 0, STORE_ORDER_ID };

/* Map a parsed $order to a supported walk; false when unsupported (only ascending :id, or
 * :updated_at optionally followed by :id, are). No $order walks by :id. */
bool store_order_of(const struct soql_query *q, enum store_order *order);

/* Called when out holds at least flush_bytes; the callee consumes out (sets len to 0). */
typedef void (*store_flush_fn)(void *ctx, struct buf *out);

struct store_result {
    uint64_t rows;       /* rows written (or counted) */
    uint64_t considered; /* rows generated and tested */
};

/* Run q, writing the JSON body ("[" rows "]\n", or [{"count":"N"}]) to out, calling flush
 * whenever out grows past flush_bytes (flush may be NULL: everything stays in out). Overlay
 * entries stamped after hide_after_ms are invisible (a lagging replica; INT64_MAX: none). */
void store_query(struct store_city *s, const struct soql_query *q, enum store_order order,
                 int64_t hide_after_ms, struct buf *out, size_t flush_bytes, store_flush_fn flush,
                 void *ctx, struct store_result *res);

#endif
