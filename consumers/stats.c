#include "consumers/stats.h"

#include <string.h>

void consumer_stats_init(struct consumer_stats *m)
{
    memset(m, 0, sizeof(*m));
    static const double sizes[] = {1, 10, 50, 100, 500, 1000, 5000, 10000, 50000};
    m->messages = metric_counter("blotter_consumer_messages_total", "Messages consumed", NULL);
    m->batches = metric_counter("blotter_consumer_batches_total", "Batches completed", NULL);
    static const double e2e_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3,
                                         0.4,  0.5,   0.75, 1,   2.5,  5,   10,   60};
    m->end_to_end = metric_histogram(
        "blotter_consumer_end_to_end_seconds",
        "From the record's Kafka timestamp to the commit of the warehouse transaction holding it",
        NULL, e2e_buckets, sizeof(e2e_buckets) / sizeof(e2e_buckets[0]));
    m->batch_size = metric_histogram("blotter_consumer_batch_size", "Messages per batch", NULL,
                                     sizes, sizeof(sizes) / sizeof(sizes[0]));
    m->batch_seconds =
        metric_histogram("blotter_consumer_batch_seconds", "Time to complete a batch", NULL,
                         metric_latency_buckets, metric_latency_buckets_n);
    m->inserted = metric_counter("blotter_consumer_rows_total", "Warehouse rows by outcome",
                                 "result=\"inserted\"");
    m->updated = metric_counter("blotter_consumer_rows_total", "Warehouse rows by outcome",
                                "result=\"updated\"");
    m->unchanged = metric_counter("blotter_consumer_rows_total", "Warehouse rows by outcome",
                                  "result=\"unchanged\"");
    m->seen_hits = metric_counter("blotter_consumer_seen_hits_total",
                                  "Records dropped by the seen-set before PostgreSQL", NULL);
    m->dead_letters = metric_counter("blotter_consumer_dead_letters_total",
                                     "Records sent to the dead-letter topic", NULL);
    m->retries = metric_counter("blotter_consumer_warehouse_retries_total",
                                "Warehouse batch attempts that failed transiently", NULL);
    m->fenced = metric_counter("blotter_consumer_batches_fenced_total",
                               "Batches not applied: partitions revoked or process frozen", NULL);
    m->default_rows = metric_gauge("blotter_consumer_default_partition_rows",
                                   "Rows found in the DEFAULT partition (then drained)", NULL);
    m->paused = metric_gauge("blotter_consumer_paused", "1 while partitions are paused", NULL);
    m->fetch_wakes = metric_counter(
        "blotter_consumer_fetch_wakes_total",
        "Wakes of librdkafka's fetchers after a full fetch queue (librdkafka before 2.1)", NULL);
    m->redis_up =
        metric_gauge("blotter_consumer_redis_up", "1 when the seen-set is reachable", NULL);
}
