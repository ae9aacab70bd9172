/* blotter-consumer: city incident topics -> PostgreSQL warehouse, exactly.
 *
 *   intake (consumers/intake.c: consume, rebalance, pause, carry)
 *     -> batch (consumers/batch.c): decode -> seen? (seen.c) -> upsert + aggregate, one
 *        transaction (warehouse.c) -> dead letters acknowledged (dlq.c) -> mark seen
 *     -> store offsets (the intake commits them every auto.commit.interval.ms, and before it
 *        gives partitions away)
 *
 * --replay reads a range of message timestamps under a group of its own and commits nothing
 * (consumers/replay.c). This file only sets the stages up, runs the loop and tears down. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "common/backoff.h"
#include "common/codec.h"
#include "common/config.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/refused.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "consumers/batch.h"
#include "consumers/dlq.h"
#include "consumers/intake.h"
#include "consumers/seen.h"
#include "consumers/settings.h"
#include "consumers/stats.h"
#include "consumers/warehouse.h"

extern char **environ;

/* What --until-idle waits for, for /readyz (written by the main thread, read by the server's). */
static struct {
    pthread_mutex_t mu;
    char text[512];
} waiting = {PTHREAD_MUTEX_INITIALIZER, ""};

static void set_waiting(const char *text)
{
    pthread_mutex_lock(&waiting.mu);
    snprintf(waiting.text, sizeof(waiting.text), "%s", text);
    pthread_mutex_unlock(&waiting.mu);
}

static bool ready_cb(void *arg, char *note, size_t note_size)
{
    struct consumer *c = arg;
    pthread_mutex_lock(&waiting.mu);
    snprintf(note, note_size, "%s", waiting.text);
    pthread_mutex_unlock(&waiting.mu);
    return atomic_load(&c->started) && intake_assigned(c->intake) && atomic_load(&c->wh_ok);
}

/* Connect to the warehouse (applying migrations), retrying transient failures with backoff.
 * ERR_TRANSIENT: a stop was requested while waiting. */
static enum err_class connect_warehouse(struct consumer *c, char *errstr, size_t errstr_size)
{
    struct backoff retry;
    backoff_init(&retry, c->set->svc.backoff_ms, c->set->svc.backoff_max_ms);
    for (;;) {
        enum err_class cls = warehouse_connect(c->wh, errstr, errstr_size);
        if (cls == ERR_OK) {
            atomic_store(&c->wh_ok, true);
            return ERR_OK;
        }
        if (cls != ERR_TRANSIENT) {
            log_error("warehouse.fatal", "error=%s", LQ(errstr));
            return cls;
        }
        long wait = backoff_next_ms(&retry, -1);
        log_emit_limited(LOG_WARN, "warehouse.unreachable", 10, "error=%s backoff_ms=%ld",
                         LQ(errstr), wait);
        for (long waited = 0; waited < wait && !stop_requested; waited += 100) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (stop_requested) {
            return ERR_TRANSIENT;
        }
    }
}

static void check_default_partition(struct consumer *c)
{
    long long rows = 0;
    char errstr[512];
    if (warehouse_drain_default(c->wh, &rows, errstr, sizeof(errstr)) != ERR_OK) {
        log_emit_limited(LOG_WARN, "warehouse.default_check_failed", 60, "error=%s", LQ(errstr));
        return;
    }
    metric_set(c->stats->default_rows, (double)rows);
    if (rows) {
        log_warn("warehouse.default_partition", "rows=%lld action=drained", rows);
    }
}

/* --until-idle: whether the group is done, every partition of the subscribed topics committed
 * to its high watermark (measured now). When not, says what it waits for in the log (every
 * 10 s) and in /readyz. */
