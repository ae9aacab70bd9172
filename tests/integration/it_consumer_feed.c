/* Test feeder for the consumer: produces deterministic encoded incidents of one city into
 * <prefix>.incidents.<city> and writes what the warehouse must hold afterwards.
 *
 *   it_consumer_feed PREFIX CITY N SEED ROUND [--expect FILE] [--bad K] [--partitions P]
 *
 * ROUND 0 produces version 0 of incidents 0..N-1 (and K undecodable messages with --bad).
 * ROUND r >= 1 produces, for about a fifth of the incidents, version r (newer: source_updated_at
 * one day later per round; a third of them move occurred_at by 40 days, across a month
 * boundary), then for half of those the previous version again (an older version delivered
 * after a newer one), and for some a "tie": two contents with the same source_updated_at, the
 * winner being the one with the greater version hash (signed), delivered loser last.
 * --expect writes the newest version of every incident after rounds 0..ROUND as TSV:
 *   city, incident_id, source_updated_at, version_hash, category, occurred_at
 * Times are ISO 8601 UTC with microseconds. Needs the local stack (Kafka).
 * --wide 1 gives every incident the attributes of a real Chicago row (30 source fields, as the
 * producer keeps them) instead of two: the benchmark's data set as wide as a real city's. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/kafka.h"
#include "common/log.h"
#include "consumers/warehouse.h"

extern char **environ;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t h4(uint64_t seed, uint64_t i, uint64_t r, uint64_t salt)
{
    return mix(mix(mix(mix(seed) ^ i) ^ r) ^ salt);
}

static uint64_t seed;

/* Whether incident i gets a new version in round r (r >= 1). */
static bool updated_in(long i, int r)
{
    return r >= 1 && h4(seed, (uint64_t)i, (uint64_t)r, 1) % 5 == 0;
}
static bool moves_in(long i, int r)
{
    return h4(seed, (uint64_t)i, (uint64_t)r, 2) % 3 == 0;
}
static bool resend_older(long i, int r)
{
    return h4(seed, (uint64_t)i, (uint64_t)r, 3) % 2 == 0;
}
static bool tie_in(long i, int r)
{
    return h4(seed, (uint64_t)i, (uint64_t)r, 4) % 7 == 0;
}

static const char *categories[][2] = {
    {"theft", "property"},   {"assault", "person"},    {"burglary", "property"},
    {"robbery", "property"}, {"narcotics", "society"}, {"other", "other"},
};

#define T_2024  1704067200000000LL /* 2024-01-01T00:00:00Z */
#define T_2025  1735689600000000LL
#define US_DAY  86400000000LL
#define US_HOUR 3600000000LL

static bool wide;

/* The source fields of a Chicago row (producers/cities/chicago.json's dataset), as the producer
 * keeps them in attributes: every field but the mapped id, as text, the location as JSON. */
