/* The dead-letter envelope. See deadletter.h. */
#include "common/deadletter.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"

static void add(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value) {
        size_t len = strlen(value);
        rd_kafka_header_add(h, name, -1, value,
                            (ssize_t)(len > DEADLETTER_MAX_REASON ? DEADLETTER_MAX_REASON : len));
    }
}

rd_kafka_headers_t *deadletter_headers(const struct deadletter *dl, int64_t now_us)
{
    char when[40], part[16], off[32];
    rd_kafka_headers_t *h = rd_kafka_headers_new(10);
    us_format(now_us, false, when, sizeof(when));
    add(h, "blotter.reason", dl->reason);
    add(h, "blotter.rejected_by", dl->rejected_by);
    add(h, "blotter.rejected_at", when);
    add(h, "blotter.city", dl->city);
    add(h, "blotter.source", dl->source);
    add(h, "blotter.dataset", dl->dataset);
    if (dl->topic) {
        snprintf(part, sizeof(part), "%" PRId32, dl->partition);
        snprintf(off, sizeof(off), "%" PRId64, dl->offset);
        add(h, "blotter.topic", dl->topic);
        add(h, "blotter.partition", part);
        add(h, "blotter.offset", off);
        if (dl->key) {
            size_t klen = dl->key_len > DEADLETTER_MAX_KEY ? DEADLETTER_MAX_KEY : dl->key_len;
            rd_kafka_header_add(h, "blotter.key", -1, dl->key, (ssize_t)klen);
        }
    }
    return h;
}

rd_kafka_resp_err_t deadletter_produce(rd_kafka_t *rk, const char *topic,
                                       const struct deadletter *dl, const void *value, size_t len,
                                       void *opaque)
{
    rd_kafka_headers_t *h = deadletter_headers(dl, now_us());
    const char *key = dl->city && strlen(dl->city) <= DEADLETTER_MAX_KEY ? dl->city : "";
    if (len > DEADLETTER_MAX_VALUE) {
        char full[32];
        snprintf(full, sizeof(full), "%zu", len);
        rd_kafka_header_add(h, "blotter.truncated", -1, full, -1);
        len = DEADLETTER_MAX_VALUE;
        const unsigned char *v = value;
        for (int i = 0; i < 3 && len && (v[len] & 0xC0) == 0x80; i++) {
            len--; /* not inside a UTF-8 sequence of a text input */
        }
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h); /* taken only on success */
    }
    return err;
}

void deadletter_city_of_topic(const char *topic, char *buf, size_t n)
{
    const char *p = topic ? strstr(topic, ".incidents.") : NULL;
    snprintf(buf, n, "%s", p ? p + strlen(".incidents.") : "");
}
