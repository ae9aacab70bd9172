/* The consumer's dead letters. See dlq.h. */
#include "consumers/dlq.h"

#include <stdlib.h>
#include <string.h>

#include "common/backoff.h"
#include "common/deadletter.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/stop.h"

extern char **environ;

struct dlq {
    const struct consumer_settings *set;
    rd_kafka_t *rk;
    bool detached; /* the slots dead letters point into may be gone: reports touch nothing */
    char topic[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct dlq *d = opaque;
    struct slot *s = rkm->_private;
    if (s && !d->detached) {
        s->dlq = rkm->err ? DLQ_FAILED : DLQ_DELIVERED;
        if (rkm->err) {
            log_emit_limited(LOG_WARN, "dlq.delivery_failed", 10, "error=%s",
                             rd_kafka_err2name(rkm->err));
        }
    }
}

struct dlq *dlq_new(const struct consumer_settings *set, char *errstr, size_t n)
{
    struct dlq *d = calloc(1, sizeof(*d));
    if (!d) {
        err_set(errstr, n, "out of memory");
        return NULL;
    }
    d->set = set;
    kafka_topic_dlq(d->topic, sizeof(d->topic), set->svc.topic_prefix);
    rd_kafka_conf_t *conf = kafka_conf_new(KAFKA_PRODUCER, set->svc.brokers, environ, errstr, n);
    if (!conf) {
        free(d);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    d->rk = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, n);
    if (!d->rk) {
        free(d);
        return NULL;
    }
    struct kafka_topic_spec spec = {d->topic, set->svc.topic_partitions, set->svc.topic_replication,
                                    0};
    char why[512];
    enum err_class cls = kafka_ensure_topics(d->rk, &spec, 1, 10000, why, sizeof(why));
    if (cls == ERR_FATAL) {
        err_set(errstr, n, "%s", why);
        rd_kafka_destroy(d->rk);
        free(d);
        return NULL;
    }
    if (cls != ERR_OK) {
        log_warn("dlq.ensure_topic", "topic=%s error=%s", LQ(d->topic), LQ(why));
    }
    return d;
}

void dlq_destroy(struct dlq *d)
{
    if (!d) {
        return;
    }
    if (rd_kafka_flush(d->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("dlq.flush_timeout", "outq=%d", rd_kafka_outq_len(d->rk));
    }
    rd_kafka_destroy(d->rk);
    free(d);
}

void dlq_detach(struct dlq *d)
{
    if (d) {
        d->detached = true;
    }
}

rd_kafka_t *dlq_rk(struct dlq *d)
{
    return d->rk;
}

static void send_one(struct dlq *d, struct slot *s)
{
    const rd_kafka_message_t *rkm = s->rkm;
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    char city[128];
    deadletter_city_of_topic(topic, city, sizeof(city));
    struct deadletter dl = {.reason = s->reason,
                            .rejected_by = "blotter-consumer",
                            .city = city,
                            .source = "kafka",
                            .topic = topic,
                            .partition = rkm->partition,
                            .offset = rkm->offset,
                            .key = rkm->key,
                            .key_len = rkm->key_len};
    rd_kafka_resp_err_t err = deadletter_produce(d->rk, d->topic, &dl, rkm->payload, rkm->len, s);
    s->dlq = err ? DLQ_FAILED : DLQ_IN_FLIGHT;
}

enum err_class dlq_send_batch(struct dlq *d, struct batch *b, struct intake *in, size_t *sent)
{
    struct backoff retry;
    backoff_init(&retry, d->set->svc.backoff_ms, d->set->svc.backoff_max_ms);
    *sent = 0;
    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < b->n; i++) {
            struct slot *s = &b->slots[i];
            if (s->state != S_DEAD || s->dlq == DLQ_DELIVERED) {
                continue;
            }
            if (s->dlq == DLQ_NONE) {
                log_emit_limited(LOG_WARN, "consumer.dead_letter", 10,
                                 "topic=%s partition=%d offset=%lld error=%s",
                                 LQ(rd_kafka_topic_name(s->rkm->rkt)), s->rkm->partition,
                                 (long long)s->rkm->offset, LQ(s->reason));
                ++*sent;
            }
            if (s->dlq == DLQ_NONE || s->dlq == DLQ_FAILED) {
                send_one(d, s);
            }
            pending++;
        }
        if (!pending) {
            return ERR_OK;
        }
        rd_kafka_flush(d->rk, 10000);
        bool all = true;
        for (size_t i = 0; i < b->n; i++) {
            all &= b->slots[i].state != S_DEAD || b->slots[i].dlq == DLQ_DELIVERED;
        }
        if (all) {
            return ERR_OK;
        }
        long wait = backoff_next_ms(&retry, -1);
        log_emit_limited(LOG_WARN, "dlq.retry", 10, "backoff_ms=%ld", wait);
        intake_wait(in, wait);
        if (stop_requested) {
            dlq_detach(d); /* what is still in flight points into b, which the caller frees */
            return ERR_TRANSIENT;
        }
    }
}
