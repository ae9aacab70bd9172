#include "producers/stats.h"

#include <stdio.h>
#include <string.h>

static struct metric *city_metric(const struct producer_stats *s, int gauge, const char *name,
                                  const char *help)
{
    char labels[160];
    snprintf(labels, sizeof(labels), "city=\"%s\"", s->city);
    return gauge ? metric_gauge(name, help, labels) : metric_counter(name, help, labels);
}

void producer_stats_init(struct producer_stats *s, const char *city)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->city, sizeof(s->city), "%s", city);
    s->m_fetched = city_metric(s, 0, "blotter_producer_rows_fetched_total", "Rows fetched");
    s->m_published =
        city_metric(s, 0, "blotter_producer_rows_published_total", "Incidents produced to Kafka");
    s->m_rejected = city_metric(s, 0, "blotter_producer_rows_rejected_total",
                                "Rows sent to the dead-letter topic");
    s->m_pages = city_metric(s, 0, "blotter_producer_pages_total", "Complete pages");
    s->m_unmapped = city_metric(s, 0, "blotter_producer_unmapped_offense_total",
                                "Rows whose offense is not in the city file (category other)");
    s->m_undelivered = city_metric(s, 0, "blotter_producer_undelivered_total",
                                   "Messages Kafka did not acknowledge");
    s->m_dlq_lost = city_metric(s, 0, "blotter_producer_dead_letters_lost_total",
                                "Dead letters Kafka refused or did not acknowledge (the rows are "
                                "passed over all the same: a dead letter never stops the stream)");
    s->m_retry_after_capped =
        city_metric(s, 0, "blotter_producer_retry_after_capped_total",
                    "Retry-After answers longer than backoff_max_ms (waited backoff_max_ms)");
    s->m_unchanged =
        city_metric(s, 0, "blotter_producer_rows_unchanged_total",
                    "Rows of a republished file or layer whose content did not change");
    s->m_vanished = city_metric(s, 0, "blotter_producer_rows_vanished_total",
                                "Rows that disappeared from a file or layer walked whole");
    s->m_drift = city_metric(s, 1, "blotter_producer_schema_drift_fields",
                             "Expected fields missing plus unknown fields present");
    s->m_ck_age = city_metric(s, 1, "blotter_producer_checkpoint_age_seconds",
                              "Seconds since the checkpoint was last saved");
    char labels[160];
    snprintf(labels, sizeof(labels), "city=\"%s\"", s->city);
    s->m_http = metric_histogram("blotter_producer_http_seconds", "Source request latency", labels,
                                 metric_latency_buckets, metric_latency_buckets_n);
}

void producer_count(atomic_ullong *total, struct metric *m)
{
    atomic_fetch_add(total, 1);
    metric_add(m, 1);
}

struct metric *producer_retry_metric(const struct producer_stats *s, const char *cause)
{
    char labels[256];
    snprintf(labels, sizeof(labels), "city=\"%s\",cause=\"%s\"", s->city, cause);
    return metric_counter("blotter_producer_retries_total", "Page retries by cause", labels);
}
