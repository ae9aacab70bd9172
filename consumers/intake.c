/* The consumer's intake. See intake.h. */
#define _GNU_SOURCE
#include "consumers/intake.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/stop.h"
#include "common/timeutil.h"
#include "consumers/fetchwake.h"
#include "consumers/replay.h"

extern char **environ;

/* At most RENEW_MAX renewals of a fenced member within RENEW_WINDOW_MS; one more is fatal (two
 * live consumers configured with the same group_instance_id fence each other in turn). */
#define RENEW_MAX       5
#define RENEW_WINDOW_MS (10 * 60 * 1000)

struct intake {
    const struct consumer_settings *set;
    struct consumer_stats *stats;
    rd_kafka_t *rk;
    rd_kafka_t *also_poll;
    struct replay *replay; /* --replay: the planned ranges */
    bool paused;
    atomic_bool assigned;
    rd_kafka_message_t **carry; /* polled while paused: the next batch starts with them */
    size_t n_carry, cap_carry;
    int64_t last_lag_ms; /* 0: publish the lag at the next tick (new partitions) */
    /* Ownership (intake.h): the generation, our stored offsets (committed on a revocation) */
    atomic_uint_fast64_t gen;
    rd_kafka_topic_partition_list_t *owned;  /* what the last rebalance gave us and kept */
    rd_kafka_topic_partition_list_t *stored; /* next offsets of applied batches, owned only */
    /* Static membership: the id, and the lock that reserves its slot (-1: none) */
    char instance_id[300];
    int slot_fd;
    /* The freeze watch: a thread noting gaps in its own ticks (the whole process stopped) */
    long freeze_ms, settle_ms;
    atomic_long frozen_gap_ms; /* the last gap seen, until intake_rewind notes it */
    atomic_bool watch_stop;
    pthread_t watch;
    bool watching;
    bool closing;     /* rd_kafka_consumer_close commits what was stored itself */
    bool cooperative; /* the group's protocol at the last rebalance */
    long commit_interval_ms;
    int64_t last_commit_ms;
    bool uncommitted; /* offsets stored since the last commit */
    /* A fenced static member (intake_renew): the handle's configuration for the next one,
     * whether the group fenced this one, and the times of the last renewals */
    rd_kafka_conf_t *conf_copy;
    atomic_bool fenced;
    int64_t renewed_ms[RENEW_MAX];
    int n_renewed;
    /* librdkafka before 2.1: the fetch waker, its interval (-1: none), and the bytes taken
     * since the last poke, against an eighth of the fetch queue */
    struct fetchwake *wake;
    long wake_ms;
    size_t taken_bytes, wake_bytes;
};

/* Commit the offsets of applied batches of the partitions we own (async: the reply is only
 * logged; sync: whatever was committed before, again). Nothing after a lost assignment: until the
 * next one, a commit would carry a member id the group no longer knows. */
static void commit_stored(struct intake *in, bool sync)
{
    if (in->replay || (!sync && !in->uncommitted) || !in->stored->cnt ||
        rd_kafka_assignment_lost(in->rk)) {
        return;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(in->rk, in->stored, sync ? 0 : 1);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        log_emit_limited(LOG_WARN, "consumer.commit", 10, "error=%s", rd_kafka_err2name(err));
        return;
    }
    in->uncommitted = false;
    in->last_commit_ms = mono_ms();
}

/* ---- Group membership ---- */

/* Whether the group rebalances incrementally. Never asked while closing: there
 * rd_kafka_rebalance_protocol() may return NULL or hang (librdkafka #4041); the answer of the
 * last rebalance holds. */
static bool cooperative(struct intake *in)
{
    if (!in->closing) {
        const char *protocol = rd_kafka_rebalance_protocol(in->rk);
        in->cooperative = protocol && strcmp(protocol, "COOPERATIVE") == 0;
    }
    return in->cooperative;
}

/* Take or give back parts, the way the group's protocol wants it. */
static void reassign(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, bool take,
                     bool incremental)
{
    if (incremental) {
        rd_kafka_error_t *e = take ? rd_kafka_incremental_assign(rk, parts)
                                   : rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            log_warn("consumer.rebalance", "error=%s", LQ(rd_kafka_error_string(e)));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk, take ? parts : NULL);
    }
}

/* Messages carried for any of parts (NULL: all) are dropped, unstored: read again by whoever
 * owns the partition next. */
