#define _GNU_SOURCE
#include "common/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric {
    char *name, *help, *labels;
    enum metric_type type;
    double value; /* counter, gauge; histogram: sum */
    double *bounds;
    unsigned long long *counts; /* per bucket, not cumulative; last is +Inf */
    size_t n_bounds;
    unsigned long long count;
    struct metric *next;
};

const double metric_latency_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,   1,    2.5,   5,    10};
const size_t metric_latency_buckets_n = sizeof(metric_latency_buckets) / sizeof(double);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *head, *tail;

static void metric_free(struct metric *m)
{
    free(m->name);
    free(m->help);
    free(m->labels);
    free(m->bounds);
    free(m->counts);
    free(m);
}

static struct metric *get(const char *name, const char *help, const char *labels,
                          enum metric_type type, const double *bounds, size_t n_bounds)
{
    struct metric *m;
    pthread_mutex_lock(&lock);
    for (m = head; m; m = m->next) {
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels ? labels : "") == 0) {
            pthread_mutex_unlock(&lock);
            return m;
        }
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        goto oom;
    }
    m->name = strdup(name);
    m->help = strdup(help);
    m->labels = strdup(labels ? labels : "");
    m->type = type;
    if (type == METRIC_HISTOGRAM) {
        m->bounds = malloc(n_bounds * sizeof(double));
        m->counts = calloc(n_bounds + 1, sizeof(*m->counts));
        if (m->bounds) {
            memcpy(m->bounds, bounds, n_bounds * sizeof(double));
        }
        m->n_bounds = n_bounds;
    }
    if (!m->name || !m->help || !m->labels ||
        (type == METRIC_HISTOGRAM && (!m->bounds || !m->counts))) {
        metric_free(m);
        m = NULL;
        goto oom;
    }
    /* Keep metrics of one name together so each family prints its HELP and TYPE once. */
    struct metric *after = NULL;
    for (struct metric *p = head; p; p = p->next) {
        if (strcmp(p->name, name) == 0) {
            after = p;
        }
    }
    if (after) {
        m->next = after->next;
        after->next = m;
        if (tail == after) {
            tail = m;
        }
    } else if (tail) {
        tail->next = m;
        tail = m;
    } else {
        head = tail = m;
    }
oom:
    pthread_mutex_unlock(&lock);
    return m;
}

struct metric *metric_counter(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_COUNTER, NULL, 0);
}

struct metric *metric_gauge(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_GAUGE, NULL, 0);
}

struct metric *metric_histogram(const char *name, const char *help, const char *labels,
                                const double *bounds, size_t n_bounds)
{
    return get(name, help, labels, METRIC_HISTOGRAM, bounds, n_bounds);
}

void metric_add(struct metric *m, double v)
{
    if (!m) {
        return;
    }
    pthread_mutex_lock(&lock);
    m->value += v;
    pthread_mutex_unlock(&lock);
}

void metric_set(struct metric *m, double v)
{
    if (!m) {
        return;
    }
    pthread_mutex_lock(&lock);
    m->value = v;
    pthread_mutex_unlock(&lock);
}

void metric_observe(struct metric *m, double v)
{
    if (!m || m->type != METRIC_HISTOGRAM) {
        return;
    }
    size_t i = 0;
    while (i < m->n_bounds && v > m->bounds[i]) {
        i++;
    }
    pthread_mutex_lock(&lock);
    m->counts[i]++;
    m->count++;
    m->value += v;
    pthread_mutex_unlock(&lock);
}

double metric_value(const struct metric *m)
{
    double v;
    if (!m) {
        return 0;
    }
    pthread_mutex_lock(&lock);
    v = m->type == METRIC_HISTOGRAM ? (double)m->count : m->value;
    pthread_mutex_unlock(&lock);
    return v;
}

static void label_set(FILE *f, const char *labels, const char *extra)
{
    bool any = *labels || (extra && *extra);
    if (!any) {
        return;
    }
    fprintf(f, "{%s%s%s}", labels, *labels && extra && *extra ? "," : "", extra ? extra : "");
}

char *metrics_render(size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    const char *family = "";
    static const char *types[] = {"counter", "gauge", "histogram"};

    if (!f) {
        return NULL;
    }
    pthread_mutex_lock(&lock);
    for (struct metric *m = head; m; m = m->next) {
        if (strcmp(family, m->name) != 0) {
            fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, types[m->type]);
            family = m->name;
        }
        if (m->type != METRIC_HISTOGRAM) {
            fputs(m->name, f);
            label_set(f, m->labels, NULL);
            fprintf(f, " %.17g\n", m->value);
            continue;
        }
        unsigned long long cum = 0;
        char le[64];
        for (size_t i = 0; i <= m->n_bounds; i++) {
            cum += m->counts[i];
            if (i < m->n_bounds) {
                snprintf(le, sizeof(le), "le=\"%g\"", m->bounds[i]);
            } else {
                snprintf(le, sizeof(le), "le=\"+Inf\"");
            }
            fprintf(f, "%s_bucket", m->name);
            label_set(f, m->labels, le);
            fprintf(f, " %llu\n", cum);
        }
        fprintf(f, "%s_sum", m->name);
        label_set(f, m->labels, NULL);
        fprintf(f, " %.17g\n%s_count", m->value, m->name);
        label_set(f, m->labels, NULL);
        fprintf(f, " %llu\n", m->count);
    }
    pthread_mutex_unlock(&lock);
    fclose(f);
    if (len) {
        *len = n;
    }
    return out;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    while (head) {
        struct metric *m = head;
        head = m->next;
        metric_free(m);
    }
    tail = NULL;
    pthread_mutex_unlock(&lock);
}
