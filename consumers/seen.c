#define _GNU_SOURCE
#include "consumers/seen.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/err.h"
#include "common/log.h"
#include "common/refused.h"
#include "common/timeutil.h"

/* ---- Key derivation ---- */

/* FNV-1a with a seed, then a murmur3-style finaliser: well mixed 64 bits. */
static uint64_t hash64(const char *s, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

void seen_locate(const char *incident_id, uint32_t buckets, uint32_t *bucket,
                 unsigned char field[SEEN_FIELD_LEN])
{
    uint64_t b = hash64(incident_id, 0x5eedb0c4e7ULL);
    uint64_t f = hash64(incident_id, 0xf1e1d5ULL);
    *bucket = (uint32_t)(b % (buckets ? buckets : 1));
    for (int i = 0; i < SEEN_FIELD_LEN; i++) {
        field[i] = (unsigned char)(f >> (8 * i));
    }
}

void seen_value(uint64_t fingerprint, unsigned char value[SEEN_VALUE_LEN])
{
    for (int i = 0; i < SEEN_VALUE_LEN; i++) {
        value[i] = (unsigned char)(fingerprint >> (8 * i));
    }
}

int seen_key_name(char *buf, size_t n, const char *ns, const char *city, uint32_t bucket)
{
    int len = snprintf(buf, n, "seen:%s:%s:%u", ns, city, (unsigned)bucket);
    return len < 0 || (size_t)len >= n ? -1 : len;
}

/* ---- URL ---- */

int redis_url_parse(const char *url, struct redis_url *out)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "redis://", 8) != 0) {
        return -1;
    }
    out->buf = strdup(url + 8);
    if (!out->buf) {
        return -1;
    }
    char *p = out->buf;
    char *at = strrchr(p, '@');
    if (at) {
        *at = '\0';
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            out->user = *p ? p : NULL;
            out->password = colon + 1;
        } else {
            out->password = p; /* redis://secret@host: a bare password */
        }
        p = at + 1;
    }
    char *slash = strchr(p, '/');
    if (slash) {
        *slash = '\0';
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (slash[1] && (*end || db < 0 || db > 1000000)) {
            goto bad;
        }
        out->db = (int)db;
    }
    char *colon = strrchr(p, ':');
    if (colon) {
        *colon = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535) {
            goto bad;
        }
        out->port = (int)port;
    }
    out->host = *p ? p : "127.0.0.1";
    return 0;
bad:
    redis_url_clear(out);
    return -1;
}

void redis_url_clear(struct redis_url *u)
{
    free(u->buf);
    memset(u, 0, sizeof(*u));
}

/* ---- The set ---- */

struct seen {
    struct redis_url url;
    redisContext *redis;
    uint32_t buckets;
    int timeout_ms;
    struct backoff reconnect;
    int64_t retry_at_ms; /* mono_ms() before which no reconnect is tried */
    bool up;
    char *ns;
    char **keys;   /* per-call scratch: key names */
    char why[256]; /* the last connection or command error */
    size_t keys_cap;
};

struct seen *seen_new(const char *url, uint32_t buckets, int timeout_ms, int backoff_ms,
                      int backoff_max_ms, char *errstr, size_t errstr_size)
{
    struct seen *s = calloc(1, sizeof(*s));
    if (!s) {
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (redis_url_parse(url, &s->url) != 0) {
        err_set(errstr, errstr_size, "redis_url is not redis://[[user]:password@]host[:port][/db]");
        free(s);
        return NULL;
    }
    s->buckets = buckets ? buckets : 1;
    s->timeout_ms = timeout_ms;
    backoff_init(&s->reconnect, backoff_ms, backoff_max_ms);
    s->ns = strdup("");
    return s;
}

void seen_destroy(struct seen *s)
{
    if (!s) {
        return;
    }
    if (s->redis) {
        redisFree(s->redis);
    }
    redis_url_clear(&s->url);
    for (size_t i = 0; i < s->keys_cap; i++) {
        free(s->keys[i]);
    }
    free(s->keys);
    free(s->ns);
    free(s);
}

void seen_set_namespace(struct seen *s, const char *ns)
{
    char *copy = strdup(ns);
    if (copy) {
        free(s->ns);
        s->ns = copy;
    }
}

bool seen_up(const struct seen *s)
{
    return s->up;
}

static void drop_connection(struct seen *s, const char *why)
{
    long wait = backoff_next_ms(&s->reconnect, -1);
    if (s->redis) {
        log_emit_limited(LOG_WARN, "seen.redis_down", 30,
                         "error=%s backoff_ms=%ld note=\"carrying on without the seen-set\"",
                         LQ(why), wait);
        redisFree(s->redis);
        s->redis = NULL;
    }
    s->up = false;
    s->retry_at_ms = mono_ms() + wait;
}

/* A reply that must be a status/OK-like answer. */
static int simple_command(struct seen *s, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(s->redis, argc, argv, NULL);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc) {
        snprintf(s->why, sizeof(s->why), "%s: %s", argv[0],
                 r                     ? r->str
                 : s->redis->errstr[0] ? s->redis->errstr
                                       : "no reply");
    }
    if (r) {
        freeReplyObject(r);
    }
    return rc;
}

