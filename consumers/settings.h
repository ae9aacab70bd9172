/* blotter-consumer's settings, typed, read once from the option table (common/options.h), with
 * the checks that span options. */
#ifndef BLOTTER_CONSUMER_SETTINGS_H
#define BLOTTER_CONSUMER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"

#define CONSUMER_MAX_CITIES 64

struct consumer_settings {
    struct service_settings svc; /* Kafka, topics, /metrics, backoff */
    char group[300];             /* the group id: given, or <prefix>.warehouse (+ .replay.<time>) */
    char cities[CONSUMER_MAX_CITIES][128];
    size_t n_cities; /* 0: every city topic */
    /* borrowed from the configuration, which must outlive the settings */
    const char *pg_dsn, *owner_pg_dsn, *redis_url;
    const char *group_instance_id; /* "": <hostname>-<slot> (intake.c); "none": dynamic */
    long batch_size, batch_timeout_ms, until_idle_s, until_idle_max_s;
    uint32_t seen_buckets;
    bool replay;
    int64_t from_us, to_us; /* replay range of Kafka timestamps; TS_NULL when open */
};

/* Fill s from a loaded configuration; now_s names a replay's own group. 0, or -1 after
 * printing every problem to err (a usage error: exit 2). */
int consumer_settings_load(struct consumer_settings *s, const struct config *cfg, int64_t now_s,
                           FILE *err);

#endif
