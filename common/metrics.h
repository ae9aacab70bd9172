/* A process-wide Prometheus metrics registry. Metrics are created once at start and updated
 * from any thread; metrics_render writes the text exposition format (version 0.0.4). */
#ifndef BLOTTER_METRICS_H
#define BLOTTER_METRICS_H

#include <stddef.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric;

/* labels: a Prometheus label set without braces, e.g. "city=\"chicago\"", or NULL. The same
 * name and labels give back the same metric. NULL on out of memory (updates to NULL are no-ops). */
struct metric *metric_counter(const char *name, const char *help, const char *labels);
struct metric *metric_gauge(const char *name, const char *help, const char *labels);
/* Histogram buckets are upper bounds in ascending order; +Inf is implied. */
struct metric *metric_histogram(const char *name, const char *help, const char *labels,
                                const double *bounds, size_t n_bounds);

void metric_add(struct metric *m, double v);
void metric_set(struct metric *m, double v);
void metric_observe(struct metric *m, double v);
double metric_value(const struct metric *m);

/* The exposition text, malloc'ed; the caller frees it. */
char *metrics_render(size_t *len);
/* Drop every metric (tests). */
void metrics_reset(void);

/* Latency buckets in seconds shared by the programs. */
extern const double metric_latency_buckets[];
extern const size_t metric_latency_buckets_n;

#endif
