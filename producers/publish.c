/* The producer's Kafka side. See publish.h. */
#define _GNU_SOURCE
#include "producers/publish.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/stop.h"

struct publisher {
    rd_kafka_t *rk;
    struct ledger *ledger;
    struct producer_stats *stats;
    char topic[256], dlq_topic[256];
};

/* A dead letter that will not arrive: counted and logged; the row is passed over all the same
 * (re-reading the page would only refuse it again, holding every good row after it back). */
static void dead_letter_lost(struct publisher *pub, rd_kafka_resp_err_t err)
{
    producer_count(&pub->stats->dlq_lost, pub->stats->m_dlq_lost);
    log_emit_limited(LOG_ERROR, "dead_letter.lost", 10, "topic=%s error=%s", pub->dlq_topic,
                     LQ(rd_kafka_err2str(err)));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct publisher *pub = opaque;
    struct page *pg = rkm->_private;
    if (!pg) {
        if (rkm->err) {
            log_emit_limited(LOG_WARN, "checkpoint.undelivered", 10, "error=%s",
                             LQ(rd_kafka_err2str(rkm->err)));
        }
        return; /* a checkpoint */
    }
    if (rkm->err && strcmp(rd_kafka_topic_name(rkm->rkt), pub->dlq_topic) == 0) {
        dead_letter_lost(pub, rkm->err);
        ledger_row_done(pub->ledger, pg, true); /* a lost dead letter never holds the page */
        return;
    }
    if (rkm->err) {
        producer_count(&pub->stats->undelivered, pub->stats->m_undelivered);
        log_emit_limited(LOG_ERROR, "publish.undelivered", 10, "topic=%s error=%s",
                         rd_kafka_topic_name(rkm->rkt), LQ(rd_kafka_err2str(rkm->err)));
    }
    ledger_row_done(pub->ledger, pg, rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

struct publisher *publisher_new(rd_kafka_conf_t *conf, struct ledger *ledger,
                                struct producer_stats *stats, const char *topic,
                                const char *dlq_topic, char *errstr, size_t errstr_size)
{
    struct publisher *pub = calloc(1, sizeof(*pub));
    if (!pub) {
        rd_kafka_conf_destroy(conf);
        err_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pub->ledger = ledger;
    pub->stats = stats;
    snprintf(pub->topic, sizeof(pub->topic), "%s", topic);
    snprintf(pub->dlq_topic, sizeof(pub->dlq_topic), "%s", dlq_topic);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, pub);
    pub->rk = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!pub->rk) {
        free(pub);
        return NULL;
    }
    return pub;
}

void publisher_destroy(struct publisher *pub)
{
    if (pub) {
        rd_kafka_destroy(pub->rk);
        free(pub);
    }
}

rd_kafka_t *publisher_rk(struct publisher *pub)
{
    return pub->rk;
}

void publisher_poll(struct publisher *pub, int timeout_ms)
{
    rd_kafka_poll(pub->rk, timeout_ms);
}

int publisher_flush(struct publisher *pub, int timeout_ms)
{
    rd_kafka_flush(pub->rk, timeout_ms);
    return rd_kafka_outq_len(pub->rk);
}

/* A message that was not taken: the page cannot complete, so the checkpoint will not pass it. */
static void not_taken(struct publisher *pub, struct page *pg, const char *topic,
                      rd_kafka_resp_err_t err)
{
    log_emit_limited(LOG_ERROR, "publish.failed", 10, "topic=%s error=%s", topic,
                     LQ(rd_kafka_err2str(err)));
    ledger_row_done(pub->ledger, pg, false); /* the last touch of pg */
}

void publish_incident(struct publisher *pub, struct page *pg, const char *key, void *value,
                      size_t len, const char *fp_hex, const char *unit)
{
    for (;;) {
        rd_kafka_resp_err_t err;
        if (fp_hex) {
            rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
            rd_kafka_header_add(hdrs, PUBLISH_HDR_FP, -1, fp_hex, -1);
            rd_kafka_header_add(hdrs, PUBLISH_HDR_UNIT, -1, unit ? unit : "", -1);
            err = rd_kafka_producev(
                pub->rk, RD_KAFKA_V_TOPIC(pub->topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(pg), RD_KAFKA_V_END);
            if (err) {
                rd_kafka_headers_destroy(hdrs); /* taken only on success */
            }
        } else {
            err = rd_kafka_producev(pub->rk, RD_KAFKA_V_TOPIC(pub->topic),
                                    RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(pg),
                                    RD_KAFKA_V_END);
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            producer_count(&pub->stats->published, pub->stats->m_published);
            return; /* value and the page's count now belong to librdkafka */
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_requested) {
            free(value);
            not_taken(pub, pg, pub->topic, err);
            return;
        }
        usleep(2000); /* queue full: the main thread is serving delivery reports */
    }
}

void publish_dead_letter(struct publisher *pub, struct page *pg, const struct deadletter *dl,
                         const char *raw, size_t len)
{
    producer_count(&pub->stats->rejected, pub->stats->m_rejected);
    for (;;) {
        rd_kafka_resp_err_t err = deadletter_produce(pub->rk, pub->dlq_topic, dl, raw, len, pg);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_requested) {
            dead_letter_lost(pub, err);
            ledger_row_done(pub->ledger, pg, true); /* the last touch of pg */
            return;
        }
        usleep(2000);
    }
}