static void add_chicago_attrs(struct incident *inc, long i, uint64_t h)
{
    static const char *regions[] = {
        ":@computed_region_43wa_7qmu", ":@computed_region_6mkv_f3dw", ":@computed_region_awaf_s7ux",
        ":@computed_region_bdys_3d7i", ":@computed_region_d3ds_rm58", ":@computed_region_d9mm_jgwp",
        ":@computed_region_rpca_8um6", ":@computed_region_vrxf_vc4k",
    };
    static const char *types[][3] = {
        {"0460", "BATTERY", "SIMPLE"},
        {"0910", "MOTOR VEHICLE THEFT", "AUTOMOBILE"},
        {"0820", "THEFT", "$500 AND UNDER"},
        {"0486", "BATTERY", "DOMESTIC BATTERY SIMPLE"},
        {"1310", "CRIMINAL DAMAGE", "TO PROPERTY"},
    };
    char v[160];
    for (size_t k = 0; k < sizeof(regions) / sizeof(regions[0]); k++) {
        snprintf(v, sizeof(v), "%u", (unsigned)(h >> (k * 4)) % (k < 2 ? 5000 : 80));
        incident_add_attr(inc, regions[k], v);
    }
    const char *const *t = types[h % 5];
    snprintf(v, sizeof(v), "%s", i % 2 ? "true" : "false");
    incident_add_attr(inc, "arrest", v);
    snprintf(v, sizeof(v), "%04u", (unsigned)(h % 2500));
    incident_add_attr(inc, "beat", v);
    snprintf(v, sizeof(v), "0%02uXX W RICE ST", (unsigned)(h % 90));
    incident_add_attr(inc, "block", v);
    snprintf(v, sizeof(v), "JA%06ld", i % 1000000);
    incident_add_attr(inc, "case_number", v);
    snprintf(v, sizeof(v), "%u", (unsigned)(h % 77) + 1);
    incident_add_attr(inc, "community_area", v);
    incident_add_attr(inc, "date", "2024-11-26T23:53:00.000");
    incident_add_attr(inc, "description", t[2]);
    snprintf(v, sizeof(v), "%03u", (unsigned)(h % 25) + 1);
    incident_add_attr(inc, "district", v);
    incident_add_attr(inc, "domestic", i % 7 ? "false" : "true");
    incident_add_attr(inc, "fbi_code", "08B");
    incident_add_attr(inc, "iucr", t[0]);
    snprintf(v, sizeof(v), "%.9f", inc->latitude);
    incident_add_attr(inc, "latitude", v);
    snprintf(v, sizeof(v), "{\"type\":\"Point\",\"coordinates\":[%.9f,%.9f]}", inc->longitude,
             inc->latitude);
    incident_add_attr(inc, "location", v);
    incident_add_attr(inc, "location_description", h % 3 ? "STREET" : "APARTMENT");
    snprintf(v, sizeof(v), "%.9f", inc->longitude);
    incident_add_attr(inc, "longitude", v);
    incident_add_attr(inc, "primary_type", t[1]);
    incident_add_attr(inc, "updated_on", "2024-12-03T15:49:45.000");
    snprintf(v, sizeof(v), "%u", (unsigned)(h % 50) + 1);
    incident_add_attr(inc, "ward", v);
    snprintf(v, sizeof(v), "%u", 1100000 + (unsigned)(h % 90000));
    incident_add_attr(inc, "x_coordinate", v);
    snprintf(v, sizeof(v), "%u", 1850000 + (unsigned)(h % 90000));
    incident_add_attr(inc, "y_coordinate", v);
    incident_add_attr(inc, "year", "2024");
}

/* Version r (variant 0 or the tie's variant 1) of incident i. */
static void make_version(struct incident *inc, const char *city, long i, int r, int variant)
{
    char buf[256];
    uint64_t h = h4(seed, (uint64_t)i, 0, 9);
    uint64_t hr = h4(seed, (uint64_t)i, (uint64_t)r, 10);
    incident_init(inc);
    incident_set_str(&inc->city, city);
    snprintf(buf, sizeof(buf), "I%06ld", i);
    incident_set_str(&inc->incident_id, buf);
    if (i % 3) {
        snprintf(buf, sizeof(buf), "R%ld", i / 3);
        incident_set_str(&inc->report_id, buf);
    }
    /* Spread over 2024 at minute resolution; each round shifts an hour, a move 40 days. */
    inc->occurred_at = T_2024 + (int64_t)(h % (365 * 24 * 60)) * 60000000LL;
    if (r >= 1) {
        inc->occurred_at += r * US_HOUR + (moves_in(i, r) ? 40 * US_DAY : 0);
    }
    inc->reported_at = inc->occurred_at + 15 * 60000000LL;
    inc->source_updated_at = T_2025 + (int64_t)(h % 1000000) * 1000000LL + r * US_DAY;
    int c = (int)(hr % 6);
    incident_set_str(&inc->category, categories[c][0]);
    incident_set_str(&inc->crime_against, categories[c][1]);
    incident_set_str(&inc->offense_code, i % 11 ? "0460" : NULL);
    /* Characters COPY and JSON must escape: tab, newline, backslash, quotes, non-ASCII. */
    snprintf(buf, sizeof(buf), "%s\tv%d%s \\ \"quoted\" caf\xc3\xa9\nline2", categories[c][0], r,
             variant ? " (corrected)" : "");
    incident_set_str(&inc->offense, buf);
    if (hr % 4) {
        snprintf(buf, sizeof(buf), "District %d", (int)(hr % 5));
        incident_set_str(&inc->area, buf);
    }
    incident_set_str(&inc->beat, "1524");
    incident_set_str(&inc->address, "054XX W RICE ST");
    inc->has_coords = i % 6 != 0;
    inc->latitude = 41.8 + (double)(h % 1000) * 1e-4;
    inc->longitude = -87.7 - (double)(h % 997) * 1e-4;
    inc->arrest = (int8_t)(hr % 3) - 1;
    inc->domestic = (int8_t)(i % 2);
    if (wide) {
        add_chicago_attrs(inc, i, h);
    } else {
        incident_add_attr(inc, "raw_id", inc->incident_id);
        incident_add_attr(inc, "note", "tab\there \"q\" back\\slash \xe2\x9c\x93");
    }
    inc->ingested_at = now_us();
}

