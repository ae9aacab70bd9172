/* blotter-producer: follow one city's open-data source and publish every new or changed
 * incident to Kafka.
 *
 *   source kind: page after page from the checkpoint (producers/pass.c, producers/socrata.c)
 *     -> row workers: read, map (producers/city_map.c), Avro (common/codec.c)
 *     -> publish to <prefix>.incidents.<city>, unmappable rows to <prefix>.dlq (publish.c)
 *     -> delivery reports -> page ledger -> checkpoint in <prefix>.producer-state (ledger.c)
 *
 * The checkpoint never passes a row Kafka has not acknowledged, so the process can be killed at
 * any instant: a restart re-reads at most the pages in flight (duplicates, never gaps).
 *
 * This file only sets the stages up and tears them down. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/httpd.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "common/tz.h"
#include "producers/checkpoint.h"
#include "producers/city.h"
#include "producers/jarena.h"
#include "producers/ledger.h"
#include "producers/pass.h"
#include "producers/publish.h"
#include "producers/settings.h"
#include "producers/snapshot.h"
#include "producers/source.h"
#include "producers/stats.h"
#include "producers/workers.h"

extern char **environ;

static volatile sig_atomic_t ready;

static bool is_ready(void *arg, char *note, size_t note_size)
{
    (void)arg;
    (void)note;
    (void)note_size;
    return ready;
}

/* The checkpoint's key: the city, or the city and the backfill range. */
static void checkpoint_key(const struct producer_settings *set, char *key, size_t n)
{
    if (!set->backfill) {
        snprintf(key, n, "%s", set->city);
        return;
    }
    char s[40] = "-", u[40] = "-";
    if (set->since_us != TS_NULL) {
        us_format(set->since_us, false, s, sizeof(s));
    }
    if (set->until_us != TS_NULL) {
        us_format(set->until_us, false, u, sizeof(u));
    }
    snprintf(key, n, "%s|backfill|%s|%s", set->city, s, u);
}

/* Create the topics (a broker may need a moment after start). */
static int ensure_topics(struct producer *p, const char *topic, const char *dlq_topic)
{
    char err[512];
    const struct producer_settings *set = p->set;
    struct kafka_topic_spec specs[] = {
        {topic, set->svc.topic_partitions, set->svc.topic_replication, 1},
        {p->state_topic, 1, set->svc.topic_replication, 1},
        {dlq_topic, set->svc.topic_partitions, set->svc.topic_replication, 0},
    };
    for (int attempt = 0;; attempt++) {
        enum err_class cls =
            kafka_ensure_topics(publisher_rk(p->pub), specs, 3, 30000, err, sizeof(err));
        if (cls == ERR_OK) {
            return 0;
        }
        if (cls == ERR_FATAL || attempt >= 10 || stop_requested) {
            log_error("kafka.topics", "error=%s", LQ(err));
            return -1;
        }
        log_warn("kafka.topics", "attempt=%d error=%s", attempt + 1, LQ(err));
        sleep(2);
    }
}

/* Read the checkpoint (a topic created a moment ago has no leader yet: retry a little). */
static int load_checkpoint(struct producer *p, struct checkpoint_value *v, int *found)
{
    char err[512];
    for (int attempt = 0;; attempt++) {
        rd_kafka_conf_t *conf =
            kafka_conf_new(KAFKA_CONSUMER, p->set->svc.brokers, environ, err, sizeof(err));
        enum err_class cls =
            conf ? checkpoint_load(conf, p->state_topic, p->key, v, found, err, sizeof(err))
                 : ERR_FATAL;
        if (cls == ERR_OK) {
            return 0;
        }
        if (cls == ERR_FATAL || attempt >= 60 || stop_requested) {
            log_error("checkpoint.load", "error=%s", LQ(err));
            return -1;
        }
        if (attempt >= 3) {
            log_warn("checkpoint.load", "attempt=%d error=%s", attempt + 1, LQ(err));
        }
        usleep(250 * 1000);
    }
}

/* ---- A snapshot kind's snapshot, rebuilt from the incidents topic ---- */