static void drop_carried(struct intake *in, const rd_kafka_topic_partition_list_t *parts)
{
    size_t kept = 0;
    for (size_t i = 0; i < in->n_carry; i++) {
        rd_kafka_message_t *rkm = in->carry[i];
        if (!parts || rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(rkm->rkt),
                                                         rkm->partition)) {
            rd_kafka_message_destroy(rkm);
        } else {
            in->carry[kept++] = rkm;
        }
    }
    in->n_carry = kept;
}

/* Before partitions are given away, what was stored for them is committed (synchronously), so
 * that their next owner starts after the last batch we applied. */
static void commit_revoked(struct intake *in, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *st = rd_kafka_topic_partition_list_find(
            in->stored, parts->elems[i].topic, parts->elems[i].partition);
        if (st) {
            rd_kafka_topic_partition_list_add(offs, st->topic, st->partition)->offset = st->offset;
        }
    }
    if (offs->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(in->rk, offs, 0);
        if (err) {
            log_warn("consumer.revoke_commit", "partitions=%d error=%s", offs->cnt,
                     rd_kafka_err2name(err));
        }
    }
    rd_kafka_topic_partition_list_destroy(offs);
}

static void forget_stored(struct intake *in, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_list_del(in->stored, parts->elems[i].topic,
                                          parts->elems[i].partition);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct intake *in = opaque;
    bool take = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    if (!take) {
        /* No batch begun before this point is applied; nothing carried survives it. */
        atomic_fetch_add(&in->gen, 1);
        drop_carried(in, parts);
        bool lost = rd_kafka_assignment_lost(rk);
        if (!lost && !in->closing) {
            commit_revoked(in, parts); /* a lost assignment's commit would be refused */
        }
        forget_stored(in, parts);
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_list_del(in->owned, parts->elems[i].topic,
                                              parts->elems[i].partition);
        }
        log_info("consumer.revoked", "partitions=%d lost=%s", parts->cnt, lost ? "yes" : "no");
    } else {
        log_info("consumer.assigned", "partitions=%d", parts->cnt);
    }
    bool incremental = cooperative(in);
    reassign(rk, parts, take, incremental);
    if (take) {
        for (int i = 0; i < parts->cnt; i++) {
            if (!rd_kafka_topic_partition_list_find(in->owned, parts->elems[i].topic,
                                                    parts->elems[i].partition)) {
                rd_kafka_topic_partition_list_add(in->owned, parts->elems[i].topic,
                                                  parts->elems[i].partition);
            }
        }
        if (in->paused) {
            rd_kafka_pause_partitions(rk, parts); /* newly assigned ones wait too */
        }
        atomic_store(&in->assigned, true);
        in->last_lag_ms = 0; /* publish the new partitions' lag soon */
    } else if (!incremental) {
        atomic_store(&in->assigned, false);
    }
}

/* ---- Static membership ----
 * The default group.instance.id is <hostname>-<slot>: the slot is the lowest n whose lock file
 * (<dir>/blotter-consumer.<group>.<n>.lock, dir $XDG_RUNTIME_DIR or /tmp) this process can lock.
 * A consumer restarted after a crash takes the same slot (the kernel drops a dead process's
 * lock), so the same id, and gets its partitions back at once; replicas on one host get 0, 1,
 * 2... A frozen (SIGSTOPped) process keeps its lock. */
static int take_slot(struct intake *in, char *errstr, size_t n)
{
    char host[256] = "localhost", group[200], path[700];
    const char *dir = getenv("XDG_RUNTIME_DIR");
    if (gethostname(host, sizeof(host) - 1) != 0) {
        snprintf(host, sizeof(host), "localhost");
    }
    host[sizeof(host) - 1] = '\0';
    if (!dir || !*dir) {
        dir = "/tmp";
    }
    size_t o = 0;
    for (const char *p = in->set->group; *p && o + 1 < sizeof(group); p++) {
        group[o++] = (strchr("/\\ ", *p) || (unsigned char)*p < 32) ? '_' : *p;
    }
    group[o] = '\0';
    for (int slot = 0; slot < 4096; slot++) {
        snprintf(path, sizeof(path), "%s/blotter-consumer.%s.%d.lock", dir, group, slot);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            continue; /* another user's file: not ours to take */
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            in->slot_fd = fd;
            snprintf(in->instance_id, sizeof(in->instance_id), "%.200s-%d", host, slot);
            return 0;
        }
        close(fd);
    }
    err_set(errstr, n, "no free group_instance_id slot under %s", dir);
    return -1;
}