/* Connected, or -1 (then callers behave as if Redis said "not seen"). */
static int ensure_connected(struct seen *s)
{
    if (s->redis) {
        return 0;
    }
    if (mono_ms() < s->retry_at_ms) {
        return -1;
    }
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    s->redis = redisConnectWithTimeout(s->url.host, s->url.port, tv);
    if (!s->redis || s->redis->err) {
        snprintf(s->why, sizeof(s->why), "%s", s->redis ? s->redis->errstr : "out of memory");
        drop_connection(s, s->why);
        return -1;
    }
    redisSetTimeout(s->redis, tv);
    if (s->url.password) {
        const char *argv[3] = {"AUTH", s->url.user ? s->url.user : s->url.password,
                               s->url.password};
        if (simple_command(s, s->url.user ? 3 : 2, argv) != 0) {
            drop_connection(s, s->why);
            return -1;
        }
    }
    if (s->url.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", s->url.db);
        const char *argv[2] = {"SELECT", db};
        if (simple_command(s, 2, argv) != 0) {
            drop_connection(s, s->why);
            return -1;
        }
    }
    if (!s->up) {
        log_info("seen.redis_up", "host=%s port=%d db=%d", LQ(s->url.host), s->url.port, s->url.db);
    }
    s->up = true;
    backoff_reset(&s->reconnect);
    return 0;
}

/* Key names of the items into s->keys (reused between calls). */
static int prepare_keys(struct seen *s, const struct seen_item *items, size_t n,
                        unsigned char (*fields)[SEEN_FIELD_LEN])
{
    if (n > s->keys_cap) {
        char **k = realloc(s->keys, n * sizeof(*k));
        if (!k) {
            return -1;
        }
        for (size_t i = s->keys_cap; i < n; i++) {
            k[i] = NULL;
        }
        s->keys = k;
        s->keys_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t bucket;
        char name[512];
        seen_locate(items[i].incident_id, s->buckets, &bucket, fields[i]);
        if (seen_key_name(name, sizeof(name), s->ns, items[i].city, bucket) < 0) {
            return -1;
        }
        free(s->keys[i]);
        s->keys[i] = strdup(name);
        if (!s->keys[i]) {
            return -1;
        }
    }
    return 0;
}

size_t seen_check_batch(struct seen *s, const struct seen_item *items, size_t n, bool *hit)
{
    size_t hits = 0;
    memset(hit, 0, n * sizeof(*hit));
    if (n == 0 || ensure_connected(s) != 0) {
        return 0;
    }
    unsigned char(*fields)[SEEN_FIELD_LEN] = malloc(n * SEEN_FIELD_LEN);
    if (!fields || prepare_keys(s, items, n, fields) != 0) {
        free(fields);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *argv[3] = {"HGET", s->keys[i], (const char *)fields[i]};
        size_t argvlen[3] = {4, strlen(s->keys[i]), SEEN_FIELD_LEN};
        if (redisAppendCommandArgv(s->redis, 3, argv, argvlen) != REDIS_OK) {
            drop_connection(s, "append failed");
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->redis, (void **)&r) != REDIS_OK || !r) {
            drop_connection(s, s->redis && s->redis->err ? s->redis->errstr : "no reply");
            goto fail;
        }
        if (r->type == REDIS_REPLY_STRING && r->len == SEEN_VALUE_LEN) {
            unsigned char want[SEEN_VALUE_LEN];
            seen_value(items[i].fingerprint, want);
            if (memcmp(r->str, want, SEEN_VALUE_LEN) == 0) {
                hit[i] = true;
                hits++;
            }
        }
        freeReplyObject(r);
    }
    free(fields);
    return hits;
fail:
    free(fields);
    memset(hit, 0, n * sizeof(*hit));
    return 0;
}

int seen_mark_batch(struct seen *s, const struct seen_item *items, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (ensure_connected(s) != 0) {
        return -1;
    }
    unsigned char(*fields)[SEEN_FIELD_LEN] = malloc(n * SEEN_FIELD_LEN);
    if (!fields || prepare_keys(s, items, n, fields) != 0) {
        free(fields);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char value[SEEN_VALUE_LEN];
        seen_value(items[i].fingerprint, value);
        const char *argv[4] = {"HSET", s->keys[i], (const char *)fields[i], (const char *)value};
        size_t argvlen[4] = {4, strlen(s->keys[i]), SEEN_FIELD_LEN, SEEN_VALUE_LEN};
        if (redisAppendCommandArgv(s->redis, 4, argv, argvlen) != REDIS_OK) {
            drop_connection(s, "append failed");
            free(fields);
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->redis, (void **)&r) != REDIS_OK || !r) {
            drop_connection(s, s->redis && s->redis->err ? s->redis->errstr : "no reply");
            rc = -1;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            rc = -1;
        }
        freeReplyObject(r);
    }
    free(fields);
    return rc;
}

enum err_class seen_probe(struct seen *s, char *errstr, size_t errstr_size)
{
    const char *ping[1] = {"PING"};
    if (ensure_connected(s) == 0) {
        if (simple_command(s, 1, ping) == 0) {
            return ERR_OK;
        }
        drop_connection(s, s->why);
    }
    err_set(errstr, errstr_size, "%s", s->why);
    return conn_verdict_of(s->why) != CONN_TRANSIENT ? ERR_FATAL : ERR_TRANSIENT;
}