static void on_published(void *ctx, const rd_kafka_message_t *rkm)
{
    struct snapshot *snap = ctx;
    rd_kafka_headers_t *hdrs = NULL;
    const void *fp_v = NULL, *unit_v = NULL;
    size_t fp_n = 0, unit_n = 0;
    uint64_t fp;
    char unit[256];
    if (!rkm->payload || !rkm->key || rd_kafka_message_headers(rkm, &hdrs) != 0 ||
        rd_kafka_header_get_last(hdrs, PUBLISH_HDR_FP, &fp_v, &fp_n) != 0 ||
        snapshot_fp_parse(fp_v, fp_n, &fp) != 0) {
        return; /* a tombstone, or a message without the headers: its row will be sent again */
    }
    rd_kafka_header_get_last(hdrs, PUBLISH_HDR_UNIT, &unit_v, &unit_n);
    snprintf(unit, sizeof(unit), "%.*s", unit_v ? (int)unit_n : 0,
             unit_v ? (const char *)unit_v : "");
    snapshot_load(snap, unit, rkm->key, rkm->key_len, fp);
}

static int load_snapshot(struct producer *p, const char *topic)
{
    char err[512];
    int64_t start = mono_ms();
    p->snap = snapshot_new();
    if (!p->snap) {
        log_error("snapshot.load", "topic=%s error=%s", topic, LQ("out of memory"));
        return -1;
    }
    /* A topic created a moment ago has no leader yet: retry a little, as for the checkpoint. */
    for (int attempt = 0;; attempt++) {
        rd_kafka_conf_t *conf =
            kafka_conf_new(KAFKA_CONSUMER, p->set->svc.brokers, environ, err, sizeof(err));
        enum err_class cls =
            conf ? topic_read_all(conf, topic, on_published, p->snap, err, sizeof(err)) : ERR_FATAL;
        if (cls == ERR_OK) {
            break;
        }
        snapshot_forget(p->snap);
        if (cls == ERR_FATAL || attempt >= 60 || stop_requested) {
            log_error("snapshot.load", "topic=%s error=%s", topic, LQ(err));
            return -1;
        }
        usleep(250 * 1000);
    }
    log_info("snapshot.loaded", "city=%s topic=%s incidents=%zu ms=%lld", p->city->name, topic,
             snapshot_size(p->snap), (long long)(mono_ms() - start));
    return 0;
}

/* The backfill range as UTC instants, for a kind that does not ask the source for it. */
static int64_t wall_to_utc(const struct city *city, int64_t wall_us)
{
    if (wall_us == TS_NULL) {
        return TS_NULL;
    }
    struct civil_time ct;
    us_to_civil(wall_us, &ct);
    return tz_to_utc_us(city->tz, &ct);
}

/* Kafka, topics, checkpoint, workers and the source, in that order. 0, or the exit code: 2 for
 * a configuration librdkafka refuses, 1 for anything else (a broker that refused us too). */
static int start_stages(struct producer *p)
{
    char err[1024], topic[256], dlq_topic[256];
    const struct producer_settings *set = p->set;
    kafka_topic_incidents(topic, sizeof(topic), set->svc.topic_prefix, set->city);
    kafka_topic_state(p->state_topic, sizeof(p->state_topic), set->svc.topic_prefix);
    kafka_topic_dlq(dlq_topic, sizeof(dlq_topic), set->svc.topic_prefix);
    checkpoint_key(set, p->key, sizeof(p->key));

    rd_kafka_conf_t *conf =
        kafka_conf_new(KAFKA_PRODUCER, set->svc.brokers, environ, err, sizeof(err));
    if (!conf) {
        log_error("kafka.config", "error=%s", LQ(err));
        return 2;
    }
    p->pub = publisher_new(conf, p->ledger, p->stats, topic, dlq_topic, err, sizeof(err));
    if (!p->pub) {
        log_error("kafka.failed", "error=%s", LQ(err));
        return 2; /* librdkafka refused its configuration (a property, a CA file) */
    }
    struct checkpoint_value acked;
    int found = 0;
    if (ensure_topics(p, topic, dlq_topic) != 0 || load_checkpoint(p, &acked, &found) != 0) {
        return 1;
    }
    ledger_resume(p->ledger, &acked);
    /* A backfill loads a range once and publishes every row of it (the warehouse's keys
     * dedupe): it needs no snapshot, and its memory stays flat whatever the file's size. */
    if (p->kind->snapshot && !set->backfill && load_snapshot(p, topic) != 0) {
        return 1;
    }
    bool filter = set->backfill && !p->kind->range_in_query;
    struct workers_setup ws = {set->workers,
                               set->svc.schema_registry_id,
                               p->city,
                               p->kind,
                               p->ledger,
                               p->pub,
                               p->stats,
                               p->snap,
                               filter ? wall_to_utc(p->city, set->since_us) : TS_NULL,
                               filter ? wall_to_utc(p->city, set->until_us) : TS_NULL,
                               &set->limits};
    p->workers = workers_start(&ws, err, sizeof(err));
    if (!p->workers) {
        log_error("workers.failed", "error=%s", LQ(err));
        return 1;
    }
    struct source_options opt = {set->base_url, set->app_token,  set->http_timeout_s, set->since_us,
                                 set->until_us, &stop_requested, &set->limits};
    p->src = p->kind->open(p->city, &opt, err, sizeof(err));
    if (!p->src) {
        log_error("source.failed", "error=%s", LQ(err));
        return 1;
    }
    log_info("producer.start",
             "city=%s source=%s dataset=%s key=%s resume_updated_at=%s resume_id=%s "
             "rows_so_far=%llu",
             p->city->name, p->kind->name, p->city->dataset, LQ(p->key),
             found && acked.ks.set ? acked.ks.updated_at : "-",
             found && acked.ks.set ? LQ(acked.ks.id) : "-", (unsigned long long)acked.rows);
    return 0;
}