static long conf_long(rd_kafka_conf_t *conf, const char *name, long dflt)
{
    char v[64];
    size_t sz = sizeof(v);
    if (rd_kafka_conf_get(conf, name, v, &sz) != RD_KAFKA_CONF_OK) {
        return dflt;
    }
    return strtol(v, NULL, 10);
}

/* The freeze watch: ticks every 200 ms; a gap of freeze_ms (half the session timeout) means the
 * whole process stood still long enough for the group to have moved on without us. */
static void *watch_main(void *arg)
{
    struct intake *in = arg;
    int64_t last = mono_ms();
    while (!atomic_load(&in->watch_stop)) {
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        int64_t now = mono_ms();
        if (now - last >= in->freeze_ms) {
            atomic_fetch_add(&in->gen, 1);
            atomic_store(&in->frozen_gap_ms, (long)(now - last));
        }
        last = now;
    }
    return NULL;
}

/* librdkafka before 2.1 (Debian 12's): a waker for in->rk's fetchers, see fetchwake.h. */
static void wake_start(struct intake *in)
{
    if (in->wake_ms < 0) {
        return;
    }
    in->wake = fetchwake_start(in->rk, in->wake_ms, in->stats->fetch_wakes);
    in->taken_bytes = 0;
    if (in->wake) {
        log_info("consumer.fetch_wake", "librdkafka=%s interval_ms=%ld every_bytes=%zu",
                 rd_kafka_version_str(), in->wake_ms, in->wake_bytes);
    }
}

static void wake_stop(struct intake *in)
{
    fetchwake_stop(in->wake);
    in->wake = NULL;
}

struct intake *intake_new(const struct consumer_settings *set, struct consumer_stats *stats,
                          rd_kafka_t *also_poll, char *errstr, size_t n)
{
    struct intake *in = calloc(1, sizeof(*in));
    rd_kafka_conf_t *conf = NULL;
    if (!in) {
        err_set(errstr, n, "out of memory");
        return NULL;
    }
    in->set = set;
    in->stats = stats;
    in->also_poll = also_poll;
    in->slot_fd = -1;
    in->stored = rd_kafka_topic_partition_list_new(16);
    in->owned = rd_kafka_topic_partition_list_new(16);
    conf = kafka_conf_new(KAFKA_CONSUMER, set->svc.brokers, environ, errstr, n);
    if (!conf) {
        goto fail;
    }
    /* Static membership for the live group (a replay assigns its ranges: no membership). */
    if (!set->replay && strcmp(set->group_instance_id, "none") != 0) {
        if (*set->group_instance_id) {
            snprintf(in->instance_id, sizeof(in->instance_id), "%s", set->group_instance_id);
        } else if (take_slot(in, errstr, n) != 0) {
            goto fail;
        }
    }
    /* Offsets are committed by the intake itself (commit_stored), never by librdkafka's
     * auto-commit: librdkafka up to 2.x commits the offsets of a lost assignment when it
     * revokes them after a session timeout, and for a static member the broker answers
     * FENCED_INSTANCE_ID, which librdkafka raises as fatal (librdkafka #5585). A replay
     * commits nothing: the live group's offsets are never touched. */
    if (rd_kafka_conf_set(conf, "group.id", set->group, errstr, n) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, n) !=
            RD_KAFKA_CONF_OK ||
        (*in->instance_id && rd_kafka_conf_set(conf, "group.instance.id", in->instance_id, errstr,
                                               n) != RD_KAFKA_CONF_OK) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, n) != RD_KAFKA_CONF_OK) {
        goto fail;
    }
    in->commit_interval_ms = conf_long(conf, "auto.commit.interval.ms", 1000);
    long session_ms = conf_long(conf, "session.timeout.ms", 45000);
    in->freeze_ms = session_ms / 2 > 2000 ? session_ms / 2 : 2000;
    in->settle_ms = 2 * conf_long(conf, "heartbeat.interval.ms", 3000);
    in->wake_ms = kafka_fetch_wake_ms(environ);
    in->wake_bytes = (size_t)conf_long(conf, "queued.max.messages.kbytes", 2048) * 1024 / 8;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, in);
    if (*in->instance_id && !(in->conf_copy = rd_kafka_conf_dup(conf))) {
        err_set(errstr, n, "out of memory");
        goto fail;
    }
    in->rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, n);
    if (!in->rk) {
        conf = NULL; /* kafka_new destroys it on failure */
        goto fail;
    }
    rd_kafka_poll_set_consumer(in->rk);
    wake_start(in);
    if (pthread_create(&in->watch, NULL, watch_main, in) == 0) {
        in->watching = true;
    }
    return in;