/* The round of the newest version of incident i after rounds 0..round. */
static int newest(long i, int round)
{
    int r = 0;
    for (int k = 1; k <= round; k++) {
        if (updated_in(i, k)) {
            r = k;
        }
    }
    return r;
}

static int delivered, failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (rkm->err) {
        failed++;
    } else {
        delivered++;
    }
}

static int produce(rd_kafka_t *rk, const char *topic, const char *key, void *buf, size_t len)
{
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                    RD_KAFKA_V_VALUE(buf, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 100);
    }
    if (err) {
        free(buf);
        fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_poll(rk, 0);
    return 0;
}

static int produce_incident(rd_kafka_t *rk, struct codec *codec, const char *topic,
                            const struct incident *inc)
{
    void *buf;
    size_t len;
    char errstr[256];
    if (codec_encode(codec, inc, &buf, &len, errstr, sizeof(errstr)) != ERR_OK) {
        fprintf(stderr, "encode: %s\n", errstr);
        return -1;
    }
    return produce(rk, topic, inc->incident_id, buf, len);
}

static void ts(int64_t us, char *buf, size_t n)
{
    warehouse_format_ts(us, buf, n);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: it_consumer_feed PREFIX CITY N SEED ROUND [--expect FILE] "
                        "[--bad K] [--partitions P] [--rate PER_SECOND] [--wide 1]\n");
        return 2;
    }
    const char *prefix = argv[1], *city = argv[2];
    long n = atol(argv[3]);
    seed = strtoull(argv[4], NULL, 10);
    int round = atoi(argv[5]);
    const char *expect = NULL;
    int bad = 0, partitions = 3;
    long rate = 0; /* round 0 only: records per second, 0 = as fast as possible */
    for (int a = 6; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--expect") == 0) {
            expect = argv[a + 1];
        } else if (strcmp(argv[a], "--bad") == 0) {
            bad = atoi(argv[a + 1]);
        } else if (strcmp(argv[a], "--partitions") == 0) {
            partitions = atoi(argv[a + 1]);
        } else if (strcmp(argv[a], "--rate") == 0) {
            rate = atol(argv[a + 1]);
        } else if (strcmp(argv[a], "--wide") == 0) {
            wide = atoi(argv[a + 1]) != 0;
        }
    }
    log_setup(LOG_WARN, LOG_FORMAT_LOGFMT, "it_consumer_feed");
    const char *brokers = getenv("BLOTTER_KAFKA_BROKERS");
    char errstr[512], topic[256];
    kafka_topic_incidents(topic, sizeof(topic), prefix, city);

    struct codec *codec = codec_new(0, errstr, sizeof(errstr));
    rd_kafka_conf_t *conf = kafka_conf_new(KAFKA_PRODUCER, brokers ? brokers : "127.0.0.1:19092",
                                           environ, errstr, sizeof(errstr));
    if (!codec || !conf) {
        fprintf(stderr, "setup: %s\n", errstr);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "producer: %s\n", errstr);
        return 1;
    }
    /* The stack's replication (three nodes: 3, set by infra/local/env.sh). */
    const char *rf = getenv("BLOTTER_TOPIC_REPLICATION");
    struct kafka_topic_spec spec = {topic, partitions, rf && atoi(rf) > 0 ? atoi(rf) : 1, 1};
    if (kafka_ensure_topics(rk, &spec, 1, 15000, errstr, sizeof(errstr)) != ERR_OK) {
        fprintf(stderr, "topic: %s\n", errstr);
        return 1;
    }

    long produced = 0, moved = 0, older = 0, ties = 0;
    int rc = 0;
    int64_t start_ms = mono_ms();
    for (long i = 0; i < n && rc == 0; i++) {
        struct incident inc, prev, alt;
        if (rate > 0) {
            /* A steady rate: record i is due i/rate seconds after the start. */
            int64_t due = start_ms + i * 1000 / rate;
            while (mono_ms() < due) {
                rd_kafka_poll(rk, (int)(due - mono_ms()));
            }
        }
        if (round == 0) {
            make_version(&inc, city, i, 0, 0);
            rc |= produce_incident(rk, codec, topic, &inc);
            produced++;
            incident_clear(&inc);
            if (rate > 0 && i == 0) {
                /* The producer's start (its idempotence id, connections) is not the steady
                 * state being measured: deliver the first record, then start the clock. */
                rd_kafka_flush(rk, 10000);
                start_ms = mono_ms();
            }
            continue;
        }
        if (!updated_in(i, round)) {
            continue;
        }
        make_version(&inc, city, i, round, 0);
        if (tie_in(i, round)) {
            /* Same source_updated_at, other content: the greater hash wins; loser last. */
            make_version(&alt, city, i, round, 1);
            int c = warehouse_version_cmp(inc.source_updated_at, incident_content_hash(&inc),
                                          alt.source_updated_at, incident_content_hash(&alt));
            rc |= produce_incident(rk, codec, topic, c > 0 ? &inc : &alt);
            rc |= produce_incident(rk, codec, topic, c > 0 ? &alt : &inc);
            produced += 2;
            ties++;
            incident_clear(&alt);
        } else {
            rc |= produce_incident(rk, codec, topic, &inc);
            produced++;
        }
        moved += moves_in(i, round);
        if (resend_older(i, round)) {
            make_version(&prev, city, i, newest(i, round - 1), 0);
            rc |= produce_incident(rk, codec, topic, &prev);
            produced++;
            older++;
            incident_clear(&prev);
        }
        incident_clear(&inc);
    }
    for (int k = 0; k < bad && rc == 0; k++) {
        /* Unknown framing, an unknown fingerprint, a truncated body. */
        char key[32];
        snprintf(key, sizeof(key), "bad-%d", k);
        unsigned char *buf = malloc(16);
        memset(buf, 0xAB, 16);
        if (k % 3 == 1) {
            buf[0] = 0xC3;
            buf[1] = 0x01;
        } else if (k % 3 == 2) {
            struct incident inc;
            void *enc;
            size_t len;
            make_version(&inc, city, 0, 0, 0);
            codec_encode(codec, &inc, &enc, &len, errstr, sizeof(errstr));
            incident_clear(&inc);
            memcpy(buf, enc, 16); /* header and a cut body */
            free(enc);
        }
        rc |= produce(rk, topic, key, buf, 16);
        produced++;
    }
    if (rd_kafka_flush(rk, 60000) != 0 || failed || delivered != produced) {
        fprintf(stderr, "delivered %d of %ld (%d failed)\n", delivered, produced, failed);
        rc = 1;
    }
    rd_kafka_destroy(rk);

    if (expect && rc == 0) {
        FILE *f = fopen(expect, "w");
        if (!f) {
            perror(expect);
            return 1;
        }
        for (long i = 0; i < n; i++) {
            int r = newest(i, round);
            struct incident inc, alt;
            char t1[48], t2[48];
            make_version(&inc, city, i, r, 0);
            uint64_t hash = incident_content_hash(&inc);
            if (r >= 1 && tie_in(i, r)) {
                make_version(&alt, city, i, r, 1);
                uint64_t ah = incident_content_hash(&alt);
                if (warehouse_version_cmp(alt.source_updated_at, ah, inc.source_updated_at, hash) >
                    0) {
                    incident_clear(&inc);
                    inc = alt;
                    hash = ah;
                } else {
                    incident_clear(&alt);
                }
            }
            ts(inc.source_updated_at, t1, sizeof(t1));
            ts(inc.occurred_at, t2, sizeof(t2));
            fprintf(f, "%s\t%s\t%s\t%lld\t%s\t%s\n", inc.city, inc.incident_id, t1,
                    (long long)(int64_t)hash, inc.category, t2);
            incident_clear(&inc);
        }
        fclose(f);
    }
    codec_destroy(codec);
    printf("city=%s round=%d produced=%ld moved=%ld older=%ld ties=%ld bad=%d\n", city, round,
           produced, moved, older, ties, bad);
    return rc;
}