static bool group_done(struct consumer *c, int64_t now, int64_t *last_log_ms)
{
    struct intake_progress p;
    char errstr[512], text[512];
    if (intake_progress(c->intake, &p, errstr, sizeof(errstr)) != ERR_OK) {
        /* Typically while the group rebalances (the coordinator answers no offset fetch) or
         * Kafka is away: not done, and when no partition is ours, others hold them. */
        bool none = !intake_assigned(c->intake);
        snprintf(text, sizeof(text),
                 "until-idle: waiting; %s; the group's progress cannot be "
                 "measured: %.160s",
                 none ? "no partition is ours (held by other members, departed ones until their "
                        "sessions expire, or by nobody during a rebalance)"
                      : "some partitions are ours",
                 errstr);
        set_waiting(text);
        if (now - *last_log_ms >= 10000) {
            log_info("consumer.waiting",
                     "partitions_ours=%s error=%s note=\"not done: progress "
                     "unknown\"",
                     none ? "none" : "some", LQ(errstr));
            *last_log_ms = now;
        }
        return false;
    }
    if (p.behind == 0) {
        set_waiting("");
        log_info("consumer.group_done", "partitions=%d", p.partitions);
        return true;
    }
    snprintf(text, sizeof(text),
             "until-idle: waiting for %d of %d partitions (%lld messages) to be committed to "
             "their end; %d of them held by another member (a departed one until its session "
             "expires) or unassigned",
             p.behind, p.partitions, p.lag, p.not_ours);
    set_waiting(text);
    if (now - *last_log_ms >= 10000) {
        log_info("consumer.waiting",
                 "partitions=%d behind=%d lag=%lld not_ours=%d note=\"not done: partitions "
                 "held by another member, departed or live, or unassigned\"",
                 p.partitions, p.behind, p.lag, p.not_ours);
        *last_log_ms = now;
    }
    return false;
}

/* The loop of the diagram: collect a batch, process it, look around. The exit code. */
static int run(struct consumer *c)
{
    struct batch b = {0};
    int rc = 0;
    const struct consumer_settings *set = c->set;
    int64_t last_default_check = 0, last_activity_ms = mono_ms(), start_ms = mono_ms();
    int64_t last_done_check = 0, last_wait_log = 0;
    while (!stop_requested) {
        intake_collect(c->intake, &b);
        if (b.n) {
            enum err_class cls = batch_process(c, &b);
            last_activity_ms = mono_ms();
            if (cls == ERR_FATAL) {
                rc = 1;
                break;
            }
            if (cls == ERR_TRANSIENT) {
                break; /* stop requested while the warehouse was down: nothing stored */
            }
            batch_clear(&b);
        }
        if (intake_fenced(c->intake)) {
            char errstr[512];
            batch_clear(&b); /* refused by batch_process: nothing of it is committed */
            if (intake_renew(c->intake, errstr, sizeof(errstr)) != ERR_OK) {
                log_error("consumer.fatal", "error=%s", LQ(errstr));
                rc = 1;
                break;
            }
            continue;
        }
        int64_t now = mono_ms();
        intake_tick(c->intake);
        if (now - last_default_check >= 30000 && warehouse_connected(c->wh)) {
            check_default_partition(c);
            last_default_check = now;
        }
        if (intake_replay_done(c->intake) && intake_carried(c->intake) == 0) {
            log_info("replay.done", "messages=%llu", c->stats->t_messages);
            break;
        }
        /* Done means the whole group is at the end, not merely that our partitions are quiet. */
        if (set->until_idle_s && !set->replay && intake_carried(c->intake) == 0 &&
            now - last_activity_ms >= set->until_idle_s * 1000 && now - last_done_check >= 2000) {
            if (group_done(c, now, &last_wait_log)) {
                log_info("consumer.idle", "seconds=%ld", set->until_idle_s);
                break;
            }
            last_done_check = mono_ms();
        }
        if (set->until_idle_max_s && now - start_ms >= set->until_idle_max_s * 1000) {
            log_error("consumer.not_done",
                      "seconds=%ld note=\"the group did not reach the end of every partition in "
                      "time\"",
                      set->until_idle_max_s);
            rc = 1;
            break;
        }
    }
    if (b.n) {
        log_info("consumer.abandoned", "messages=%zu note=\"not stored; re-read after restart\"",
                 b.n);
    }
    dlq_detach(c->dlq); /* dead letters still in flight point into b's slots */
    batch_free(&b);
    return stop_requested == STOP_FATAL ? 1 : rc;
}

/* The warehouse (connected), the seen-set, the dead-letter producer and the intake. An exit
 * code when it failed, -1 when everything is up. */
