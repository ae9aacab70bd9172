/* The warehouse writer (PostgreSQL). A batch of decoded incidents becomes, in one transaction:
 * COPY into a temp staging table, then one call of blotter.apply_staged() (schemas/warehouse/
 * 003_writer.sql) that keeps the newest version per key, replaces older stored versions (across
 * month partitions), leaves older or identical ones alone, and moves agg_hourly counts by deltas.
 * The month partitions a batch needs are created before, in a short transaction of their own.
 *
 * Version order (total): (source_updated_at, version_hash as a signed 64-bit integer), compared
 * lexicographically; a strictly greater pair is newer. The same order in C and in SQL. */
#ifndef BLOTTER_WAREHOUSE_H
#define BLOTTER_WAREHOUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/incident.h"

enum warehouse_status {
    WH_SKIPPED = 0, /* dropped by the batch dedup (an older version in the same batch) */
    WH_INSERTED = 'i',
    WH_UPDATED = 'u',
    WH_UNCHANGED = 'n', /* the stored version is the same or newer */
};

struct warehouse_outcome {
    char status;          /* enum warehouse_status */
    uint64_t stored_hash; /* the key's version_hash in the warehouse after the commit */
};

/* ---- Pure: version order, batch dedup, COPY encoding (no I/O) ---- */

/* <0, 0, >0 as version A is older than, the same as, newer than version B. */
int warehouse_version_cmp(int64_t updated_a, uint64_t hash_a, int64_t updated_b, uint64_t hash_b);

/* One record of a batch: the incident, its content hash, and what became of it. */
struct warehouse_item {
    const struct incident *inc;
    uint64_t hash;                    /* incident_content_hash(inc) */
    struct warehouse_outcome outcome; /* filled by warehouse_upsert_batch */
};

/* The newest version of each (city, incident_id) among items[0..n): their indexes into keep[]
 * (room for n), ordered by (city, incident_id). Returns how many were kept. */
size_t warehouse_newest(const struct warehouse_item *items, size_t n, size_t *keep);

/* Append one row of COPY binary format holding seq (int4), the incident's columns
 * (common/incident_fields.h, in order: text, timestamptz, float8, bool, jsonb) and hash (int8);
 * an unstamped ingested_at becomes ingested_default. The incident must pass incident_check.
 * The rows go between warehouse_copy_header and warehouse_copy_trailer. -1 on OOM. */
int warehouse_copy_header(struct buf *b);
int warehouse_copy_row(struct buf *b, int seq, const struct incident *inc, uint64_t hash,
                       int64_t ingested_default);
int warehouse_copy_trailer(struct buf *b);

/* A UTC time as PostgreSQL timestamptz text: 2024-02-15 07:09:00.000000+00. */
void warehouse_format_ts(int64_t us, char *buf, size_t n);

/* ---- The writer ---- */

struct warehouse;

struct warehouse_counts {
    size_t inserted, updated, unchanged;
};

/* Does not connect yet. dsn (the writer, blotter_writer) and owner_dsn (the migrations' owner;
 * NULL or "": dsn applies the migrations) are copied. */
struct warehouse *warehouse_new(const char *dsn, const char *owner_dsn);
void warehouse_destroy(struct warehouse *wh);

/* Connect when not connected: apply migrations (first time), set the session up, prepare
 * statements. ERR_TRANSIENT while PostgreSQL is unreachable. */
enum err_class warehouse_connect(struct warehouse *wh, char *errstr, size_t errstr_size);
bool warehouse_connected(const struct warehouse *wh);

/* The warehouse's random id (valid after a successful connect). */
const char *warehouse_id(const struct warehouse *wh);

/* Write items[0..n) in one transaction; each item's outcome tells what became of it. On error
 * nothing was committed; ERR_TRANSIENT drops the connection (the next call reconnects),
 * ERR_PERMANENT means some record cannot be stored (one that fails incident_check is refused
 * before PostgreSQL sees the batch; split the batch to find it). */
enum err_class warehouse_upsert_batch(struct warehouse *wh, struct warehouse_item *items, size_t n,
                                      struct warehouse_counts *counts, char *errstr,
                                      size_t errstr_size);

/* fence (may be NULL) is asked right before each batch's COMMIT; when it answers false the
 * transaction is rolled back and warehouse_upsert_batch returns ERR_TRANSIENT ("fenced"). */
void warehouse_set_fence(struct warehouse *wh, bool (*fence)(void *arg), void *arg);

/* Rows waiting in the DEFAULT partition; when there are any, they are moved into their months'
 * partitions (blotter.drain_default_partition) and *rows says how many there were. */
enum err_class warehouse_drain_default(struct warehouse *wh, long long *rows, char *errstr,
                                       size_t errstr_size);

#endif
