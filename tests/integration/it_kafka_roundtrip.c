/* Integration: create a topic through the admin API, produce encoded incidents with an
 * idempotent acks=all producer, consume them back and compare field by field. Writes each raw
 * message value (hex) and the expected values (JSON) for tests/integration/avro_decode.py.
 * Needs the local stack (make up). Usage: it_kafka_roundtrip OUTDIR */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/kafka.h"
#include "common/log.h"

#define N 200

extern char **environ;
#include "tests/integration/check.h"

static void make_incident(struct incident *inc, int i)
{
    char buf[64];
    incident_init(inc);
    incident_set_str(&inc->city, "testville");
    snprintf(buf, sizeof(buf), "id-%04d", i);
    incident_set_str(&inc->incident_id, buf);
    if (i % 3) {
        snprintf(buf, sizeof(buf), "R%d", i / 3);
        incident_set_str(&inc->report_id, buf);
    }
    inc->occurred_at = 1700000000000000LL + (int64_t)i * 3600000000LL;
    inc->reported_at = i % 5 ? inc->occurred_at + 600000000LL : TS_NULL;
    inc->source_updated_at = 1700100000123000LL + i;
    incident_set_str(&inc->offense_code, i % 7 ? "0460" : NULL);
    incident_set_str(&inc->offense, i % 2 ? "BATTERY: SIMPLE" : "Vol \xc3\xa0 l'\xc3\xa9talage");
    incident_set_str(&inc->category, i % 2 ? "assault" : "theft");
    incident_set_str(&inc->crime_against, i % 2 ? "person" : "property");
    incident_set_str(&inc->area, i % 4 ? "015" : NULL);
    incident_set_str(&inc->beat, "1524");
    incident_set_str(&inc->address, "054XX W RICE ST");
    inc->has_coords = i % 6 != 0;
    inc->latitude = 41.8 + i * 1e-4;
    inc->longitude = -87.7 - i * 1e-4;
    inc->arrest = (int8_t)(i % 3 - 1);
    inc->domestic = (int8_t)(i % 2);
    for (int a = 0; a < i % 5; a++) {
        char k[16], v[32];
        snprintf(k, sizeof(k), "field_%d", a);
        snprintf(v, sizeof(v), "value \xe2\x9c\x93 %d", i * a);
        incident_add_attr(inc, k, v);
    }
    inc->ingested_at = 1701000000000000LL + i; /* after every occurred_at */
}

static json_t *nullable_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *incident_json(const struct incident *inc)
{
    json_t *attrs = json_object();
    for (size_t i = 0; i < inc->n_attrs; i++) {
        json_object_set_new(attrs, inc->attrs[i].key, json_string(inc->attrs[i].value));
    }
    json_t *o = json_object();
    json_object_set_new(o, "city", json_string(inc->city));
    json_object_set_new(o, "incident_id", json_string(inc->incident_id));
    json_object_set_new(o, "report_id", nullable_str(inc->report_id));
    json_object_set_new(o, "occurred_at", json_integer(inc->occurred_at));
    json_object_set_new(o, "reported_at",
                        inc->reported_at == TS_NULL ? json_null() : json_integer(inc->reported_at));
    json_object_set_new(o, "source_updated_at", json_integer(inc->source_updated_at));
    json_object_set_new(o, "offense_code", nullable_str(inc->offense_code));
    json_object_set_new(o, "offense", nullable_str(inc->offense));
    json_object_set_new(o, "category", json_string(inc->category));
    json_object_set_new(o, "crime_against", json_string(inc->crime_against));
    json_object_set_new(o, "area", nullable_str(inc->area));
    json_object_set_new(o, "beat", nullable_str(inc->beat));
    json_object_set_new(o, "address", nullable_str(inc->address));
    json_object_set_new(o, "latitude", inc->has_coords ? json_real(inc->latitude) : json_null());
    json_object_set_new(o, "longitude", inc->has_coords ? json_real(inc->longitude) : json_null());
    json_object_set_new(o, "arrest",
                        inc->arrest == TRI_NULL ? json_null() : json_boolean(inc->arrest));
    json_object_set_new(o, "domestic",
                        inc->domestic == TRI_NULL ? json_null() : json_boolean(inc->domestic));
    json_object_set_new(o, "attributes", attrs);
    json_object_set_new(o, "ingested_at", json_integer(inc->ingested_at));
    return o;
}

static int delivered, delivery_errors;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (rkm->err) {
        delivery_errors++;
        fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(rkm->err));
    } else {
        delivered++;
    }
}