static int start_stages(struct consumer *c)
{
    char errstr[1024];
    const struct consumer_settings *set = c->set;
    c->codec = codec_new(set->svc.schema_registry_id, errstr, sizeof(errstr));
    if (!c->codec) {
        log_error("codec.failed", "error=%s", LQ(errstr));
        return 1;
    }
    if (!(c->wh = warehouse_new(set->pg_dsn, set->owner_pg_dsn))) {
        return 1;
    }
    char why[1024];
    enum err_class cls = connect_warehouse(c, why, sizeof(why));
    if (cls != ERR_OK) {
        /* transient: a stop was requested while waiting */
        return cls == ERR_TRANSIENT ? 0 : conn_exit_code(why);
    }
    log_info("warehouse.ready", "warehouse_id=%s", warehouse_id(c->wh));
    log_info("kafka.library", "librdkafka=%s", rd_kafka_version_str());
    if (*set->redis_url) {
        c->seen = seen_new(set->redis_url, set->seen_buckets, 2000, (int)set->svc.backoff_ms,
                           (int)set->svc.backoff_max_ms, errstr, sizeof(errstr));
        if (!c->seen) {
            log_error("seen.failed", "error=%s", LQ(errstr));
            return 1;
        }
        if (seen_probe(c->seen, errstr, sizeof(errstr)) == ERR_FATAL) {
            log_error("seen.refused", "error=%s", LQ(errstr));
            return 1;
        }
        seen_set_namespace(c->seen, warehouse_id(c->wh));
    }
    if (!(c->dlq = dlq_new(set, errstr, sizeof(errstr))) ||
        !(c->intake = intake_new(set, c->stats, dlq_rk(c->dlq), errstr, sizeof(errstr))) ||
        intake_start(c->intake, errstr, sizeof(errstr)) != ERR_OK) {
        log_error("kafka.failed", "error=%s", LQ(errstr));
        return conn_exit_code(errstr);
    }
    if (*intake_instance_id(c->intake)) {
        log_info("consumer.membership", "group=%s group_instance_id=%s", LQ(set->group),
                 LQ(intake_instance_id(c->intake)));
    }
    atomic_store(&c->started, true);
    return -1;
}

static void stop_stages(struct consumer *c)
{
    intake_destroy(c->intake); /* before the dead letters' producer it polls */
    dlq_destroy(c->dlq);
    seen_destroy(c->seen);
    warehouse_destroy(c->wh);
    codec_destroy(c->codec);
}

int main(int argc, char **argv)
{
    struct consumer_settings set;
    struct consumer_stats stats;
    struct httpd *httpd = NULL;
    char errstr[1024];
    struct config *cfg = config_new(P_CONSUMER, "blotter-consumer",
                                    "Consume city incident topics into the PostgreSQL warehouse, "
                                    "exactly.");
    if (!cfg) {
        return 1;
    }
    enum config_result cr = config_load(cfg, argc, argv, environ, stdout, stderr);
    if (cr != CONFIG_OK || consumer_settings_load(&set, cfg, time(NULL), stderr) != 0) {
        config_destroy(cfg);
        return cr == CONFIG_EXIT_OK ? 0 : 2;
    }
    config_setup_log(cfg, "blotter-consumer");
    config_log(cfg);
    stop_setup();
    consumer_stats_init(&stats);
    struct consumer c = {.set = &set, .stats = &stats};
    int rc = 1;
    if (*set.svc.http_listen &&
        !(httpd = httpd_start(set.svc.http_listen, ready_cb, &c, errstr, sizeof(errstr)))) {
        log_error("httpd.failed", "error=%s", LQ(errstr));
    } else {
        if (httpd) {
            log_info("httpd.listening", "port=%d", httpd_port(httpd));
        }
        rc = start_stages(&c);
        if (rc < 0) {
            rc = run(&c);
        }
    }
    /* The endpoint reads the stages: stop it first. */
    httpd_stop(httpd);
    stop_stages(&c);
    log_info("consumer.done",
             "messages=%llu inserted=%llu updated=%llu unchanged=%llu seen_hits=%llu "
             "dead_letters=%llu exit=%d",
             stats.t_messages, stats.t_inserted, stats.t_updated, stats.t_unchanged, stats.t_seen,
             stats.t_dead, rc);
    config_destroy(cfg);
    return rc;
}