fail:
    if (conf) {
        rd_kafka_conf_destroy(conf);
    }
    if (in->conf_copy) {
        rd_kafka_conf_destroy(in->conf_copy);
    }
    if (in->slot_fd >= 0) {
        close(in->slot_fd);
    }
    rd_kafka_topic_partition_list_destroy(in->stored);
    rd_kafka_topic_partition_list_destroy(in->owned);
    free(in);
    return NULL;
}

void intake_destroy(struct intake *in)
{
    if (!in) {
        return;
    }
    if (in->watching) {
        atomic_store(&in->watch_stop, true);
        pthread_join(in->watch, NULL);
    }
    wake_stop(in);
    drop_carried(in, NULL); /* never stored: re-read after a restart */
    free(in->carry);
    if (in->rk) { /* none after a renewal that failed to make its handle */
        /* Commits what was stored (only committed batches), leaves the group. */
        commit_stored(in, true);
        in->closing = true;
        rd_kafka_consumer_close(in->rk);
        rd_kafka_destroy(in->rk);
    }
    replay_destroy(in->replay);
    rd_kafka_topic_partition_list_destroy(in->stored);
    rd_kafka_topic_partition_list_destroy(in->owned);
    if (in->conf_copy) {
        rd_kafka_conf_destroy(in->conf_copy);
    }
    if (in->slot_fd >= 0) {
        close(in->slot_fd); /* after leaving: the next process with this slot is a new member */
    }
    free(in);
}

static enum err_class start_replay(struct intake *in, char *errstr, size_t n)
{
    const struct consumer_settings *set = in->set;
    const char *cities[CONSUMER_MAX_CITIES];
    for (size_t i = 0; i < set->n_cities; i++) {
        cities[i] = set->cities[i];
    }
    enum err_class cls = replay_plan(in->rk, set->svc.topic_prefix, cities, set->n_cities,
                                     set->from_us, set->to_us, 15000, &in->replay, errstr, n);
    if (cls) {
        return cls;
    }
    const rd_kafka_topic_partition_list_t *parts = replay_assignment(in->replay);
    log_info("replay.plan", "partitions=%d messages=%lld", parts->cnt,
             (long long)replay_total(in->replay));
    rd_kafka_resp_err_t err = rd_kafka_assign(in->rk, parts);
    if (err) {
        err_set(errstr, n, "assign: %s", rd_kafka_err2str(err));
        return ERR_FATAL;
    }
    atomic_store(&in->assigned, true);
    return ERR_OK;
}

/* ^<prefix>\.incidents\..* with the prefix's regex characters escaped. */
static void every_city_pattern(const char *prefix, char *re, size_t n)
{
    size_t o = 0;
    re[o++] = '^';
    for (const char *p = prefix; *p && o + 32 < n; p++) {
        if (strchr(".^$*+?()[]{}|\\", *p)) {
            re[o++] = '\\';
        }
        re[o++] = *p;
    }
    snprintf(re + o, n - o, "\\.incidents\\..*");
}