static void stop_stages(struct producer *p)
{
    if (p->src) {
        p->kind->close(p->src);
    }
    workers_stop(p->workers);
    publisher_destroy(p->pub);
    ledger_destroy(p->ledger);
    snapshot_destroy(p->snap);
}

/* Settings, the city file, the metrics endpoint: everything a usage error can come from is
 * checked before any I/O. Returns an exit code, or -1 to go on. */
static int configure(struct config *cfg, struct producer_settings *set, struct city **city,
                     int argc, char **argv)
{
    char err[1024];
    switch (config_load(cfg, argc, argv, environ, stdout, stderr)) {
    case CONFIG_EXIT_OK:
        return 0;
    case CONFIG_EXIT_USAGE:
        return 2;
    default:
        break;
    }
    if (producer_settings_load(set, cfg, stderr) != 0) {
        return 2;
    }
    config_setup_log(cfg, "blotter-producer");
    *city = city_load(set->cities_dir, set->city, err, sizeof(err));
    if (!*city) {
        fprintf(stderr, "blotter-producer: %s\n", err);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct producer_settings set;
    struct producer_stats stats;
    struct city *city = NULL;
    struct httpd *httpd = NULL;
    char err[1024];
    jarena_install(); /* before anything allocates through jansson */
    struct config *cfg = config_new(
        P_PRODUCER, "blotter-producer",
        "Follow one city's open-data source and publish every new or changed incident to "
        "Kafka.\n  blotter-producer --city NAME [--once]\n  "
        "blotter-producer --city NAME --since DATE [--until DATE]   backfill");
    if (!cfg) {
        return 1;
    }
    int rc = configure(cfg, &set, &city, argc, argv);
    if (rc >= 0) {
        city_destroy(city);
        config_destroy(cfg);
        return rc;
    }
    config_log(cfg);
    if (city->frozen && !set.backfill) {
        log_warn("city.frozen", "city=%s dataset=%s note=%s", city->name, city->dataset,
                 LQ("the source is no longer updated; polling will find nothing new"));
    }
    stop_setup();
    producer_stats_init(&stats, city->name);
    struct producer p = {.set = &set, .city = city, .kind = source_kind_of(city), .stats = &stats};
    rc = 1;
    if (*set.svc.http_listen &&
        !(httpd = httpd_start(set.svc.http_listen, is_ready, NULL, err, sizeof(err)))) {
        log_error("http.failed", "error=%s", LQ(err));
    } else if ((p.ledger = ledger_new(NULL)) && (rc = start_stages(&p)) == 0) {
        ready = 1;
        rc = pass_loop(&p);
        log_info("producer.stop", "city=%s fetched=%llu published=%llu rejected=%llu exit=%d",
                 city->name, (unsigned long long)stats.fetched, (unsigned long long)stats.published,
                 (unsigned long long)stats.rejected, rc);
    }
    httpd_stop(httpd);
    stop_stages(&p);
    city_destroy(city);
    config_destroy(cfg);
    return rc;
}
