/* The producer's counters: totals for its log lines and the Prometheus metrics of /metrics,
 * updated from the main thread, the row workers and delivery reports alike. */
#ifndef BLOTTER_PRODUCER_STATS_H
#define BLOTTER_PRODUCER_STATS_H

#include <stdatomic.h>

#include "common/metrics.h"

struct producer_stats {
    atomic_ullong fetched, published, rejected, unmapped, undelivered, unchanged, filtered,
        dlq_lost;
    struct metric *m_fetched, *m_published, *m_rejected, *m_unmapped, *m_undelivered, *m_pages,
        *m_http, *m_ck_age, *m_drift, *m_unchanged, *m_vanished, *m_dlq_lost, *m_retry_after_capped;
    char city[128];
};

void producer_stats_init(struct producer_stats *s, const char *city);

/* Count one event: the total and its metric. */
void producer_count(atomic_ullong *total, struct metric *m);

/* blotter_producer_retries_total{city, cause}. */
struct metric *producer_retry_metric(const struct producer_stats *s, const char *cause);

#endif