enum err_class intake_start(struct intake *in, char *errstr, size_t n)
{
    const struct consumer_settings *set = in->set;
    if (set->replay) {
        return start_replay(in, errstr, n);
    }
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
    char topic[600];
    if (set->n_cities == 0) {
        every_city_pattern(set->svc.topic_prefix, topic, sizeof(topic));
        rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    }
    for (size_t i = 0; i < set->n_cities; i++) {
        kafka_topic_incidents(topic, sizeof(topic), set->svc.topic_prefix, set->cities[i]);
        rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    }
    for (int i = 0; i < subs->cnt; i++) {
        log_info("consumer.subscribe", "topic=%s group=%s", LQ(subs->elems[i].topic),
                 LQ(set->group));
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(in->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        err_set(errstr, n, "subscribe: %s", rd_kafka_err2str(err));
        return ERR_FATAL;
    }
    return ERR_OK;
}

/* ---- Polling ---- */

static void carry_push(struct intake *in, rd_kafka_message_t *rkm)
{
    rd_kafka_message_t **grown =
        array_grow(in->carry, &in->cap_carry, in->n_carry, sizeof(*in->carry), 256);
    if (!grown) {
        /* Not storing its offset keeps it safe: it is re-read after a restart. */
        rd_kafka_message_destroy(rkm);
        log_error("consumer.oom", "what=carry");
        stop_request(STOP_FATAL);
        return;
    }
    in->carry = grown;
    in->carry[in->n_carry++] = rkm;
}

/* An event from the consumer queue. true: rkm is a message to process; false: it was an
 * event (end of partition, an error) or a message outside the replay's range. */
static bool take_message(struct intake *in, rd_kafka_message_t *rkm)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (in->replay && rkm->rkt) {
            replay_advance(in->replay, rd_kafka_topic_name(rkm->rkt), rkm->partition, INT64_MAX);
        }
        return false;
    }
    if (rkm->err) {
        char why[512];
        if (in->conf_copy && rd_kafka_fatal_error(in->rk, why, sizeof(why)) ==
                                 RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID) {
            if (!atomic_exchange(&in->fenced, true)) {
                log_warn("consumer.fenced", "group_instance_id=%s error=%s", LQ(in->instance_id),
                         LQ(why));
            }
            return false;
        }
        if (kafka_err_class(in->rk, rkm->err) == ERR_FATAL) {
            log_error("consumer.fatal", "error=%s", LQ(rd_kafka_message_errstr(rkm)));
            stop_request(STOP_FATAL);
        } else {
            log_emit_limited(LOG_WARN, "consumer.error", 10, "error=%s",
                             LQ(rd_kafka_message_errstr(rkm)));
        }
        return false;
    }
    if (!in->replay && !rd_kafka_topic_partition_list_find(in->owned, rd_kafka_topic_name(rkm->rkt),
                                                           rkm->partition)) {
        /* Still fetched while a revocation completes: its new owner reads it. */
        return false;
    }
    if (in->replay) {
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        if (!replay_wants(in->replay, topic, rkm->partition, rkm->offset)) {
            replay_advance(in->replay, topic, rkm->partition, rkm->offset + 1);
            return false;
        }
    }
    return true;
}

static rd_kafka_message_t *poll_once(struct intake *in, int timeout_ms)
{
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(in->rk, timeout_ms);
    if (in->also_poll) {
        rd_kafka_poll(in->also_poll, 0);
    }
    if (rkm && !take_message(in, rkm)) {
        rd_kafka_message_destroy(rkm);
        return NULL;
    }
    /* An eighth of the fetch queue taken: if it was full, fetching may go on. */
    if (rkm && in->wake && (in->taken_bytes += rkm->len + rkm->key_len) >= in->wake_bytes) {
        in->taken_bytes = 0;
        fetchwake_poke(in->wake);
    }
    return rkm;
}

void intake_wait(struct intake *in, long ms)
{
    int64_t end = mono_ms() + ms;
    while (!stop_requested) {
        int64_t left = end - mono_ms();
        if (left <= 0) {
            break;
        }
        rd_kafka_message_t *rkm = poll_once(in, left > 100 ? 100 : (int)left);
        if (rkm) {
            carry_push(in, rkm);
        }
    }
}

void intake_collect(struct intake *in, struct batch *b)
{
    size_t batch_size = (size_t)in->set->batch_size, taken = 0;
    if (b->n == 0) {
        b->gen = intake_gen(in);
    }
    while (taken < in->n_carry && b->n < batch_size && batch_push(b, in->carry[taken]) == 0) {
        taken++;
    }
    if (taken) {
        memmove(in->carry, in->carry + taken, (in->n_carry - taken) * sizeof(*in->carry));
        in->n_carry -= taken;
    }
    int64_t deadline = b->n ? mono_ms() + in->set->batch_timeout_ms : 0;
    while (!stop_requested && b->n < batch_size && !atomic_load(&in->fenced)) {
        int timeout = 100;
        if (b->n) {
            int64_t left = deadline - mono_ms();
            if (left <= 0) {
                break;
            }
            timeout = left > 100 ? 100 : (int)left;
        }
        rd_kafka_message_t *rkm = poll_once(in, timeout);
        if (b->n && !intake_batch_owned(in, b->gen)) {
            if (rkm) {
                carry_push(in, rkm); /* dropped or rewound with the batch */
            }
            return; /* revoked meanwhile: the batch is refused as it is */
        }
        if (!b->n) {
            b->gen = intake_gen(in); /* a batch begins with its first message */
        }
        if (!rkm) {
            if (!b->n) {
                return; /* idle (or an event): let the caller look around */
            }
            continue;
        }
        if (batch_push(b, rkm) != 0) {
            carry_push(in, rkm);
            break;
        }
        if (b->n == 1) {
            deadline = mono_ms() + in->set->batch_timeout_ms;
        }
    }
}

