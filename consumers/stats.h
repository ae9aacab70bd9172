/* The consumer's counters: totals for its exit line and the Prometheus metrics of /metrics. */
#ifndef BLOTTER_CONSUMER_STATS_H
#define BLOTTER_CONSUMER_STATS_H

#include "common/metrics.h"

struct consumer_stats {
    struct metric *messages, *batch_size, *batch_seconds, *inserted, *updated, *unchanged,
        *seen_hits, *dead_letters, *retries, *fenced, *default_rows, *paused, *redis_up, *batches,
        *end_to_end, *fetch_wakes;
    /* totals (main thread) */
    unsigned long long t_messages, t_inserted, t_updated, t_unchanged, t_seen, t_dead;
};

void consumer_stats_init(struct consumer_stats *m);

#endif