int main(int argc, char **argv)
{
    char errstr[512], topic[128];
    const char *brokers = getenv("BLOTTER_KAFKA_BROKERS");
    const char *outdir = argc > 1 ? argv[1] : "/tmp";

    log_setup(LOG_WARN, LOG_FORMAT_LOGFMT, "it_kafka_roundtrip");
    if (!brokers) {
        brokers = "127.0.0.1:19092";
    }
    snprintf(topic, sizeof(topic), "it.roundtrip.%d.%ld", getpid(), (long)time(NULL));

    for (int framing = 0; framing < 2; framing++) {
        int32_t schema_id = framing ? 17 : 0;
        struct codec *codec = codec_new(schema_id, errstr, sizeof(errstr));
        CHECK(codec, "codec: %s", errstr);
        char this_topic[160];
        snprintf(this_topic, sizeof(this_topic), "%s.%s", topic, framing ? "confluent" : "single");

        /* Producer: create the topic (twice: the second sees it exists), then produce. */
        rd_kafka_conf_t *conf =
            kafka_conf_new(KAFKA_PRODUCER, brokers, environ, errstr, sizeof(errstr));
        CHECK(conf, "conf: %s", errstr);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        CHECK(rk, "producer: %s", errstr);
        struct kafka_topic_spec spec = {this_topic, 3, 1, 1};
        for (int k = 0; k < 2; k++) {
            enum err_class cls = kafka_ensure_topics(rk, &spec, 1, 15000, errstr, sizeof(errstr));
            CHECK(cls == ERR_OK, "ensure_topics #%d: %s", k, errstr);
        }
        char ack[64];
        size_t acksz = sizeof(ack);
        const rd_kafka_conf_t *cur = rd_kafka_conf(rk);
        rd_kafka_conf_get(cur, "acks", ack, &acksz);
        CHECK(strcmp(ack, "-1") == 0 || strcmp(ack, "all") == 0, "acks=%s", ack);
        acksz = sizeof(ack);
        rd_kafka_conf_get(cur, "enable.idempotence", ack, &acksz);
        CHECK(strcmp(ack, "true") == 0, "enable.idempotence=%s", ack);

        delivered = delivery_errors = 0;
        for (int i = 0; i < N; i++) {
            struct incident inc;
            void *buf;
            size_t len;
            make_incident(&inc, i);
            CHECK(codec_encode(codec, &inc, &buf, &len, errstr, sizeof(errstr)) == ERR_OK, "%s",
                  errstr);
            rd_kafka_resp_err_t err;
            while ((err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(this_topic),
                        RD_KAFKA_V_KEY(inc.incident_id, strlen(inc.incident_id)),
                        RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
            }
            CHECK(err == 0, "produce: %s", rd_kafka_err2str(err));
            if (err) {
                free(buf);
            }
            incident_clear(&inc);
            rd_kafka_poll(rk, 0);
        }
        CHECK(rd_kafka_flush(rk, 30000) == 0, "flush timed out");
        CHECK(delivered == N && delivery_errors == 0, "delivered %d of %d", delivered, N);
        rd_kafka_destroy(rk);

        /* Consumer: read everything back. */
        conf = kafka_conf_new(KAFKA_CONSUMER, brokers, environ, errstr, sizeof(errstr));
        char group[200];
        snprintf(group, sizeof(group), "%s.group", this_topic);
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
        rd_kafka_t *rkc = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        CHECK(rkc, "consumer: %s", errstr);
        rd_kafka_poll_set_consumer(rkc);
        rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(subs, this_topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(rkc, subs);
        rd_kafka_topic_partition_list_destroy(subs);

        char path[512];
        snprintf(path, sizeof(path), "%s/roundtrip-%s.jsonl", outdir,
                 framing ? "confluent" : "single");
        FILE *out = fopen(path, "w");
        CHECK(out, "cannot write %s", path);
        int seen[N] = {0}, got = 0, eofs = 0;
        time_t deadline = time(NULL) + 60;
        while (got < N && time(NULL) < deadline) {
            rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rkc, 500);
            if (!rkm) {
                continue;
            }
            if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                eofs++;
            } else if (rkm->err) {
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(rkm));
            } else {
                struct incident dec, want;
                incident_init(&dec);
                enum err_class cls =
                    codec_decode(codec, rkm->payload, rkm->len, &dec, errstr, sizeof(errstr));
                CHECK(cls == ERR_OK, "decode: %s", errstr);
                int i = cls == ERR_OK ? atoi(dec.incident_id + 3) : -1;
                if (i >= 0 && i < N) {
                    make_incident(&want, i);
                    CHECK(incident_equal(&dec, &want), "incident %d differs after round trip", i);
                    CHECK(rkm->key_len == strlen(want.incident_id) &&
                              memcmp(rkm->key, want.incident_id, rkm->key_len) == 0,
                          "key of %d", i);
                    seen[i]++;
                    /* One line: hex of the raw value, tab, the expected record as JSON. */
                    for (size_t b = 0; b < rkm->len; b++) {
                        fprintf(out, "%02x", ((unsigned char *)rkm->payload)[b]);
                    }
                    json_t *j = incident_json(&want);
                    char *js = json_dumps(j, JSON_COMPACT);
                    fprintf(out, "\t%s\n", js);
                    free(js);
                    json_decref(j);
                    incident_clear(&want);
                }
                got++;
                incident_clear(&dec);
            }
            rd_kafka_message_destroy(rkm);
        }
        fclose(out);
        for (int i = 0; i < N; i++) {
            CHECK(seen[i] == 1, "incident %d seen %d times", i, seen[i]);
        }
        rd_kafka_consumer_close(rkc);
        rd_kafka_destroy(rkc);
        codec_destroy(codec);
    }
    if (failures == 0) {
        printf("ok: %d incidents round-tripped through Kafka in each framing\n", N);
    }
    return failures ? 1 : 0;
}