/* ---- Pausing, offsets, lag ---- */

void intake_pause(struct intake *in, bool paused)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (in->paused == paused) {
        return;
    }
    if (rd_kafka_assignment(in->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (paused) {
            rd_kafka_pause_partitions(in->rk, parts);
        } else {
            rd_kafka_resume_partitions(in->rk, parts);
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    in->paused = paused;
    metric_set(in->stats->paused, paused);
    log_info(paused ? "consumer.paused" : "consumer.resumed", "partitions=all");
}

void intake_store(struct intake *in, const struct batch *b)
{
    if (in->replay) {
        for (size_t i = 0; i < b->n; i++) {
            replay_advance(in->replay, rd_kafka_topic_name(b->slots[i].rkm->rkt),
                           b->slots[i].rkm->partition, b->slots[i].rkm->offset + 1);
        }
        return; /* a replay commits nothing */
    }
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *rkm = b->slots[i].rkm;
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(offs, topic, rkm->partition);
        if (!p) {
            p = rd_kafka_topic_partition_list_add(offs, topic, rkm->partition);
            p->offset = rkm->offset + 1;
        } else if (rkm->offset + 1 > p->offset) {
            p->offset = rkm->offset + 1;
        }
    }
    for (int i = 0; i < offs->cnt; i++) {
        if (!rd_kafka_topic_partition_list_find(in->owned, offs->elems[i].topic,
                                                offs->elems[i].partition)) {
            /* Revoked meanwhile: its new owner re-reads it (writes are idempotent). */
            log_emit_limited(LOG_INFO, "consumer.offsets_not_ours", 10, "topic=%s partition=%d",
                             LQ(offs->elems[i].topic), offs->elems[i].partition);
            continue;
        }
        rd_kafka_topic_partition_t *st = rd_kafka_topic_partition_list_find(
            in->stored, offs->elems[i].topic, offs->elems[i].partition);
        if (!st) {
            st = rd_kafka_topic_partition_list_add(in->stored, offs->elems[i].topic,
                                                   offs->elems[i].partition);
        }
        st->offset = offs->elems[i].offset;
        in->uncommitted = true;
    }
    rd_kafka_topic_partition_list_destroy(offs);
}

/* Lag per assigned partition: high watermark (as last fetched) minus our position. */
static void update_lag(struct intake *in)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(in->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts) {
        return;
    }
    atomic_store(&in->assigned, parts->cnt > 0 || in->replay);
    rd_kafka_position(in->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(in->rk, parts->elems[i].topic, parts->elems[i].partition,
                                           &lo, &hi) ||
            hi < 0) {
            continue;
        }
        int64_t pos = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
        char labels[400];
        snprintf(labels, sizeof(labels), "topic=\"%s\",partition=\"%d\"", parts->elems[i].topic,
                 parts->elems[i].partition);
        metric_set(
            metric_gauge("blotter_consumer_lag", "Messages behind the high watermark", labels),
            (double)(hi > pos ? hi - pos : 0));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

void intake_tick(struct intake *in)
{
    int64_t now = mono_ms();
    if (now - in->last_commit_ms >= in->commit_interval_ms) {
        commit_stored(in, false);
    }
    if (now - in->last_lag_ms >= 2000) {
        update_lag(in);
        in->last_lag_ms = now;
    }
}

bool intake_assigned(const struct intake *in)
{
    return atomic_load(&in->assigned);
}

size_t intake_carried(const struct intake *in)
{
    return in->n_carry;
}

bool intake_replay_done(const struct intake *in)
{
    return in->replay && replay_finished(in->replay);
}

bool intake_is_replay(const struct intake *in)
{
    return in->replay != NULL;
}

/* ---- Ownership ---- */

uint64_t intake_gen(const struct intake *in)
{
    return atomic_load(&in->gen);
}

bool intake_batch_owned(const struct intake *in, uint64_t gen)
{
    return atomic_load(&in->gen) == gen && !atomic_load(&in->fenced) &&
           (in->replay || !rd_kafka_assignment_lost(in->rk));
}

static void note_lowest(rd_kafka_topic_partition_list_t *lows, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(lows, topic, rkm->partition);
    if (!p) {
        rd_kafka_topic_partition_list_add(lows, topic, rkm->partition)->offset = rkm->offset;
    } else if (rkm->offset < p->offset) {
        p->offset = rkm->offset;
    }
}

void intake_rewind(struct intake *in, const struct batch *b)
{
    long gap = atomic_exchange(&in->frozen_gap_ms, 0);
    if (gap) {
        /* Let the heartbeat learn whether the group moved on (a revocation comes through the
         * polls) before deciding what is still ours. */
        log_warn("consumer.frozen", "gap_ms=%ld settle_ms=%ld", gap, in->settle_ms);
        intake_wait(in, in->settle_ms);
    }
    rd_kafka_topic_partition_list_t *lows = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_t *mine = NULL;
    for (size_t i = 0; i < b->n; i++) {
        note_lowest(lows, b->slots[i].rkm);
    }
    for (size_t i = 0; i < in->n_carry; i++) {
        note_lowest(lows, in->carry[i]);
    }
    drop_carried(in, NULL);
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(lows->cnt + 1);
    if (rd_kafka_assignment(in->rk, &mine) == RD_KAFKA_RESP_ERR_NO_ERROR && mine &&
        !rd_kafka_assignment_lost(in->rk)) {
        for (int i = 0; i < lows->cnt; i++) {
            if (rd_kafka_topic_partition_list_find(mine, lows->elems[i].topic,
                                                   lows->elems[i].partition)) {
                rd_kafka_topic_partition_list_add(seek, lows->elems[i].topic,
                                                  lows->elems[i].partition)
                    ->offset = lows->elems[i].offset;
            }
        }
    }
    if (seek->cnt) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(in->rk, seek, 10000);
        if (e) {
            log_warn("consumer.rewind", "error=%s", LQ(rd_kafka_error_string(e)));
            rd_kafka_error_destroy(e);
        }
    }
    log_warn("consumer.batch_fenced",
             "messages=%zu partitions=%d rewound=%d note=\"not applied: partitions revoked or "
             "process frozen\"",
             b->n, lows->cnt, seek->cnt);
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(lows);
    if (mine) {
        rd_kafka_topic_partition_list_destroy(mine);
    }
}

