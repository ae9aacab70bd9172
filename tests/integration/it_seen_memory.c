/* Integration: Redis memory of the seen-set per incident, measured on the local Redis.
 * Marks N ids (default 200,000) of one city in a namespace of its own with buckets = N / 400,
 * then reports used_memory's growth (INFO memory) and the sum of MEMORY USAGE over the keys,
 * per incident. Fails above 16 bytes per incident (MEMORY USAGE, which other clients cannot
 * disturb; used_memory is reported and must stay plausible), when a marked version is not
 * found again (beyond the few 24-bit field collisions expected), or when a changed version is
 * taken for seen. Deletes its keys at the end.
 * Usage: it_seen_memory [N]    (BLOTTER_REDIS_URL as in infra/local/env.sh) */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "consumers/seen.h"

#define BATCH 5000

static long long used_memory(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO memory");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "used_memory:");
        if (p) {
            v = atoll(p + strlen("used_memory:"));
        }
    }
    if (r) {
        freeReplyObject(r);
    }
    return v;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    const char *url = getenv("BLOTTER_REDIS_URL");
    char errstr[256], ns[64];
    int failures = 0;

    log_setup(LOG_WARN, LOG_FORMAT_LOGFMT, "it_seen_memory");
    if (!url || !*url) {
        url = "redis://127.0.0.1:16379/0";
    }
    struct redis_url u;
    if (redis_url_parse(url, &u) != 0) {
        fprintf(stderr, "bad BLOTTER_REDIS_URL\n");
        return 2;
    }
    redisContext *c = redisConnect(u.host, u.port);
    if (!c || c->err) {
        fprintf(stderr, "cannot connect to Redis\n");
        return 1;
    }
    if (u.password) {
        freeReplyObject(u.user ? redisCommand(c, "AUTH %s %s", u.user, u.password)
                               : redisCommand(c, "AUTH %s", u.password));
    }
    freeReplyObject(redisCommand(c, "SELECT %d", u.db));
    uint32_t buckets = (uint32_t)(n / 400 > 0 ? n / 400 : 1);
    struct seen *s = seen_new(url, buckets, 5000, 100, 1000, errstr, sizeof(errstr));
    if (!s) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    snprintf(ns, sizeof(ns), "memtest%d", (int)getpid());
    seen_set_namespace(s, ns);

    struct seen_item *items = calloc(BATCH, sizeof(*items));
    char(*ids)[24] = calloc(BATCH, sizeof(*ids));
    bool *hit = calloc(BATCH, sizeof(*hit));
    long long before = used_memory(c);
    for (long base = 0; base < n; base += BATCH) {
        size_t k = 0;
        for (long i = base; i < n && i < base + BATCH; i++, k++) {
            snprintf(ids[k], sizeof(ids[k]), "JH%08ld", i);
            items[k] = (struct seen_item){"memcity", ids[k], 0x9e3779b97f4a7c15ULL * (uint64_t)i};
        }
        if (seen_mark_batch(s, items, k) != 0) {
            fprintf(stderr, "FAIL: mark batch at %ld\n", base);
            failures++;
            break;
        }
    }
    long long after = used_memory(c);

    /* MEMORY USAGE of every key of the namespace. */
    long long usage = 0, keys = 0, listpacks = 0;
    for (uint32_t b = 0; b < buckets; b++) {
        char key[128];
        seen_key_name(key, sizeof(key), ns, "memcity", b);
        redisReply *r = redisCommand(c, "MEMORY USAGE %s SAMPLES 0", key);
        if (r && r->type == REDIS_REPLY_INTEGER) {
            usage += r->integer;
            keys++;
        }
        if (r) {
            freeReplyObject(r);
        }
        r = redisCommand(c, "OBJECT ENCODING %s", key);
        if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "listpack") == 0) {
            listpacks++;
        }
        if (r) {
            freeReplyObject(r);
        }
    }

    /* Every marked version is seen; a changed fingerprint is not. */
    long missing = 0, false_hits = 0;
    for (long base = 0; base < n; base += BATCH) {
        size_t k = 0;
        for (long i = base; i < n && i < base + BATCH; i++, k++) {
            snprintf(ids[k], sizeof(ids[k]), "JH%08ld", i);
            items[k] = (struct seen_item){"memcity", ids[k], 0x9e3779b97f4a7c15ULL * (uint64_t)i};
        }
        seen_check_batch(s, items, k, hit);
        for (size_t j = 0; j < k; j++) {
            missing += !hit[j];
            items[j].fingerprint ^= 1;
        }
        seen_check_batch(s, items, k, hit);
        for (size_t j = 0; j < k; j++) {
            false_hits += hit[j];
        }
    }

    double per_delta = (double)(after - before) / (double)n;
    double per_usage = (double)usage / (double)n;
    printf("seen-set memory: %ld incidents, %u buckets (%lld listpack): used_memory delta %.2f "
           "bytes/incident, MEMORY USAGE %.2f bytes/incident\n",
           n, buckets, listpacks, per_delta, per_usage);
    if (per_usage > 16.0) {
        fprintf(stderr, "FAIL: %.2f bytes per incident (MEMORY USAGE) > 16\n", per_usage);
        failures++;
    }
    if (per_delta > 20.0) {
        fprintf(stderr, "FAIL: used_memory grew %.2f bytes per incident\n", per_delta);
        failures++;
    }
    if (keys != (long long)buckets || listpacks != (long long)buckets) {
        fprintf(stderr, "FAIL: %lld keys, %lld listpacks, %u buckets\n", keys, listpacks, buckets);
        failures++;
    }
    /* Two ids with the same bucket and 24-bit field share a slot (the later mark wins): expect
     * about buckets * 400^2 / 2 / 2^24 ~ 2.4 such pairs for 200,000 ids; a collision costs a
     * re-check, never a false hit. */
    printf("field collisions (marked versions not found again): %ld\n", missing);
    if (missing > n / 10000 || false_hits) {
        fprintf(stderr, "FAIL: %ld marked versions not seen, %ld changed versions seen\n", missing,
                false_hits);
        failures++;
    }
    for (uint32_t b = 0; b < buckets; b++) {
        char key[128];
        seen_key_name(key, sizeof(key), ns, "memcity", b);
        freeReplyObject(redisCommand(c, "UNLINK %s", key));
    }
    free(items);
    free(ids);
    free(hit);
    seen_destroy(s);
    redisFree(c);
    redis_url_clear(&u);
    return failures ? 1 : 0;
}
