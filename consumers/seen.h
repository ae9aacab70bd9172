/* The seen-set: Redis remembers, per incident, a fingerprint of the version last written to the
 * warehouse, so that an identical re-delivery is dropped before it reaches PostgreSQL.
 *
 * Layout (about 15.3 bytes of Redis memory per incident, measured): hashes
 *     seen:<warehouse id>:<city>:<bucket>    bucket = H1(id) mod buckets
 * with field = 3 bytes of another hash H2(id) (binary) and value = the low 7 bytes of the
 * version fingerprint (binary). With ~400 fields per hash Redis keeps each hash a listpack:
 * 5 + 9 bytes per entry plus the allocator's size-class rounding (~8%). A 4-byte field costs
 * one byte more per entry and measured 16.35 bytes per incident, over the 16-byte budget; 24
 * bits keep field collisions inside a bucket of ~400 at ~0.5% per bucket, and a collision only
 * costs a re-check (both ids still need the same 56-bit value to be taken for seen).
 * The warehouse id namespaces the set so that it is never trusted by another warehouse.
 *
 * Redis is a cache: every error reads as "not seen", the connection is re-opened with backoff,
 * and nothing here ever fails the caller. A field collision of two ids only costs a re-check. */
#ifndef BLOTTER_SEEN_H
#define BLOTTER_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SEEN_FIELD_LEN 3
#define SEEN_VALUE_LEN 7

/* ---- Pure key derivation (no I/O) ---- */

/* The bucket of incident_id among buckets (> 0), and its field bytes. */
void seen_locate(const char *incident_id, uint32_t buckets, uint32_t *bucket,
                 unsigned char field[SEEN_FIELD_LEN]);
/* The stored form of a version fingerprint. */
void seen_value(uint64_t fingerprint, unsigned char value[SEEN_VALUE_LEN]);
/* "seen:<ns>:<city>:<bucket>" into buf; the length, or -1 when it does not fit. */
int seen_key_name(char *buf, size_t n, const char *ns, const char *city, uint32_t bucket);

/* Parsed redis://[[user]:password@]host[:port][/db]. Strings point into a copy the struct owns. */
struct redis_url {
    char *buf;
    const char *host, *user, *password;
    int port, db;
};
/* 0, or -1 when url is not such a URL. Free with redis_url_clear. */
int redis_url_parse(const char *url, struct redis_url *out);
void redis_url_clear(struct redis_url *u);

/* ---- The set ---- */

struct seen;

struct seen_item {
    const char *city;
    const char *incident_id;
    uint64_t fingerprint;
};

/* NULL (and errstr) for a malformed URL; does not connect yet. timeout_ms bounds each Redis
 * call; reconnects wait backoff_ms, doubling up to backoff_max_ms. */
struct seen *seen_new(const char *url, uint32_t buckets, int timeout_ms, int backoff_ms,
                      int backoff_max_ms, char *errstr, size_t errstr_size);
void seen_destroy(struct seen *s);

/* The namespace (the warehouse id) of the keys; must be set before checks and marks. */
void seen_set_namespace(struct seen *s, const char *ns);

/* For each item, hit[i] = whether the set holds exactly its fingerprint. One pipeline. Redis
 * errors give all false. Returns the number of hits. */
size_t seen_check_batch(struct seen *s, const struct seen_item *items, size_t n, bool *hit);

/* Remember each item's fingerprint (only after the warehouse committed it). One pipeline.
 * Returns 0, or -1 when Redis could not be written (nothing else to do: it is a cache). */
int seen_mark_batch(struct seen *s, const struct seen_item *items, size_t n);

/* Connect (and PING) once: ERR_OK, ERR_TRANSIENT when Redis is unreachable (the consumer carries
 * on without the seen-set), ERR_FATAL when Redis refused us (WRONGPASS, NOAUTH, NOPERM). */
enum err_class seen_probe(struct seen *s, char *errstr, size_t errstr_size);

/* Whether the last operation reached Redis. */
bool seen_up(const struct seen *s);

#endif