const char *intake_instance_id(const struct intake *in)
{
    return in->instance_id;
}

/* ---- Progress of the whole group ---- */

static bool subscribed(const struct intake *in, const char *topic)
{
    const struct consumer_settings *set = in->set;
    char name[600];
    for (size_t i = 0; i < set->n_cities; i++) {
        kafka_topic_incidents(name, sizeof(name), set->svc.topic_prefix, set->cities[i]);
        if (strcmp(name, topic) == 0) {
            return true;
        }
    }
    if (set->n_cities) {
        return false;
    }
    snprintf(name, sizeof(name), "%s.incidents.", set->svc.topic_prefix);
    return strncmp(topic, name, strlen(name)) == 0 && topic[strlen(name)];
}

enum err_class intake_progress(struct intake *in, struct intake_progress *p, char *errstr, size_t n)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL, *mine = NULL;
    enum err_class cls = ERR_TRANSIENT;
    memset(p, 0, sizeof(*p));
    /* What we stored goes to the group first: "done" is about committed offsets. */
    commit_stored(in, true);
    rd_kafka_resp_err_t err;
    if ((err = rd_kafka_metadata(in->rk, 1, NULL, &md, 10000))) {
        err_set(errstr, n, "metadata: %s", rd_kafka_err2str(err));
        goto done;
    }
    parts = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < md->topic_cnt; t++) {
        if (md->topics[t].err || !subscribed(in, md->topics[t].topic)) {
            continue;
        }
        for (int i = 0; i < md->topics[t].partition_cnt; i++) {
            rd_kafka_topic_partition_list_add(parts, md->topics[t].topic,
                                              md->topics[t].partitions[i].id);
        }
    }
    if (parts->cnt && (err = rd_kafka_committed(in->rk, parts, 10000))) {
        err_set(errstr, n, "committed offsets: %s", rd_kafka_err2str(err));
        goto done;
    }
    if (rd_kafka_assignment(in->rk, &mine) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        mine = NULL;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t lo, hi;
        if (tp->err) {
            err_set(errstr, n, "committed offset of %s [%d]: %s", tp->topic, tp->partition,
                    rd_kafka_err2str(tp->err));
            goto done;
        }
        if ((err = rd_kafka_query_watermark_offsets(in->rk, tp->topic, tp->partition, &lo, &hi,
                                                    10000))) {
            err_set(errstr, n, "watermarks of %s [%d]: %s", tp->topic, tp->partition,
                    rd_kafka_err2str(err));
            goto done;
        }
        int64_t at = tp->offset >= lo ? tp->offset : lo; /* nothing committed: from the start */
        p->partitions++;
        if (at < hi) {
            p->behind++;
            p->lag += hi - at;
            if (!mine || !rd_kafka_topic_partition_list_find(mine, tp->topic, tp->partition)) {
                p->not_ours++;
            }
        }
    }
    cls = ERR_OK;
