#include "consumers/fetchwake.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/timeutil.h"

/* How long one wake may wait for its ListOffsets replies: the request has already woken the
 * broker threads when it is queued; this only bounds fetchwake_stop. */
#define WAKE_TIMEOUT_MS 500

struct fetchwake {
    rd_kafka_t *rk;
    long interval_ms;
    struct metric *wakes;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool wanted, stop;
    pthread_t thread;
};

static void wake(struct fetchwake *w)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(w->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) {
        return;
    }
    if (parts->cnt > 0) {
        for (int i = 0; i < parts->cnt; i++) {
            parts->elems[i].offset = RD_KAFKA_OFFSET_END; /* as a timestamp: the latest */
        }
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(w->rk, parts, WAKE_TIMEOUT_MS);
        metric_add(w->wakes, 1);
        if (err) {
            log_emit_limited(LOG_DEBUG, "consumer.fetch_wake", 60, "error=%s",
                             rd_kafka_err2name(err));
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void *wake_main(void *arg)
{
    struct fetchwake *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        if (!w->wanted) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        w->wanted = false;
        pthread_mutex_unlock(&w->lock);
        wake(w);
        pthread_mutex_lock(&w->lock);
        /* The interval: pokes meanwhile are coalesced into the next wake. */
        struct timespec until = timespec_after_ms(CLOCK_MONOTONIC, w->interval_ms);
        while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct fetchwake *fetchwake_start(rd_kafka_t *rk, long interval_ms, struct metric *wakes)
{
    struct fetchwake *w = calloc(1, sizeof(*w));
    if (!w) {
        return NULL;
    }
    w->rk = rk;
    w->interval_ms = interval_ms > 0 ? interval_ms : 0;
    w->wakes = wakes;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&w->thread, NULL, wake_main, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void fetchwake_poke(struct fetchwake *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    if (!w->wanted) {
        w->wanted = true;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

void fetchwake_stop(struct fetchwake *w)
{
    if (!w) {
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
