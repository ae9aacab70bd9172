/* blotter-producer's settings, typed, read once from the option table (common/options.h), with
 * the checks that span options. */
#ifndef BLOTTER_PRODUCER_SETTINGS_H
#define BLOTTER_PRODUCER_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "producers/source.h"

struct producer_settings {
    struct service_settings svc; /* Kafka, topics, /metrics, backoff */
    char city[128];
    /* borrowed from the configuration, which must outlive the settings */
    const char *cities_dir, *base_url, *app_token;
    int page_size, workers, retry_max;
    long poll_interval_s, http_timeout_s;
    struct source_limits limits;
    bool once;
    int64_t since_us, until_us; /* the backfill range (city wall time); TS_NULL when open */
    bool backfill;              /* --since or --until given */
};

/* Fill s from a loaded configuration. 0, or -1 after printing every problem to err (a usage
 * error: exit 2). */
int producer_settings_load(struct producer_settings *s, const struct config *cfg, FILE *err);

#endif