done:
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    if (parts) {
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (mine) {
        rd_kafka_topic_partition_list_destroy(mine);
    }
    return cls;
}

/* ---- A fenced static member ----
 * librdkafka raises FENCED_INSTANCE_ID as a fatal error of the handle, and the group answers it
 * to any request under a member id it replaced: an OffsetCommit included (shown with a second
 * live consumer under the same id). Broker failovers can leave a static member so replaced
 * (librdkafka rejoining under a new member id while the old one still commits): the likely
 * reason both replicas of f_three_brokers once exited 1 in CI. A handle in that state only
 * returns errors, so it is closed and a new one joins with the same id; what the old one held
 * is re-read from the committed offsets. */

bool intake_fenced(const struct intake *in)
{
    return atomic_load(&in->fenced);
}

enum err_class intake_renew(struct intake *in, char *errstr, size_t n)
{
    int64_t now = mono_ms();
    int recent = 0;
    for (int i = 0; i < in->n_renewed; i++) {
        recent += now - in->renewed_ms[i] < RENEW_WINDOW_MS;
    }
    if (recent >= RENEW_MAX) {
        err_set(errstr, n,
                "fenced %d times in %d minutes: is another live consumer of group %s using "
                "group_instance_id %s?",
                recent + 1, RENEW_WINDOW_MS / 60000, in->set->group, in->instance_id);
        return ERR_FATAL;
    }
    memmove(in->renewed_ms + 1, in->renewed_ms, (RENEW_MAX - 1) * sizeof(*in->renewed_ms));
    in->renewed_ms[0] = now;
    if (in->n_renewed < RENEW_MAX) {
        in->n_renewed++;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(in->conf_copy);
    if (!conf) {
        err_set(errstr, n, "out of memory");
        return ERR_FATAL;
    }
    atomic_fetch_add(&in->gen, 1); /* no batch begun before is applied */
    drop_carried(in, NULL);
    intake_pause(in, false); /* the new handle's partitions start resumed, as the flag says */
    in->closing = true;      /* nothing is committed: the group refuses a fenced member's commits */
    wake_stop(in);
    rd_kafka_consumer_close(in->rk);
    rd_kafka_destroy(in->rk);
    in->closing = false;
    rd_kafka_topic_partition_list_destroy(in->stored);
    rd_kafka_topic_partition_list_destroy(in->owned);
    in->stored = rd_kafka_topic_partition_list_new(16);
    in->owned = rd_kafka_topic_partition_list_new(16);
    in->uncommitted = false;
    atomic_store(&in->assigned, false);
    in->rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, n);
    if (!in->rk) {
        return ERR_FATAL;
    }
    rd_kafka_poll_set_consumer(in->rk);
    wake_start(in);
    atomic_store(&in->fenced, false);
    enum err_class cls = intake_start(in, errstr, n);
    if (cls == ERR_OK) {
        log_info("consumer.rejoined", "group_instance_id=%s renewals=%d", LQ(in->instance_id),
                 recent + 1);
    }
    return cls;
}
